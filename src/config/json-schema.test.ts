// The committed schema/gateway.schema.json must be what the code generates (run `npm run schema`), and a
// standard JSON Schema validator must accept the files the gateway accepts, as they are written.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { configSchema } from './schema.js';
import { policyRegistry } from '../policies/registry.js';
import { formatPath } from './config-issue.js';
import { gatewayJsonSchema } from './json-schema.js';
import { parseConfigText } from './load-config.js';
import { CIDR_SHAPE } from './gateway-schema.js';
import { isCidr, validateAgainstSchema } from './validate-config.js';

it('schema/gateway.schema.json is up to date', () => {
  const committed = readFileSync(new URL('../../schema/gateway.schema.json', import.meta.url), 'utf8');
  assert.equal(committed, gatewayJsonSchema(policyRegistry), 'stale schema: run `npm run schema`');
});

it('describes routes, upstreams and the policy keys', () => {
  const s = JSON.parse(gatewayJsonSchema(policyRegistry)) as {
    properties: { routes: { items: { properties: Record<string, unknown> } }; upstreams: unknown };
  };
  const route = s.properties.routes.items.properties;
  for (const key of [
    'name',
    'match',
    'path_prefix',
    'path',
    'upstream',
    'timeout_ms',
    'headers',
    'request_id',
  ])
    assert.ok(key in route, `route.${key} missing`);
  assert.ok(s.properties.upstreams);
});

