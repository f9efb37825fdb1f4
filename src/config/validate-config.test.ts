// A config mistake must be reported all at once, where it is written (line, column, key path), saying what was expected; and what is left out must be filled in with the documented defaults.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type, type TSchema } from '@sinclair/typebox';
import { ResourceRegistry } from '../compiler/carry-over.js';
import { buildSnapshotFromText } from '../compiler/compile-gateway.js';
import { headers } from '../policies/headers/index.js';
import { policyRegistry } from '../policies/registry.js';
import { requestId } from '../policies/request-id/index.js';
import { type ConfigIssue, formatPath, IssueCollector } from './config-issue.js';
import type { Env } from './load-config.js';
import type { GatewayConfig } from './schema.js';
import { DEFAULT_ACCESS_LOG_FIELDS, DEFAULT_REDACTED_QUERY_PARAMS } from './gateway-schema.js';
import { closest, isCidr, validateAgainstSchema } from './validate-config.js';

type Built =
  | { ok: true; config: GatewayConfig; issues: readonly ConfigIssue[] }
  | { ok: false; issues: readonly ConfigIssue[] };

/** Runs the whole load → validate → compile path, releasing what a successful build created. */
async function build(text: string, env: Env = {}): Promise<Built> {
  const deps = {
    registry: policyRegistry,
    resources: new ResourceRegistry(),
    env,
    accessLogger: undefined,
    eventLogger: undefined,
  };
  const result = buildSnapshotFromText(text, 'gateway.yaml', deps);
  if (!result.ok) return { ok: false, issues: result.issues };
  await deps.resources.release(result.snapshot.resources, false);
  return { ok: true, config: result.snapshot.config, issues: result.issues };
}

async function errorsOf(text: string): Promise<readonly ConfigIssue[]> {
  const result = await build(text);
  assert.equal(result.ok, false, 'the config should be rejected');
  return result.issues.filter((i) => i.severity === 'error');
}

/** One route with a URL upstream plus whatever `extra` lines (indented for a route) add. */
function oneRoute(extra: string): string {
  return `routes:\n  - name: r\n    path: /r\n    upstream: http://127.0.0.1:3000\n${extra}`;
}

