// Headers the upstream must be able to trust (issue 14, point 3), end to end with real sockets, a real
// upstream and tokens signed by a real ES256 key: client headers that a backend would read as identity
// headers (any case, `_` for `-`) never reach it, on routes with and without auth; an identity value that no
// header can carry (control characters, non-Latin-1, an object where a string belongs) — from a JWT claim or
// a forward-auth answer — refuses the credential with 401 problem+json and never reaches the upstream; a
// consumer role with a control character is refused when the config loads, with its line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { assertProblemBody, httpRequest, rawNames, rawValues } from '../fixtures/http-tools.js';
import { foldHeaderName } from '../../src/pipeline/header-rules.js';
import { signToken, testKey, type TestKey } from '../../src/policies/auth/jwt/testing.js';

const API_KEY = 'pk_hygiene_0123456789abcdef';
const sha = (k: string) => 'sha256:' + createHash('sha256').update(k).digest('hex');

/** Names a client might send to pass for the gateway: case and `_`/`-` variants of identity headers. */
const FORGED = [
  'X-Authenticated-User',
  'x-authenticated-user',
  'X_Authenticated_User',
  'x_authenticated-user',
  'X-AUTHENTICATED_ROLES',
  'x_authenticated_scopes',
  'X_Authenticated_Tier',
  'X_Consumer_Id',
  'X-Consumer-Groups',
  'x-consumer_username',
  'Remote_User', // configured as identity_headers.strip
];

/** Whether a name received upstream would read, to a folding backend, as an identity header. */
const identityLike = (name: string) => {
  const f = foldHeaderName(name);
  return f.startsWith('x-authenticated-') || f.startsWith('x-consumer-') || f === 'remote-user';
};

const indent = (text: string, spaces: number) =>
  text
    .trim()
    .split('\n')
    .map((l) => ' '.repeat(spaces) + l)
    .join('\n');

