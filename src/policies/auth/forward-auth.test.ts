// Forward-auth against a real auth service on a loopback port: what the subrequest carries, which answers
// let the request through, which are passed back to the client, which mean "unavailable" (503), and that
// the answer cache asks once per credentials.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { Value } from '@sinclair/typebox/value';
import type { Exchange } from '../../pipeline/exchange.js';
import { PolicyConfigError, type PolicyLog } from '../../pipeline/policy.js';
import { SILENT_LOG, testExchange } from '../../pipeline/testing.js';
import {
  closedPort,
  startUpstream,
  type TestUpstream,
  type UpstreamHandler,
} from '../../../test/helpers/upstream.js';
import {
  cacheLifetime,
  createForwardAuth,
  ForwardAuthUnavailable,
  type ForwardAuth,
  type ForwardAuthResult,
} from './forward-auth.js';
import { ForwardAuthSchema, type ForwardAuthConfig } from './schema.js';

const CLIENT_HEADERS = [
  'Authorization',
  'Bearer t0ken',
  'Cookie',
  'session=abc',
  'X-Other',
  'not for the auth service',
];

/** A config with the schema's defaults filled in. */
function config(overrides: Partial<ForwardAuthConfig> & { url: string }): ForwardAuthConfig {
  return Value.Parse(ForwardAuthSchema, overrides);
}

function exchange(raw: string[] = [...CLIENT_HEADERS]): Exchange {
  return testExchange(raw);
}