describe('validation: every issue at once, where it is written', () => {
  it('reports three different mistakes as three issues with line, column, key path and what was expected', async () => {
    const text = [
      'gateway:', // 1
      '  listen: 8080', // 2: a number, not an address
      'routes:', // 3
      '  - name: orders', // 4
      '    path_prefix: /orders', // 5
      '    upstreem: http://orders:8080', // 6: typo
      '  - name: users', // 7
      '    path: /users', // 8
      '    upstream: http://users:8080', // 9
      '    timeout_ms: 1.5', // 10: not a whole number
    ].join('\n');
    const issues = await errorsOf(text);
    assert.deepEqual(
      issues.map((i) => [i.line, i.column, formatPath(i.path)]),
      [
        [2, 11, 'gateway.listen'],
        [6, 5, 'routes[0].upstreem'],
        [10, 17, 'routes[1].timeout_ms'],
      ],
    );
    assert.match(issues[0]!.message, /^expected an address like ":8080" or "127\.0\.0\.1:8080".*, got 8080$/);
    assert.equal(issues[1]!.message, 'unknown key "upstreem" — did you mean "upstream"?');
    assert.equal(issues[2]!.message, 'expected a whole number of milliseconds (1 or more), got 1.5');
    assert.ok(issues.every((i) => i.file === 'gateway.yaml'));
  });

  const cases: readonly (readonly [
    what: string,
    extra: string,
    line: number,
    column: number,
    path: string,
    message: RegExp,
  ])[] = [
    [
      'a path without "/"',
      '    match: { path: orders }\n',
      5,
      20,
      'routes[0].match.path',
      /expected a path starting with "\/"/,
    ],
    [
      'a lower-case method',
      '    match: { methods: [get] }\n',
      5,
      24,
      'routes[0].match.methods[0]',
      /expected an upper-case HTTP method like GET, got "get"/,
    ],
    [
      'a duplicate method',
      '    match: { methods: [GET, GET] }\n',
      5,
      29,
      'routes[0].match.methods[1]',
      /duplicate item "GET"/,
    ],
    [
      'a host with a scheme',
      '    match: { host: "http://x" }\n',
      5,
      20,
      'routes[0].match.host',
      /expected a host like api\.example\.com or \*\.example\.com/,
    ],
    [
      'a bad header name to match',
      '    match: { headers: { "a b": x } }\n',
      5,
      25,
      'routes[0].match.headers["a b"]',
      /invalid name "a b": expected a name matching/,
    ],
    [
      'a number as a query value',
      '    match: { query: { page: 1 } }\n',
      5,
      29,
      'routes[0].match.query.page',
      /expected an exact value, or true for "present with any value", got 1/,
    ],
    [
      'a word as priority',
      '    priority: high\n',
      5,
      15,
      'routes[0].priority',
      /expected a whole number, got "high"/,
    ],
    [
      'a string as a boolean',
      '    strip_prefix: "yes"\n',
      5,
      19,
      'routes[0].strip_prefix',
      /expected true or false, got "yes"/,
    ],
    ['a zero timeout', '    timeout_ms: 0\n', 5, 17, 'routes[0].timeout_ms', /got 0 \(the minimum is 1\)/],
    [
      'an unknown timeouts key',
      '    timeouts: { conect_ms: 5 }\n',
      5,
      17,
      'routes[0].timeouts.conect_ms',
      /did you mean "connect_ms"/,
    ],
  ];
  for (const [what, extra, line, column, path, message] of cases) {
    it(`${what} → ${line}:${column} ${path}`, async () => {
      const issues = await errorsOf(oneRoute(extra));
      assert.equal(issues.length, 1, JSON.stringify(issues));
      const issue = issues[0]!;
      assert.deepEqual([issue.line, issue.column, formatPath(issue.path)], [line, column, path]);
      assert.match(issue.message, message);
    });
  }

  it('names what is missing, at the item that lacks it', async () => {
    const issues = await errorsOf('routes:\n  - path: /a\n');
    assert.deepEqual(
      issues.map((i) => [i.line, i.column, formatPath(i.path), i.message]),
      [
        [2, 5, 'routes[0]', 'missing required key "name" (a name of letters, digits, ".", "_" or "-")'],
        [
          2,
          5,
          'routes[0]',
          'missing required key "upstream" (an http(s):// URL or the name of an upstream; a route with `callbacks` has none)',
        ],
      ],
    );
  });

  it('says what shape was expected for a wrong container', async () => {
    const [issue, ...rest] = await errorsOf('routes: { a: 1 }\n');
    assert.equal(rest.length, 0);
    assert.deepEqual(
      [issue?.line, issue?.column, issue?.message],
      [1, 9, 'expected a list, each a mapping (key: value), got a mapping'],
    );
  });

  it('reports problems in gateway settings with their paths', async () => {
    const text = [
      'gateway:',
      '  log_level: loud',
      '  trusted_proxies: [10.0.0.0/33, 10.0.0.0/8, nope]',
      '  access_log: { fields: [method, methd] }',
      'upstreams:',
      '  empty: { targets: [] }',
      'routes: []',
    ].join('\n');
    const issues = await errorsOf(text);
    assert.deepEqual(
      issues.map((i) => [i.line, i.column, formatPath(i.path)]),
      [
        [2, 14, 'gateway.log_level'],
        [3, 21, 'gateway.trusted_proxies[0]'],
        [3, 46, 'gateway.trusted_proxies[2]'],
        [4, 34, 'gateway.access_log.fields[1]'],
        [6, 21, 'upstreams.empty.targets'],
      ],
    );
    assert.match(issues[0]!.message, /expected one of "fatal", .*"silent", got "loud"/);
    assert.match(
      issues[1]!.message,
      /expected an IP address or CIDR such as "10\.0\.0\.0\/8", got "10\.0\.0\.0\/33"/,
    );
    assert.match(issues[3]!.message, /got "methd"/);
    assert.equal(issues[4]!.message, 'expected at least 1 item, got 0');
  });
});

describe('validation: unknown and planned keys', () => {
  const typos: readonly (readonly [where: string, text: string, path: string, suggestion: string])[] = [
    ['a route', oneRoute('    upstreem: x\n'), 'routes[0].upstreem', 'upstream'],
    [
      'a route',
      'routes:\n  - name: r\n    path_prefx: /a\n    upstream: http://a:1\n',
      'routes[0].path_prefx',
      'path_prefix',
    ],
    ['a route', oneRoute('    strip_prefx: true\n'), 'routes[0].strip_prefx', 'strip_prefix'],
    ['match', oneRoute('    match: { metods: [GET] }\n'), 'routes[0].match.metods', 'methods'],
    ['the gateway section', 'gateway: { listn: ":1" }\nroutes: []\n', 'gateway.listn', 'listen'],
    ['the top level', 'rutes: []\n', 'rutes', 'routes'],
    ['an upstream', 'upstreams:\n  u: { target: [] }\nroutes: []\n', 'upstreams.u.target', 'targets'],
  ];
  for (const [where, text, path, suggestion] of typos) {
    it(`suggests "${suggestion}" for ${path} in ${where}`, async () => {
      const issue = (await errorsOf(text)).find((i) => formatPath(i.path) === path);
      assert.ok(issue, `an issue at ${path}`);
      assert.match(issue.message, new RegExp(`did you mean "${suggestion}"\\?$`));
    });
  }

  it('lists the allowed keys when nothing is close', async () => {
    const [issue] = await errorsOf(oneRoute('    zzzzzzzz: 1\n'));
    assert.match(
      issue?.message ?? '',
      /^unknown key "zzzzzzzz"; allowed keys: name, match, path_prefix, path, /,
    );
  });

  it('points at the key itself, not its value', async () => {
    const [issue] = await errorsOf(oneRoute('    upstreem:\n      nested: 1\n'));
    assert.deepEqual([issue?.line, issue?.column], [5, 5]);
  });

  const planned: readonly (readonly [text: string, path: string])[] = [
    ['gateway:\n  profile: edge\nroutes: []\n', 'gateway.profile'],
  ];
  for (const [text, path] of planned) {
    it(`${path} is "not available yet", not an unknown key`, async () => {
      const issues = await errorsOf(text);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.equal(formatPath(issues[0]!.path), path);
      assert.match(
        issues[0]!.message,
        /is not available yet in this version of Portico \(it comes with [a-z /]+\)$/,
      );
    });
  }
});