// What an editor or CI validator sees: the file before `${VAR}` interpolation, checked by a standard JSON
// Schema validator (ajv 8, draft 2020-12, strict mode: unknown keywords and formats are errors).
describe('schema/gateway.schema.json under a standard validator', () => {
  type Json = { [k: string]: unknown };
  const schema = JSON.parse(
    readFileSync(new URL('../../schema/gateway.schema.json', import.meta.url), 'utf8'),
  ) as Json;

  /** Every value of `key` anywhere in the document (schema keywords only, not property names). */
  function keywordValues(key: string): unknown[] {
    const out: unknown[] = [];
    const walk = (node: unknown, names: boolean): void => {
      if (Array.isArray(node)) return node.forEach((n) => walk(n, false));
      if (typeof node !== 'object' || node === null) return;
      for (const [k, v] of Object.entries(node as Json)) {
        if (!names && k === key) out.push(v);
        walk(v, !names && ['properties', 'patternProperties', '$defs'].includes(k));
      }
    };
    walk(schema, false);
    return out;
  }

  function compile(s: Json = schema): ValidateFunction {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    // The validator's own annotations ("expected …" texts, the cidr check): declared, never ignored.
    for (const k of ['x-expected', 'x-format']) ajv.addKeyword(k);
    return ajv.compile(s);
  }
  const validate = compile();
  const errors = (doc: unknown) =>
    validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

  it('uses no format a draft 2020-12 validator does not know (cidr is a pattern now)', () => {
    const standard = new Set(['date-time', 'date', 'time', 'duration', 'email', 'hostname', 'ipv4', 'ipv6']);
    const formats = keywordValues('format');
    assert.deepEqual(
      formats.filter((f) => !standard.has(f as string)),
      [],
    );
    // Strict mode refuses an unknown format outright, so compiling the document is the same check again.
    assert.throws(() => compile({ type: 'string', format: 'cidr' }), /unknown format "cidr"/);
    const extensions = keywordValues('x-format');
    assert.deepEqual(extensions, ['cidr']);
  });

  it('accepts examples/gateway.yaml as written, ${VAR:-default} values included', () => {
    const text = readFileSync(new URL('../../examples/gateway.yaml', import.meta.url), 'utf8');
    assert.match(text, /url: \$\{ORDERS_URL:-http:\/\/127\.0\.0\.1:4001\}/, 'the example still interpolates');
    assert.deepEqual(errors(parseYaml(text)), []);
  });

  it('accepts a ${VAR} form wherever a value may be interpolated, and refuses what it always refused', () => {
    const route = (extra: Json) => ({
      routes: [{ name: 'r', path: '/r', upstream: 'http://a:1', ...extra }],
    });
    const ok: Json[] = [
      { upstreams: { u: { targets: [{ url: '${URL}' }], balance: '${BALANCE:-hash}' } } },
      route({ upstream: '${UPSTREAM:-http://127.0.0.1:4002}', timeout_ms: '${TIMEOUT}' }),
      route({ strip_prefix: '${STRIP:-true}', priority: '${PRIORITY:-5}' }),
      { gateway: { trusted_proxies: ['${PROXY_CIDR}', '10.0.0.0/8', 'fd00::/8'], listen: '${LISTEN}' } },
      { auth: { jwt: { default: { secret: '${JWT_SECRET}', jwks_url: 'https://${IDP_HOST}/jwks' } } } },
      { gateway: { admin: { listen: '127.0.0.1:${ADMIN_PORT:-9876}' } } },
    ];
    for (const doc of ok) assert.deepEqual(errors({ routes: [], ...doc }), [], JSON.stringify(doc));
    const refused: [Json, RegExp][] = [
      [route({ path: 'no-slash' }), /pattern/],
      [route({ timeout_ms: 'soon' }), /integer|pattern/],
      [route({ timeout_ms: '5${X}' }), /integer|pattern/],
      [{ gateway: { trusted_proxies: ['nope'] } }, /pattern/],
      [{ upstreams: { u: { targets: [{ url: 'http://a' }], balance: 'random' } } }, /constant|pattern/],
      [{ auth: { jwt: { default: { secret: 'short' } } } }, /fewer than 32|pattern/],
      // Keys are never interpolated.
      [{ '${KEY}': 1 }, /additional properties/],
    ];
    for (const [doc, message] of refused) {
      const found = errors({ routes: [], ...doc });
      assert.ok(found.length > 0, `refused: ${JSON.stringify(doc)}`);
      assert.match(found.join('\n'), message, JSON.stringify(doc));
    }
  });

  it('the cidr pattern takes every address and CIDR the validator takes', () => {
    const pattern = new RegExp(CIDR_SHAPE, 'u');
    for (const v of [
      '10.0.0.0/8',
      '10.0.0.1',
      '0.0.0.0/0',
      '::1/128',
      'fd00::/8',
      '::ffff:10.0.0.1',
      'fe80::1%eth0',
      '::',
    ]) {
      assert.ok(isCidr(v), v);
      assert.ok(pattern.test(v), v);
    }
  });
});

describe('the validator after interpolation', () => {
  const schema = configSchema(policyRegistry);
  const check = (text: string, env: Record<string, string>) => {
    const source = parseConfigText(text, 'gateway.yaml', env);
    validateAgainstSchema(schema, source.value, source.issues);
    return source.issues.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  };

  it('checks the interpolated values as strictly as written ones', () => {
    const text = [
      'gateway:',
      '  trusted_proxies:',
      '    - ${PROXY}',
      'routes:',
      '  - name: r',
      '    upstream: http://a:1',
      '    path_prefix: ${PREFIX}',
      '    timeout_ms: ${TIMEOUT}',
    ].join('\n');
    assert.deepEqual(check(text, { PROXY: '10.0.0.0/8', PREFIX: '/r', TIMEOUT: '50' }), []);
    assert.deepEqual(check(text, { PROXY: '10.0.0.0/33', PREFIX: 'r', TIMEOUT: 'soon' }), [
      'gateway.trusted_proxies[0]: expected an IP address or CIDR such as "10.0.0.0/8", got "10.0.0.0/33"',
      'routes[0].path_prefix: expected a path starting with "/", e.g. /orders or /users/:id, got "r"',
      'routes[0].timeout_ms: expected a whole number of milliseconds (1 or more), got "soon"',
    ]);
  });
});