const open: { close(): Promise<void> }[] = [];
async function service(handler: UpstreamHandler): Promise<TestUpstream> {
  const s = await startUpstream(handler);
  open.push(s);
  return s;
}
function client(cfg: ForwardAuthConfig, log: PolicyLog = SILENT_LOG): ForwardAuth {
  const f = createForwardAuth('sso', cfg, { log });
  open.push(f);
  return f;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

const allow =
  (headers: http.OutgoingHttpHeaders = {}): UpstreamHandler =>
  (_req, res) => {
    res.writeHead(200, { 'x-user-id': 'alice', ...headers });
    res.end('ok');
  };

async function unavailable(p: Promise<ForwardAuthResult>): Promise<ForwardAuthUnavailable> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ForwardAuthUnavailable, `expected ForwardAuthUnavailable, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the check to reject');
}

describe('forward-auth: the subrequest', () => {
  it('carries X-Forwarded-Method/-Uri/-Host/-Proto/-For and only the listed client headers, no body', async () => {
    const s = await service(allow());
    const f = client(config({ url: `${s.url}/verify?app=1`, method: 'POST' }));
    const ex = exchange();
    (ex as { method: string }).method = 'DELETE';
    ex.path = '/orders/7';
    ex.query = 'force=1&x=%20';
    await f.check(ex);
    const r = s.received[0]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/verify?app=1');
    assert.equal(r.headers['x-forwarded-method'], 'DELETE');
    assert.equal(r.headers['x-forwarded-uri'], '/orders/7?force=1&x=%20');
    assert.equal(r.headers['x-forwarded-host'], 'gateway.test');
    assert.equal(r.headers['x-forwarded-proto'], 'http');
    assert.equal(r.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(r.headers.authorization, 'Bearer t0ken');
    assert.equal(r.headers.cookie, 'session=abc');
    assert.equal(r.headers['x-other'], undefined, 'a header not in request_headers stays home');
    assert.equal(r.body.length, 0);
  });

  it('takes X-Forwarded-Host/-Proto as the gateway computed them for the upstream (trusted proxies honoured)', async () => {
    const s = await service(allow());
    const f = client(config({ url: s.url, request_headers: ['x-api-key'] }));
    const ex = exchange([
      'X-Api-Key',
      'k1',
      'X-Forwarded-Host',
      'shop.example:8443',
      'X-Forwarded-Proto',
      'https',
    ]);
    await f.check(ex);
    const r = s.received[0]!;
    assert.equal(r.method, 'GET');
    assert.equal(r.headers['x-forwarded-host'], 'shop.example:8443');
    assert.equal(r.headers['x-forwarded-proto'], 'https');
    assert.equal(r.headers['x-forwarded-uri'], '/');
    assert.equal(r.headers['x-api-key'], 'k1');
    assert.equal(r.headers.authorization, undefined, 'authorization is not listed');
  });
});

describe('forward-auth: answers', () => {
  it('2xx: allowed as the user_header user; only copy_headers are copied, lower-cased, every value', async () => {
    const s = await service((_req, res) => {
      res.setHeader('X-User-Id', '  alice ');
      res.setHeader('X-Roles', 'admin');
      res.setHeader('X-Group', ['a', 'b']);
      res.setHeader('X-Internal-Secret', 'must not be copied');
      res.writeHead(204).end();
    });
    const f = client(config({ url: s.url, copy_headers: ['X-Roles', 'x-group', 'X-Absent'] }));
    const result = await f.check(exchange());
    assert.deepEqual(result, {
      allowed: true,
      user: 'alice',
      copy: [
        ['x-roles', 'admin'],
        ['x-group', 'a'],
        ['x-group', 'b'],
      ],
    });
  });

  it('user_header is configurable', async () => {
    const s = await service(allow({ 'x-auth-request-user': 'bob' }));
    const f = client(config({ url: s.url, user_header: 'X-Auth-Request-User' }));
    const result = await f.check(exchange());
    assert.equal(result.allowed && result.user, 'bob');
  });

  const denials: readonly (readonly [number, http.OutgoingHttpHeaders, string])[] = [
    [
      401,
      { 'www-authenticate': 'Bearer realm="sso"', 'content-type': 'application/json' },
      '{"error":"expired"}',
    ],
    [403, { 'content-type': 'text/plain' }, 'not yours'],
    [401, {}, ''],
  ];
  for (const [status, headers, body] of denials) {
    it(`${status} ${JSON.stringify(headers)}: passed through (status, WWW-Authenticate, Content-Type, body)`, async () => {
      const s = await service((_req, res) => {
        res.writeHead(status, { 'x-user-id': 'ignored', 'x-other': 'dropped', ...headers });
        res.end(body);
      });
      const f = client(config({ url: s.url }));
      assert.deepEqual(await f.check(exchange()), { allowed: false, status, headers, body });
    });
  }

  it('a denial body is cut at 4 KiB without splitting a character', async () => {
    const s = await service((_req, res) => {
      res.writeHead(401, { 'www-authenticate': ['Basic realm="a"', 'Bearer'] });
      res.end('x'.repeat(4095) + 'é'.repeat(5000));
    });
    const f = client(config({ url: s.url }));
    const result = await f.check(exchange());
    assert.equal(result.allowed, false);
    if (result.allowed) return;
    assert.equal(result.body, 'x'.repeat(4095));
    assert.equal(result.headers['www-authenticate'], 'Basic realm="a", Bearer');
  });

  const unusable: readonly (readonly [string, UpstreamHandler, string])[] = [
    ['500', (_q, res) => res.writeHead(500).end('boom'), 'bad-status'],
    ['502', (_q, res) => res.writeHead(502).end(), 'bad-status'],
    ['302 to a login page', (_q, res) => res.writeHead(302, { location: '/login' }).end(), 'bad-status'],
    ['404', (_q, res) => res.writeHead(404).end(), 'bad-status'],
    [
      '200 without the user header',
      (_q, res) => res.writeHead(200).end('<html>welcome</html>'),
      'bad-answer',
    ],
    [
      '200 with an empty user header',
      (_q, res) => res.writeHead(200, { 'x-user-id': ' ' }).end(),
      'bad-answer',
    ],
    [
      '200 with two user headers',
      (_q, res) => {
        res.setHeader('x-user-id', ['alice', 'mallory']);
        res.writeHead(200).end();
      },
      'bad-answer',
    ],
  ];
  for (const [what, handler, reason] of unusable) {
    it(`${what} → ForwardAuthUnavailable (${reason})`, async () => {
      const s = await service(handler);
      const f = client(config({ url: s.url }));
      const err = await unavailable(f.check(exchange()));
      assert.equal(err.reason, reason);
    });
  }

  it('connection refused → ForwardAuthUnavailable (unreachable)', async () => {
    const f = client(config({ url: `http://127.0.0.1:${await closedPort()}/auth` }));
    const err = await unavailable(f.check(exchange()));
    assert.equal(err.reason, 'unreachable');
    assert.match(err.message, /ECONNREFUSED/);
  });

  const slow: readonly (readonly [string, UpstreamHandler])[] = [
    ['no answer at all', () => {}],
    ['headers, then a body that never ends', (_q, res) => void res.writeHead(401).write('partial')],
    [
      'a 2xx whose body never ends',
      (_q, res) => void res.writeHead(200, { 'x-user-id': 'alice' }).write('partial'),
    ],
  ];
  for (const [what, handler] of slow) {
    it(`timeout (${what}) → ForwardAuthUnavailable (timeout) within about timeout_ms`, async () => {
      const s = await service(handler);
      const f = client(config({ url: s.url, timeout_ms: 200 }));
      const t = performance.now();
      const err = await unavailable(f.check(exchange()));
      const elapsed = performance.now() - t;
      assert.equal(err.reason, 'timeout');
      assert.ok(elapsed >= 190 && elapsed < 700, `took ${elapsed.toFixed(0)} ms`);
    });
  }

  it('logs when the service goes down (once, not per request) and when it comes back', async () => {
    let healthy = false;
    const s = await service((q, res, body) => {
      if (healthy) return allow()(q, res, body);
      res.writeHead(503).end();
    });
    const lines: { level: string; fields: Readonly<Record<string, unknown>> }[] = [];
    const log: PolicyLog = {
      info: (fields) => lines.push({ level: 'info', fields }),
      warn: (fields) => lines.push({ level: 'warn', fields }),
      error: (fields) => lines.push({ level: 'error', fields }),
    };
    const f = client(config({ url: s.url }), log);
    for (let i = 0; i < 5; i++) await unavailable(f.check(exchange()));
    healthy = true;
    await f.check(exchange());
    await f.check(exchange());
    assert.deepEqual(
      lines.map((l) => [l.level, l.fields.event, l.fields.reason]),
      [
        ['warn', 'forward_auth_unavailable', 'bad-status'],
        ['info', 'forward_auth_recovered', undefined],
      ],
    );
    assert.equal(lines[0]!.fields.forward_auth, 'sso');
  });
});