describe('validation: defaults', () => {
  it('fills in every documented default', async () => {
    const result = await build('routes:\n  - name: r\n    path: /r\n    upstream: http://127.0.0.1:3000\n');
    assert.ok(result.ok, JSON.stringify(result.issues));
    const { config } = result;
    assert.equal(config.version, 1);
    assert.equal(config.gateway.listen, ':8080');
    assert.equal(config.gateway.tracing_header, 'X-Trace-Id');
    assert.equal(config.gateway.log_level, 'info');
    assert.deepEqual(config.gateway.access_log, {
      enabled: true,
      fields: [...DEFAULT_ACCESS_LOG_FIELDS],
      sample: 1,
      redact: [...DEFAULT_REDACTED_QUERY_PARAMS],
    });
    assert.equal(config.gateway.log_file, undefined);
    assert.deepEqual(config.gateway.limits, {
      max_header_bytes: 16_384,
      max_body_bytes: 10_485_760,
      max_url_length: 8_192,
      header_timeout_ms: 10_000,
      request_timeout_ms: 60_000,
      keep_alive_timeout_ms: 5_000,
    });
    assert.deepEqual(config.gateway.admin, { enabled: true, listen: '127.0.0.1:9876' });
    assert.deepEqual(config.gateway.trusted_proxies, []);
    assert.equal(config.gateway.forwarded_header, false);
    assert.deepEqual(config.gateway.reload, { watch: true, debounce_ms: 250 });
    assert.deepEqual(config.defaults, {});
    assert.deepEqual(config.upstreams, {});
    const route = config.routes[0]!;
    assert.equal(route.priority, 0);
    assert.equal(route.strip_prefix, false);
    assert.equal(route.preserve_host, false);
    assert.equal(
      route.timeout_ms,
      undefined,
      'timeout_ms is optional: defaults: or the built-in value apply',
    );
  });

  it('keeps given values over defaults and defaults the rest of a section', async () => {
    const result = await build(
      'gateway:\n  limits: { max_body_bytes: 1024 }\nupstreams:\n  u: { targets: [{ url: "http://a:1" }] }\nroutes: []\n',
    );
    assert.ok(result.ok, JSON.stringify(result.issues));
    assert.equal(result.config.gateway.limits.max_body_bytes, 1024);
    assert.equal(result.config.gateway.limits.max_header_bytes, 16_384);
    assert.deepEqual(result.config.upstreams.u, {
      targets: [{ url: 'http://a:1', weight: 1 }],
      balance: 'round-robin',
      hash_on: 'ip',
      connect_timeout_ms: 5_000,
      keep_alive_timeout_ms: 4_000,
      resolve_interval_ms: 30_000,
      max_ejected_percent: 50,
    });
  });

  it('accepts an empty routes list and a list of listen addresses', async () => {
    const result = await build(
      'gateway: { listen: [":8080", "127.0.0.1:8081", "[::1]:8082"] }\nroutes: []\n',
    );
    assert.ok(result.ok, JSON.stringify(result.issues));
    assert.deepEqual(result.config.gateway.listen, [':8080', '127.0.0.1:8081', '[::1]:8082']);
  });
});

