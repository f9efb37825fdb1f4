// buildSnapshotFromText is the one path behind validate, routes, serve and reload: these pin the brief's seed forms, the cross-route checks (paths, upstreams, names, shadowing), env overrides, the admin guard and policy errors in a full config.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { formatPath } from '../config/config-issue.js';
import type { Env } from '../config/load-config.js';
import { policyRegistry } from '../policies/registry.js';
import type { RouterRequest } from '../router/router.js';
import { ResourceRegistry } from './carry-over.js';
import { type BuildResult, buildSnapshotFromText } from './compile-gateway.js';
import { isLoopbackListen } from './check-config.js';
import type { GatewaySnapshot } from './snapshot.js';

function depsFor(env: Env) {
  return {
    registry: policyRegistry,
    resources: new ResourceRegistry(),
    env,
    accessLogger: undefined,
    eventLogger: undefined,
  };
}

/** Builds, hands the snapshot to `check`, then releases its resources (undici pools). */
async function withSnapshot(text: string, check: (s: GatewaySnapshot) => void, env: Env = {}): Promise<void> {
  const deps = depsFor(env);
  const result = buildSnapshotFromText(text, 'gateway.yaml', deps);
  assert.ok(
    result.ok,
    result.ok ? '' : result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('\n'),
  );
  try {
    check(result.snapshot);
  } finally {
    await deps.resources.release(result.snapshot.resources, false);
  }
}

async function build(text: string, env: Env = {}): Promise<BuildResult> {
  const deps = depsFor(env);
  const result = buildSnapshotFromText(text, 'gateway.yaml', deps);
  if (result.ok) await deps.resources.release(result.snapshot.resources, false);
  return result;
}

/** [line, column, key path, message] of every error of a config that must be rejected. */
async function errors(text: string, env: Env = {}): Promise<[number, number, string, string][]> {
  const result = await build(text, env);
  assert.equal(result.ok, false, 'the config should be rejected');
  return result.issues
    .filter((i) => i.severity === 'error')
    .map((i) => [i.line, i.column, formatPath(i.path), i.message]);
}

function request(
  path: string,
  opts: { method?: string; host?: string; headers?: Record<string, string> } = {},
): RouterRequest {
  const headers = new Map(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: opts.method ?? 'GET',
    host: opts.host ?? 'gateway.test',
    path,
    query: '',
    header: (name) => headers.get(name.toLowerCase()),
  };
}

function routeNameFor(snapshot: GatewaySnapshot, req: RouterRequest): string {
  const m = snapshot.router.match(req);
  return m.kind === 'found' ? m.value.name : m.kind;
}