describe('forward-auth: answer cache', () => {
  it('cache_ttl_s > 0: one question per credentials, even for a concurrent flood', async () => {
    const s = await service(allow({ 'x-roles': 'admin' }));
    const f = client(config({ url: s.url, cache_ttl_s: 60, copy_headers: ['x-roles'] }));
    const results = await Promise.all(Array.from({ length: 50 }, () => f.check(exchange())));
    for (let i = 0; i < 10; i++) results.push(await f.check(exchange()));
    assert.equal(s.received.length, 1);
    for (const r of results)
      assert.deepEqual(r, { allowed: true, user: 'alice', copy: [['x-roles', 'admin']] });
    // Other credentials are another question; a header that is not a credential is not part of the key.
    await f.check(exchange(['Authorization', 'Bearer other']));
    await f.check(exchange([...CLIENT_HEADERS, 'X-Other', 'different']));
    assert.equal(s.received.length, 2);
  });

  it('denials are remembered too; unavailability is not', async () => {
    let status = 401;
    const s = await service((_q, res) => {
      res.writeHead(status).end();
    });
    const f = client(config({ url: s.url, cache_ttl_s: 60 }));
    await f.check(exchange());
    await f.check(exchange());
    assert.equal(s.received.length, 1);
    status = 500;
    const other = ['Authorization', 'Bearer second'];
    await unavailable(f.check(exchange(other)));
    await unavailable(f.check(exchange(other)));
    assert.equal(s.received.length, 3, 'a failure is asked again');
  });

  it('cache_ttl_s 0 asks every time; Cache-Control no-store from the service is honoured', async () => {
    const s = await service(allow());
    const f = client(config({ url: s.url }));
    for (let i = 0; i < 3; i++) await f.check(exchange());
    assert.equal(s.received.length, 3);

    const n = await service(allow({ 'cache-control': 'no-store' }));
    const g = client(config({ url: n.url, cache_ttl_s: 60 }));
    for (let i = 0; i < 3; i++) await g.check(exchange());
    assert.equal(n.received.length, 3);
  });

  it('an entry expires after cache_ttl_s; a shorter max-age from the service wins', async () => {
    let clock = 0;
    const ttl = (cacheControl: string | undefined) => async () => {
      const s = await service(allow(cacheControl === undefined ? {} : { 'cache-control': cacheControl }));
      const f = createForwardAuth('sso', config({ url: s.url, cache_ttl_s: 60 }), {
        log: SILENT_LOG,
        now: () => clock,
      });
      open.push(f);
      clock = 0;
      await f.check(exchange());
      const asked: number[] = [];
      for (const t of [1_000, 9_999, 10_001, 59_999, 60_001]) {
        clock = t;
        await f.check(exchange());
        asked.push(s.received.length);
      }
      return asked;
    };
    assert.deepEqual(await ttl(undefined)(), [1, 1, 1, 1, 2]);
    assert.deepEqual(await ttl('private, max-age=10')(), [1, 1, 2, 3, 3]);
    assert.deepEqual(await ttl('max-age=0')(), [2, 3, 4, 5, 6]);
  });
});