/** Validates `value` against one policy's schema with the gateway's validator. */
function validatePolicy(schema: TSchema, value: unknown): { value: unknown; issues: string[] } {
  const collector = new IssueCollector('gateway.yaml', () => ({ line: 0, column: 0 }));
  const out = validateAgainstSchema(schema, value, collector);
  return { value: out, issues: collector.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
}

describe('policy schemas: accepted, rejected, defaulted', () => {
  const cases: readonly (readonly [
    policy: string,
    schema: TSchema,
    input: unknown,
    expected: { value: unknown } | { error: RegExp },
  ])[] = [
    ['headers', headers.schema, {}, { value: {} }],
    [
      'headers',
      headers.schema,
      {
        request: { set: { 'X-A': 'a' }, add: { Via: 'portico' }, remove: ['X-Internal'] },
        response: { set: { 'X-Frame-Options': 'DENY' } },
      },
      {
        value: {
          request: { set: { 'X-A': 'a' }, add: { Via: 'portico' }, remove: ['X-Internal'] },
          response: { set: { 'X-Frame-Options': 'DENY' } },
        },
      },
    ],
    [
      'headers',
      headers.schema,
      { request: { set: { 'X-A': '' } } },
      { value: { request: { set: { 'X-A': '' } } } },
    ],
    [
      'headers',
      headers.schema,
      { request: { set: { 'X-A': 'a\nb' } } },
      { error: /^request\.set\.X-A: expected a header value \(no line breaks\)/ },
    ],
    [
      'headers',
      headers.schema,
      { request: { set: { 'X A': 'a' } } },
      { error: /^request\.set\["X A"\]: invalid name "X A"/ },
    ],
    [
      'headers',
      headers.schema,
      { request: { remove: ['bad name'] } },
      { error: /^request\.remove\[0\]: expected a header name/ },
    ],
    [
      'headers',
      headers.schema,
      { request: { remove: 'X-A' } },
      { error: /^request\.remove: expected a list/ },
    ],
    [
      'headers',
      headers.schema,
      { request: { sett: {} } },
      { error: /^request\.sett: unknown key "sett" — did you mean "set"\?/ },
    ],
    ['headers', headers.schema, { requests: {} }, { error: /did you mean "request"\?/ }],
    [
      'headers',
      headers.schema,
      { response: { set: { 'X-A': 1 } } },
      { error: /^response\.set\.X-A: expected a header value/ },
    ],
    ['request_id', requestId.schema, {}, { value: { echo: true } }],
    [
      'request_id',
      requestId.schema,
      { header: 'X-Request-Id' },
      { value: { header: 'X-Request-Id', echo: true } },
    ],
    ['request_id', requestId.schema, { echo: false }, { value: { echo: false } }],
    ['request_id', requestId.schema, { echo: 'no' }, { error: /^echo: expected true or false, got "no"/ }],
    ['request_id', requestId.schema, { header: 'X Request' }, { error: /^header: expected a header name/ }],
    ['request_id', requestId.schema, { headr: 'X-Id' }, { error: /did you mean "header"\?/ }],
  ];
  for (const [policy, schema, input, expected] of cases) {
    const verdict = 'value' in expected ? 'accepted' : 'rejected';
    it(`${policy}: ${JSON.stringify(input)} is ${verdict}`, () => {
      const result = validatePolicy(schema, input);
      if ('value' in expected) {
        assert.deepEqual(result.issues, []);
        assert.deepEqual(result.value, expected.value);
      } else {
        assert.equal(result.issues.length, 1, JSON.stringify(result.issues));
        assert.match(result.issues[0]!, expected.error);
      }
    });
  }
});

describe('closest and isCidr', () => {
  it('suggests only likely typos', () => {
    const keys = ['upstream', 'path_prefix', 'path', 'timeout_ms', 'name'];
    assert.equal(closest('upstreem', keys), 'upstream');
    assert.equal(closest('UPSTREAM', keys), 'upstream');
    assert.equal(closest('path_prefx', keys), 'path_prefix');
    assert.equal(closest('timeout_sm', keys), 'timeout_ms');
    assert.equal(closest('timeout', keys), 'timeout_ms', 'a key written without its unit suffix');
    assert.equal(closest('completely_different', keys), undefined);
    assert.equal(closest('x', []), undefined);
  });

  const cidrs: readonly (readonly [string, boolean])[] = [
    ['10.0.0.0/8', true],
    ['10.0.0.1', true],
    ['0.0.0.0/0', true],
    ['::1/128', true],
    ['fd00::/8', true],
    ['10.0.0.0/33', false],
    ['::/129', false],
    ['10.0.0.0/', false],
    ['10.0.0.0/8/8', false],
    ['10.0.0/8', false],
    ['nope', false],
    ['10.0.0.0/-1', false],
  ];
  for (const [value, ok] of cidrs) {
    it(`isCidr(${JSON.stringify(value)}) is ${ok}`, () => assert.equal(isCidr(value), ok));
  }
});

describe('unknown keys in a setting that takes none', () => {
  it('say so instead of listing no allowed keys', () => {
    const r = validatePolicy(Type.Object({}, { additionalProperties: false }), { strip: ['X-A'] });
    assert.deepEqual(r.issues, ['strip: unknown key "strip"; this setting takes no keys']);
  });
});