describe('buildSnapshot: the seed forms load unchanged', () => {
  const seed = [
    'routes:',
    '  - name: orders-service',
    '    path_prefix: /orders',
    '    upstream: http://orders-service.internal:8080',
    '  - name: users',
    '    path: "/users"',
    '    upstream: "http://users-service.internal:8080"',
    '    timeout_ms: 200',
  ].join('\n');

  it('keeps every key as written, adding only defaults', () =>
    withSnapshot(seed, (s) => {
      assert.deepEqual(s.config.routes, [
        {
          name: 'orders-service',
          path_prefix: '/orders',
          upstream: 'http://orders-service.internal:8080',
          priority: 0,
          strip_prefix: false,
          preserve_host: false,
          path_escapes: 'reject',
          method_override: false,
        },
        {
          name: 'users',
          path: '/users',
          upstream: 'http://users-service.internal:8080',
          timeout_ms: 200,
          priority: 0,
          strip_prefix: false,
          preserve_host: false,
          path_escapes: 'reject',
          method_override: false,
        },
      ]);
    }));

  it('compiles path_prefix and path to segment-boundary prefixes', () =>
    withSnapshot(seed, (s) => {
      assert.deepEqual(
        s.routes.map((r) => [r.name, r.match.kind, r.match.path, r.upstreamLabel]),
        [
          ['orders-service', 'prefix', '/orders', 'http://orders-service.internal:8080'],
          ['users', 'prefix', '/users', 'http://users-service.internal:8080'],
        ],
      );
      const cases: readonly [string, string][] = [
        ['/orders', 'orders-service'],
        ['/orders/7', 'orders-service'],
        ['/ordersX', 'not-found'],
        ['/users', 'users'],
        ['/users/42', 'users'],
        ['/', 'not-found'],
      ];
      for (const [path, name] of cases) assert.equal(routeNameFor(s, request(path)), name, path);
    }));

  it('snapshots carry the text hash, the ingress limits and the implicit request_id policy', () =>
    withSnapshot(seed, (s) => {
      assert.equal(s.hash, createHash('sha256').update(seed).digest('hex'));
      assert.equal(s.file, 'gateway.yaml');
      assert.equal(s.ingress.maxBodyBytes, 10_485_760);
      assert.equal(s.ingress.maxUrlLength, 8_192);
      assert.deepEqual(
        s.routes.map((r) => r.policyNames),
        [
          ['request_id', 'identity_headers'],
          ['request_id', 'identity_headers'],
        ],
      );
      assert.deepEqual(s.system.policyNames, ['request_id', 'identity_headers']);
    }));

  it('compiles the full form: match conditions, a named upstream and strip_prefix', () => {
    const text = [
      'upstreams:',
      '  orders:',
      '    targets:',
      '      - { url: "http://orders-a.internal:8080", weight: 3 }',
      '      - { url: "http://orders-b.internal:8080" }',
      'routes:',
      '  - name: orders-v2',
      '    match:',
      '      path: /v2/orders',
      '      methods: [GET, POST]',
      '      host: API.example.com',
      '      headers: { X-Client: mobile }',
      '    upstream: orders',
      '    strip_prefix: true',
      '  - name: summary',
      '    match: { exact: /v2/orders/summary }',
      '    upstream: orders',
    ].join('\n');
    return withSnapshot(text, (s) => {
      const v2 = s.routes[0]!;
      assert.deepEqual(v2.match, {
        kind: 'prefix',
        path: '/v2/orders',
        methods: ['GET', 'POST'],
        hosts: ['api.example.com'],
        headers: [['x-client', 'mobile']],
        query: [],
      });
      assert.equal(v2.upstreamLabel, 'orders (2 targets)');
      assert.equal(s.routes[1]!.match.kind, 'exact');
      const mobile = { host: 'api.example.com', headers: { 'X-CLIENT': 'mobile' } };
      assert.equal(routeNameFor(s, request('/v2/orders/7', mobile)), 'orders-v2');
      assert.equal(
        routeNameFor(s, request('/v2/orders/7', { ...mobile, method: 'DELETE' })),
        'method-not-allowed',
      );
      assert.equal(routeNameFor(s, request('/v2/orders/7', { host: 'api.example.com' })), 'not-found');
      assert.equal(routeNameFor(s, request('/v2/orders/summary', mobile)), 'summary');
      const m = s.router.match(request('/v2/orders/7', mobile));
      assert.ok(m.kind === 'found');
      assert.equal('/v2/orders/7'.slice(m.prefixLength), '/7');
    });
  });

  it('turns a whole-value ${VAR} holding a number into a number the gateway uses', () =>
    withSnapshot(
      'gateway:\n  limits:\n    max_body_bytes: ${MAX}\nroutes: []\n',
      (s) => {
        assert.equal(s.config.gateway.limits.max_body_bytes, 4096);
        assert.equal(s.ingress.maxBodyBytes, 4096);
      },
      { MAX: '4096' },
    ));
});

describe('buildSnapshot: route paths', () => {
  const cases: readonly (readonly [name: string, lines: string, issue: [number, number, string]])[] = [
    [
      'path_prefix and match.path',
      '    path_prefix: /a\n    match:\n      path: /b\n',
      [6, 7, 'routes[0].match.path'],
    ],
    ['path_prefix and path', '    path_prefix: /a\n    path: /b\n', [5, 5, 'routes[0].path']],
    [
      'match.path and match.exact',
      '    match:\n      path: /a\n      exact: /b\n',
      [6, 7, 'routes[0].match.exact'],
    ],
  ];
  for (const [name, lines, where] of cases) {
    it(`${name} together is an error at the second one`, async () => {
      const text = `routes:\n  - name: r\n    upstream: http://a:1\n${lines}`;
      const [issue, ...rest] = await errors(text);
      assert.deepEqual(rest, []);
      assert.deepEqual(issue?.slice(0, 3), where);
      assert.match(issue?.[3] ?? '', /^a route has one path: .+ and .+ are both set$/);
    });
  }
});