describe('identity header hygiene', () => {
  let up: TestUpstream;
  let authService: TestUpstream;
  let gw: TestGateway;
  let key: TestKey;
  /** The user the forward-auth service names in its next answers. */
  let forwardUser = 'svc-user';

  before(async () => {
    up = await startUpstream();
    authService = await startUpstream((_req, res) => {
      res.writeHead(200, { 'X-User-Id': forwardUser, 'content-length': '0' });
      res.end();
    });
    key = await testKey('ES256');
    gw = await startTestGateway(`
auth:
  jwt:
    default:
      public_key: |
${indent(key.publicPem, 8)}
      tier_claim: plan
  forward_auth:
    sso:
      url: ${authService.url}/check
  identity_headers:
    strip: [Remote-User]
consumers:
  - id: mobile-app
    tier: pro
    roles: [customer, "support team"]
    api_keys: ["${sha(API_KEY)}"]
routes:
  - name: open
    path: /open
    upstream: ${up.url}
  - name: jwt
    path: /jwt
    upstream: ${up.url}
    auth: jwt
  - name: key
    path: /key
    upstream: ${up.url}
    auth: api_key
  - name: optional
    path: /optional
    upstream: ${up.url}
    auth: { methods: [jwt], optional: true }
  - name: sso
    path: /sso
    upstream: ${up.url}
    auth: forward_auth:sso
  - name: more
    path: /more
    upstream: ${up.url}
    auth: jwt
    identity_headers: { strip: [X-Internal-Route] }
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
    await authService?.close();
  });

  const token = (claims: Record<string, unknown>) => signToken(key, claims);
  // A flat header list keeps the names exactly as written (fetch would lower-case them); it needs its own Host.
  const send = (path: string, headers: readonly string[]) =>
    httpRequest(gw.port, { path, headers: ['Host', 'gateway.test', ...headers] });
  const forged = FORGED.flatMap((name) => [name, 'forged-by-client']);
  const lastReceived = () => up.received.at(-1)!;

  describe('client-sent identity headers never reach the upstream, whatever their case or _/-', () => {
    const routes: readonly [string, () => Promise<string[]>, string | undefined][] = [
      ['a route without auth', () => Promise.resolve([]), undefined],
      ['an optional-auth route, anonymous', () => Promise.resolve([]), undefined],
      ['a JWT route', async () => ['Authorization', `Bearer ${await token({ sub: 'alice' })}`], 'alice'],
      ['an API key route', () => Promise.resolve(['X-Api-Key', API_KEY]), 'mobile-app'],
      ['a forward-auth route', () => Promise.resolve([]), 'svc-user'],
    ];
    const paths = ['/open', '/optional', '/jwt', '/key', '/sso'];
    routes.forEach(([why, credential, user], i) => {
      it(why, async () => {
        const before = up.received.length;
        const res = await send(paths[i]!, [...(await credential()), ...forged, 'X_Request_Id', 'r-1']);
        assert.equal(res.status, 200, res.body.toString());
        assert.equal(up.received.length, before + 1);
        const got = lastReceived();
        const names = rawNames(got.rawHeaders);
        const values = (n: string) => rawValues(got.rawHeaders, n);
        for (let j = 0; j < got.rawHeaders.length; j += 2)
          assert.notEqual(
            got.rawHeaders[j + 1],
            'forged-by-client',
            `${got.rawHeaders[j]} reached the upstream`,
          );
        if (user === undefined) {
          assert.deepEqual(names.filter(identityLike), []);
        } else {
          // Exactly the gateway's own, once each.
          assert.deepEqual(values('x-authenticated-user'), [user]);
          assert.deepEqual(values('x-consumer-id'), [user]);
          for (const n of names.filter(identityLike))
            assert.ok(
              n === foldHeaderName(n),
              `only the gateway's own spelling reaches the upstream, got ${n}`,
            );
        }
        // An unrelated name with underscores passes as the client spelled it.
        assert.deepEqual(values('X_Request_Id'), ['r-1']);
        assert.ok(got.rawHeaders.includes('X_Request_Id'));
      });
    });
  });

  describe('an identity value no header can carry refuses the credential (401), the upstream is not called', () => {
    const refused: readonly [string, Record<string, unknown>, string][] = [
      ['a sub with NUL', { sub: 'alice\u0000' }, 'sub'],
      ['a sub with CR LF', { sub: 'alice\r\nX-Evil: 1' }, 'sub'],
      ['a sub with a tab', { sub: 'al\tice' }, 'sub'],
      ['a sub with DEL', { sub: 'alice\u007f' }, 'sub'],
      ['a sub beyond Latin-1', { sub: 'ユーザー' }, 'sub'],
      ['a number sub', { sub: 123 }, 'sub'],
      ['an object sub', { sub: { a: 1 } }, 'sub'],
      ['a list sub', { sub: ['alice'] }, 'sub'],
      ['a role with CR LF', { sub: 'alice', roles: ['a\r\nX-Evil: 1'] }, 'roles'],
      ['a roles string with a line break', { sub: 'alice', roles: 'admin\nops' }, 'roles'],
      ['an object role', { sub: 'alice', roles: ['ok', { a: 1 }] }, 'roles'],
      ['a scope with a control character', { sub: 'alice', scope: 'read \u0001write' }, 'scope'],
      ['an scp with NUL (no scope claim)', { sub: 'alice', scp: ['read\u0000'] }, 'scp'],
      ['a tier with LF', { sub: 'alice', plan: 'gold\nX-Evil: 1' }, 'plan'],
      ['an object tier', { sub: 'alice', plan: { name: 'gold' } }, 'plan'],
    ];
    for (const path of ['/jwt', '/optional'])
      for (const [why, claims, claim] of refused)
        it(`${path}: ${why}`, async () => {
          const before = up.received.length;
          const res = await send(path, ['Authorization', `Bearer ${await token(claims)}`]);
          assert.equal(res.status, 401, res.body.toString());
          const problem = assertProblemBody(res.headers['content-type'], res.body.toString(), 401, [
            'X-Evil',
          ]);
          assert.equal(problem.type, 'https://portico.dev/problems/unauthenticated');
          assert.equal(
            res.headers['www-authenticate'],
            `Bearer realm="portico", error="invalid_token", error_description="invalid claim ${claim}"`,
          );
          assert.equal(up.received.length, before, 'nothing reached the upstream');
          assert.equal(res.headers['x-evil'], undefined);
        });

    it('a forward-auth answer naming a user with a tab', async () => {
      forwardUser = 'svc\tuser';
      try {
        const before = up.received.length;
        const res = await send('/sso', []);
        assert.equal(res.status, 401, res.body.toString());
        const problem = assertProblemBody(res.headers['content-type'], res.body.toString(), 401);
        assert.equal(problem.type, 'https://portico.dev/problems/unauthenticated');
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="portico"');
        assert.equal(up.received.length, before);
      } finally {
        forwardUser = 'svc-user';
      }
    });
  });

  it('a good token passes with the identity headers the gateway sets', async () => {
    const res = await send('/jwt', [
      'Authorization',
      `Bearer ${await token({ sub: 'alice', roles: ['admin', 'ops'], scope: 'orders:read orders:write', plan: 'gold' })}`,
      ...forged,
    ]);
    assert.equal(res.status, 200, res.body.toString());
    const got = lastReceived();
    const one = (n: string) => rawValues(got.rawHeaders, n);
    assert.deepEqual(one('x-authenticated-user'), ['alice']);
    assert.deepEqual(one('x-consumer-id'), ['alice']);
    assert.deepEqual(one('x-authenticated-roles'), ['admin,ops']);
    assert.deepEqual(one('x-authenticated-scopes'), ['orders:read orders:write']);
    assert.deepEqual(one('x-authenticated-tier'), ['gold']);
    assert.deepEqual(one('authorization'), []);
  });

  it('Latin-1 text beyond ASCII passes (it fits a header value)', async () => {
    const res = await send('/jwt', ['Authorization', `Bearer ${await token({ sub: 'josé' })}`]);
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual(rawValues(lastReceived().rawHeaders, 'x-authenticated-user'), ['josé']);
  });

  it('a consumer role with a control character is refused when the config loads, with its line', async () => {
    const yaml = [
      'consumers:', // 4 (the helper adds three gateway lines first)
      '  - id: ops-bot', // 5
      '    roles: [ok, "evil\\r\\nX-Evil: 1"]', // 6
      '    api_keys: ["' + sha('k') + '"]', // 7
      'routes:',
      '  - name: r',
      '    path: /r',
      `    upstream: ${up.url}`,
      '    auth: api_key',
    ].join('\n');
    await assert.rejects(startTestGateway(yaml), (err: Error) => {
      assert.match(
        err.message,
        /gateway\.yaml:6:\d+ consumers\[0\]\.roles\[1\]: expected a role without control characters/,
      );
      return true;
    });
  });

  it('a route may add names to strip; the protected ones stay removed', async () => {
    const before = up.received.length;
    const res = await send('/more', [
      'Authorization',
      `Bearer ${await token({ sub: 'alice' })}`,
      'X_Internal_Route',
      'forged-by-client',
      'X-Consumer-Groups',
      'admins',
      ...forged,
    ]);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(up.received.length, before + 1);
    const got = lastReceived();
    assert.deepEqual(rawValues(got.rawHeaders, 'x-internal-route'), []);
    assert.deepEqual(rawValues(got.rawHeaders, 'x-consumer-groups'), []);
    assert.deepEqual(rawValues(got.rawHeaders, 'x-authenticated-user'), ['alice']);
  });

  it('identity stripping cannot be turned off: identity_headers: false is refused with its line', async () => {
    for (const where of ['route', 'defaults'] as const) {
      const yaml =
        where === 'route'
          ? `routes:\n  - name: r\n    path: /r\n    upstream: ${up.url}\n    identity_headers: false\n`
          : `defaults:\n  identity_headers: false\nroutes:\n  - name: r\n    path: /r\n    upstream: ${up.url}\n`;
      await assert.rejects(startTestGateway(yaml), (err: Error) => {
        assert.match(
          err.message,
          /gateway\.yaml:\d+:\d+ (routes\[0\]|defaults)\.identity_headers: expected a mapping such as \{ strip: \[X-Internal-User\] \} \(identity headers are removed on every route and cannot be turned off\), got false/,
        );
        return true;
      });
    }
  });

  it('a route key with no such setting names the keys it takes', async () => {
    const yaml = `routes:\n  - name: r\n    path: /r\n    upstream: ${up.url}\n    identity_headers: { remove: [X-A] }\n`;
    await assert.rejects(
      startTestGateway(yaml),
      /identity_headers\.remove: unknown key "remove"; allowed keys: strip/,
    );
  });
});