describe('forward-auth: Cache-Control of the answer', () => {
  it('no-store / no-cache → 0, max-age → its seconds, unsaid → Infinity; quoted, mixed-case, split forms', () => {
    const cases: readonly (readonly [string | string[] | undefined, number])[] = [
      [undefined, Infinity],
      ['private', Infinity],
      ['max-age=10', 10_000],
      ['private, max-age=10', 10_000],
      ['Max-Age=10', 10_000],
      ['max-age="10"', 10_000],
      ['max-age=10, max-age=20', 10_000],
      [['private', 'max-age=30'], 30_000],
      ['max-age=0', 0],
      ['no-store', 0],
      ['NO-CACHE', 0],
      ['max-age=60, no-store', 0],
      ['no-cache="set-cookie", max-age=60', 0],
      ['private,no-store', 0],
    ];
    for (const [value, ms] of cases) assert.equal(cacheLifetime(value), ms, JSON.stringify(value));
  });

  it('reads odd forms as the cache parser does: a malformed max-age is 0, a quoted one inside another is not read', () => {
    assert.equal(cacheLifetime('max-age=abc'), 0);
    assert.equal(cacheLifetime('max-age='), 0);
    assert.equal(cacheLifetime('ext="a, max-age=5"'), Infinity);
    assert.equal(cacheLifetime('x-no-store, max-age=5'), 5_000);
  });
});

describe('forward-auth: config checks at build time', () => {
  const bad: readonly (readonly [Partial<ForwardAuthConfig>, readonly (string | number)[]])[] = [
    [{ request_headers: ['authorization', 'Host'] }, ['request_headers', 1]],
    [{ request_headers: ['X-Forwarded-For'] }, ['request_headers', 0]],
    [{ copy_headers: ['Transfer-Encoding'] }, ['copy_headers', 0]],
    [{ url: 'http://user:pw@auth.internal/verify' }, ['url']],
  ];
  for (const [overrides, path] of bad) {
    it(`refuses ${JSON.stringify(overrides)}`, () => {
      assert.throws(
        () =>
          createForwardAuth('sso', config({ url: 'http://auth.internal/verify', ...overrides }), {
            log: SILENT_LOG,
          }),
        (err: unknown) =>
          err instanceof PolicyConfigError && JSON.stringify(err.path) === JSON.stringify(path),
      );
    });
  }

  it('close() is idempotent, and a closed client reports unavailable', async () => {
    const f = createForwardAuth('sso', config({ url: 'http://127.0.0.1:9/verify' }), { log: SILENT_LOG });
    await f.close();
    await f.close();
    assert.equal((await unavailable(f.check(exchange()))).reason, 'unreachable');
  });
});

after(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});