describe('buildSnapshot: upstreams', () => {
  it('rejects an unknown named upstream with a did-you-mean', async () => {
    const text = [
      'upstreams:',
      '  orders: { targets: [{ url: "http://a:1" }] }',
      'routes:',
      '  - name: r',
      '    upstream: ordrs',
    ].join('\n');
    assert.deepEqual(await errors(text), [
      [5, 15, 'routes[0].upstream', 'no upstream named "ordrs" — did you mean "orders"?'],
    ]);
  });

  it('lists the defined upstreams when none is close, and says how to write a URL when there are none', async () => {
    const some =
      'upstreams:\n  orders: { targets: [{ url: "http://a:1" }] }\nroutes:\n  - name: r\n    upstream: billing\n';
    assert.match((await errors(some))[0]?.[3] ?? '', /no upstream named "billing"; defined: orders$/);
    const none = 'routes:\n  - name: r\n    upstream: billing\n';
    assert.match((await errors(none))[0]?.[3] ?? '', /write a URL such as http:\/\/127\.0\.0\.1:3000/);
  });

  const urls: readonly (readonly [url: string, message: RegExp])[] = [
    ['ftp://files.internal/x', /only http:\/\/ and https:\/\/ are supported/],
    ['http://user:secret@orders.internal', /credentials in the URL are not allowed/],
    ['http://orders.internal/?v=1', /a query or fragment is not allowed/],
    ['http://orders.internal/#top', /a query or fragment is not allowed/],
    ['http://', /invalid upstream URL/],
  ];
  for (const [url, message] of urls) {
    it(`rejects the upstream URL ${url}`, async () => {
      const [issue, ...rest] = await errors(`routes:\n  - name: r\n    upstream: "${url}"\n`);
      assert.deepEqual(rest, []);
      assert.deepEqual(issue?.slice(0, 3), [3, 15, 'routes[0].upstream']);
      assert.match(issue?.[3] ?? '', /^invalid upstream URL: /);
      assert.match(issue?.[3] ?? '', message);
    });
  }

  it('reports a bad target of a named upstream once, where it is written, however many routes use it', async () => {
    const text = [
      'upstreams:',
      '  orders:',
      '    targets:',
      '      - url: "http://a:1"',
      '      - url: "http://user:pw@b:1"',
      'routes:',
      '  - { name: one, path: /one, upstream: orders }',
      '  - { name: two, path: /two, upstream: orders }',
    ].join('\n');
    assert.deepEqual(await errors(text), [
      [
        5,
        14,
        'upstreams.orders.targets[1].url',
        'invalid upstream URL: credentials in the URL are not allowed; use headers',
      ],
    ]);
  });

  it('rejects a target URL that is not http(s) by schema', async () => {
    const text = 'upstreams:\n  u: { targets: [{ url: "ftp://a" }] }\nroutes: []\n';
    assert.deepEqual(await errors(text), [
      [2, 25, 'upstreams.u.targets[0].url', 'expected an http:// or https:// URL, got "ftp://a"'],
    ]);
  });
});

describe('buildSnapshot: route names and shadowing', () => {
  it('rejects duplicate route names, naming the first', async () => {
    const text = [
      'routes:',
      '  - { name: api, path: /a, upstream: "http://a:1" }',
      '  - { name: api, path: /b, upstream: "http://a:1" }',
    ].join('\n');
    assert.deepEqual(await errors(text), [
      [3, 13, 'routes[1].name', 'duplicate route name "api" (also routes[0])'],
    ]);
  });

  it('rejects a route that can never match, naming both routes', async () => {
    const text = [
      'routes:',
      '  - { name: everything, path: /, priority: 10, upstream: "http://a:1" }',
      '  - { name: users, path: /users, upstream: "http://a:1" }',
    ].join('\n');
    const [issue, ...rest] = await errors(text);
    assert.deepEqual(rest, []);
    assert.deepEqual(issue?.slice(0, 3), [3, 5, 'routes[1]']);
    assert.match(issue?.[3] ?? '', /^route "users" can never match: route "everything" \(routes\[0\]\)/);
    assert.match(issue?.[3] ?? '', /give "users" a higher priority/);
  });

  it('points at the right routes when shadowed duplicates also repeat a name', async () => {
    const text = [
      'routes:',
      '  - { name: api, path: /a, upstream: "http://a:1" }',
      '  - { name: api, path: /a, upstream: "http://a:1" }',
      '  - { name: other, path: /o, upstream: "http://a:1" }',
      '  - { name: api, path: /a, upstream: "http://a:1" }',
    ].join('\n');
    const shadows = (await errors(text)).filter(([, , , message]) => message.includes('can never match'));
    assert.deepEqual(
      shadows.map(([line, , path, message]) => [line, path, /route "api" \(routes\[0\]\)/.test(message)]),
      [
        [3, 'routes[1]', true],
        [5, 'routes[3]', true],
      ],
    );
  });

  it('accepts routes that differ by method, host or header', () =>
    withSnapshot(
      [
        'routes:',
        '  - { name: read, path: /a, upstream: "http://a:1" }',
        '  - name: write',
        '    match: { path: /a, methods: [POST] }',
        '    upstream: "http://a:1"',
        '  - name: mobile',
        '    match: { path: /a, headers: { X-Client: mobile } }',
        '    upstream: "http://a:1"',
        '  - name: admin-host',
        '    match: { path: /a, host: admin.example.com }',
        '    upstream: "http://a:1"',
      ].join('\n'),
      (s) => assert.equal(s.routes.length, 4),
    ));
});

describe('buildSnapshot: env overrides', () => {
  const minimal = 'gateway:\n  log_level: warn\n  tracing_header: X-Trace-Id\nroutes: []\n';

  it('applies GATEWAY_LOG_LEVEL, GATEWAY_TRACE_HEADER and GATEWAY_ACCESS_LOG_FIELDS over the file', () =>
    withSnapshot(
      minimal,
      (s) => {
        assert.equal(s.config.gateway.log_level, 'debug');
        assert.equal(s.config.gateway.tracing_header, 'X-Request-Id');
        assert.deepEqual(s.config.gateway.access_log.fields, ['method', 'status', 'trace_id']);
      },
      {
        GATEWAY_LOG_LEVEL: 'debug',
        GATEWAY_TRACE_HEADER: 'X-Request-Id',
        GATEWAY_ACCESS_LOG_FIELDS: ' method, status ,trace_id,method,',
      },
    ));

  it('ignores empty overrides', () =>
    withSnapshot(
      minimal,
      (s) => {
        assert.equal(s.config.gateway.log_level, 'warn');
        assert.equal(s.config.gateway.tracing_header, 'X-Trace-Id');
      },
      { GATEWAY_LOG_LEVEL: '', GATEWAY_TRACE_HEADER: '', GATEWAY_ACCESS_LOG_FIELDS: '' },
    ));

  it('rejects invalid overrides, naming the variable and what it expected, all at once', async () => {
    const issues = await errors(minimal, {
      GATEWAY_LOG_LEVEL: 'loud',
      GATEWAY_TRACE_HEADER: 'X Trace',
      GATEWAY_ACCESS_LOG_FIELDS: 'method,nope,worse',
    });
    assert.deepEqual(
      issues.map(([, , path]) => path),
      ['gateway.log_level', 'gateway.tracing_header', 'gateway.access_log.fields'],
    );
    assert.match(
      issues[0]![3],
      /^env GATEWAY_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/,
    );
    assert.equal(issues[1]![3], 'env GATEWAY_TRACE_HEADER: expected a header name, got "X Trace"');
    assert.match(
      issues[2]![3],
      /^env GATEWAY_ACCESS_LOG_FIELDS: unknown fields nope, worse; known: timestamp, method,/,
    );
  });
});

describe('buildSnapshot: the admin listener', () => {
  const admin = (lines: string) => `gateway:\n  admin:\n${lines}routes: []\n`;

  it('refuses an admin listener beyond loopback without a token', async () => {
    assert.deepEqual(await errors(admin('    listen: "0.0.0.0:9876"\n')), [
      [
        3,
        13,
        'gateway.admin.listen',
        'the admin listener is reachable beyond loopback: set gateway.admin.token',
      ],
    ]);
    assert.equal((await errors(admin('    listen: ":9876"\n')))[0]?.[2], 'gateway.admin.listen');
  });

  const accepted: readonly (readonly [string, string])[] = [
    ['loopback', '    listen: "127.0.0.1:9876"\n'],
    ['a token', '    listen: "0.0.0.0:9876"\n    token: ${TOKEN}\n'],
    ['the admin listener disabled', '    enabled: false\n    listen: "0.0.0.0:9876"\n'],
  ];
  for (const [name, lines] of accepted) {
    it(`accepts it with ${name}`, async () => {
      const result = await build(admin(lines), { TOKEN: 'a-token-of-24-characters' });
      assert.ok(result.ok, JSON.stringify(result.issues));
    });
  }

  it('rejects a token too short to be a secret', async () => {
    const [issue] = await errors(admin('    listen: "0.0.0.0:9876"\n    token: short\n'));
    assert.deepEqual(issue?.slice(2), [
      'gateway.admin.token',
      'expected a token of at least 16 characters, got "short"',
    ]);
  });

  const listens: readonly (readonly [string, boolean])[] = [
    ['127.0.0.1:9876', true],
    ['127.1.2.3:1', true],
    ['localhost:9876', true],
    ['[::1]:9876', true],
    [':9876', false],
    ['0.0.0.0:9876', false],
    ['[::]:9876', false],
    ['10.0.0.5:9876', false],
    ['admin.example.com:9876', false],
  ];
  for (const [listen, loopback] of listens) {
    it(`isLoopbackListen(${listen}) is ${loopback}`, () => assert.equal(isLoopbackListen(listen), loopback));
  }
});

describe('buildSnapshot: policies in a full config', () => {
  const cases: readonly (readonly [
    name: string,
    lines: string,
    where: [number, number, string],
    header: string,
  ])[] = [
    [
      'request set Host',
      '      request:\n        set:\n          Host: evil.example\n',
      [8, 17, 'routes[0].headers.request.set.Host'],
      'Host',
    ],
    [
      'request add Transfer-Encoding',
      '      request:\n        add: { Transfer-Encoding: chunked }\n',
      [7, 35, 'routes[0].headers.request.add.Transfer-Encoding'],
      'Transfer-Encoding',
    ],
    [
      'request remove content-length (second in the list)',
      '      request:\n        remove: [X-A, content-length]\n',
      [7, 23, 'routes[0].headers.request.remove[1]'],
      'content-length',
    ],
    [
      'response set Content-Length',
      '      response:\n        set: { Content-Length: "0" }\n',
      [7, 32, 'routes[0].headers.response.set.Content-Length'],
      'Content-Length',
    ],
    [
      'response remove Connection',
      '      response:\n        remove:\n          - Connection\n',
      [8, 13, 'routes[0].headers.response.remove[0]'],
      'Connection',
    ],
  ];
  for (const [name, lines, where, header] of cases) {
    it(`headers: ${name} is rejected at load with its key path`, async () => {
      const text = `routes:\n  - name: r\n    path: /r\n    upstream: http://a:1\n    headers:\n${lines}`;
      assert.deepEqual(await errors(text), [
        [...where, `the gateway manages "${header}"; it cannot be edited here`],
      ]);
    });
  }

  it('headers: a protected header under defaults is reported once, at defaults', async () => {
    const text = [
      'defaults:',
      '  headers: { request: { remove: [Host] } }',
      'routes:',
      '  - { name: one, path: /one, upstream: "http://a:1" }',
      '  - { name: two, path: /two, upstream: "http://a:1" }',
    ].join('\n');
    assert.deepEqual(await errors(text), [
      [2, 34, 'defaults.headers.request.remove[0]', 'the gateway manages "Host"; it cannot be edited here'],
    ]);
  });

  it('headers: response Host and ordinary headers are accepted', () =>
    withSnapshot(
      'routes:\n  - name: r\n    upstream: http://a:1\n    headers: { request: { set: { X-Gateway: portico } }, response: { set: { Host: x } } }\n',
      (s) => assert.deepEqual(s.routes[0]!.policyNames, ['request_id', 'identity_headers', 'headers']),
    ));

  it('a route inherits a policy from defaults unless it sets its own', () =>
    withSnapshot(
      [
        'defaults:',
        '  headers: { response: { set: { X-Frame-Options: DENY } } }',
        'routes:',
        '  - { name: inherits, path: /a, upstream: "http://a:1" }',
        '  - name: own',
        '    path: /b',
        '    upstream: "http://a:1"',
        '    headers: { request: { remove: [X-Debug] } }',
      ].join('\n'),
      (s) => {
        const [inherits, own] = s.routes;
        assert.deepEqual(inherits?.policyNames, ['request_id', 'identity_headers', 'headers']);
        assert.equal(
          inherits?.pipeline.response.length,
          2,
          'request_id echo and the inherited response edit',
        );
        assert.deepEqual(own?.policyNames, ['request_id', 'identity_headers', 'headers']);
        assert.equal(
          own?.pipeline.response.length,
          1,
          'only request_id: its own headers edit the request only',
        );
        assert.equal(own?.pipeline.request.length, 3, 'request_id, identity_headers, headers');
      },
    ));
});

describe('buildSnapshot: resources', () => {
  it('a failed build keeps no upstream pools alive', () => {
    const deps = depsFor({});
    const text =
      'routes:\n  - { name: ok, path: /a, upstream: "http://a:1" }\n  - { name: bad, path: /b, upstream: nowhere }\n';
    const result = buildSnapshotFromText(text, 'gateway.yaml', deps);
    assert.equal(result.ok, false);
    assert.equal(deps.resources.size, 0);
  });

  it('routes to the same origin share one pool', async () => {
    const deps = depsFor({});
    const text =
      'routes:\n  - { name: a, path: /a, upstream: "http://a:1/x" }\n  - { name: b, path: /b, upstream: "http://a:1/y" }\n';
    const result = buildSnapshotFromText(text, 'gateway.yaml', deps);
    assert.ok(result.ok);
    assert.equal(deps.resources.size, 1);
    await deps.resources.release(result.snapshot.resources, false);
    assert.equal(deps.resources.size, 0);
  });
});

describe('turning a policy off with false', () => {
  it('`request_id: false` in defaults removes the always-on policy from routes and the system route', async () => {
    const deps = {
      registry: policyRegistry,
      resources: new ResourceRegistry(),
      env: {},
      accessLogger: undefined,
      eventLogger: undefined,
    };
    const result = buildSnapshotFromText(
      'defaults: { request_id: false }\nroutes:\n  - { name: a, path: /a, upstream: "http://127.0.0.1:1" }\n  - { name: b, path: /b, upstream: "http://127.0.0.1:1", request_id: { echo: false } }\n',
      'gateway.yaml',
      deps,
    );
    assert.ok(result.ok);
    const names = Object.fromEntries(result.snapshot.routes.map((r) => [r.name, r.policyNames]));
    assert.deepEqual(names.a, ['identity_headers']);
    assert.deepEqual(names.b, ['request_id', 'identity_headers']);
    assert.deepEqual(result.snapshot.system.policyNames, ['identity_headers']);
    await deps.resources.release(result.snapshot.resources, false);
  });
});

describe('upstream groups across reloads', () => {
  const yaml = (openMs: number) =>
    `upstreams:\n  u:\n    targets: [{ url: "http://127.0.0.1:1" }, { url: "http://127.0.0.1:2" }]\n    circuit_breaker: { open_ms: ${openMs} }\n` +
    'routes:\n  - { name: a, path: /a, upstream: u }\n  - { name: b, path: /b, upstream: u }\n';

  it('one group per named upstream, shared by its routes, kept while unchanged, replaced when changed', async () => {
    const deps = depsFor({});
    const first = buildSnapshotFromText(yaml(30_000), 'gateway.yaml', deps);
    assert.ok(first.ok);
    deps.resources.retain(first.snapshot.resources);
    const group = first.snapshot.upstreams.get('u');
    assert.ok(group);
    assert.equal(group.endpoints.length, 2);
    // The same text again (a reload of an unchanged upstream): the very same group — health, ejections,
    // circuit state and retry budget survive.
    const same = buildSnapshotFromText(yaml(30_000), 'gateway.yaml', deps);
    assert.ok(same.ok);
    assert.equal(same.snapshot.upstreams.get('u'), group);
    const changed = buildSnapshotFromText(yaml(5_000), 'gateway.yaml', deps);
    assert.ok(changed.ok);
    assert.notEqual(changed.snapshot.upstreams.get('u'), group);
    for (const s of [first, same, changed]) await deps.resources.release(s.snapshot.resources, s === first);
    assert.equal(deps.resources.size, 0, 'every group closed once no snapshot uses it');
  });

  it('a bad upstream setting is a config error with its path', () => {
    const deps = depsFor({});
    const result = buildSnapshotFromText(
      'upstreams:\n  u:\n    targets: [{ url: "http://127.0.0.1:1" }]\n    health_check: { path: /h, expected_statuses: ["299-200"] }\nroutes:\n  - { name: a, path: /a, upstream: u }\n',
      'gateway.yaml',
      deps,
    );
    assert.equal(result.ok, false);
    const issue = result.issues.find((i) => i.severity === 'error');
    assert.deepEqual(issue?.path, ['upstreams', 'u']);
    assert.match(issue?.message ?? '', /299-200/);
  });
});
