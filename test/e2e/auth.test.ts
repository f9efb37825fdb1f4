// The authentication facade end to end, with real sockets and real keys: API keys (header and query, never
// forwarded), JWT (HS256 secret, RS256 PEM), identity headers set by the gateway and never by the client
// (also through Connection), authorization (403), RFC 6750 challenges, optional auth, the brief's
// auth_required form, forward_token, and 503 when the identity provider is unavailable.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { hashPassword } from '../../src/policies/auth/passwords.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!!';
const KEY_MOBILE = 'pk_mobile_0123456789abcdef';
const KEY_PARTNER = 'pk_partner_fedcba9876543210';
const sha = (k: string) => 'sha256:' + createHash('sha256').update(k).digest('hex');

interface Echo {
  url: string;
  headers: Record<string, string | undefined>;
}

describe('authentication', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let rsaPrivate: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let idpDownPort: number;
  before(async () => {
    up = await startUpstream();
    const rsa = await generateKeyPair('RS256', { extractable: true });
    rsaPrivate = rsa.privateKey;
    const pem = await exportSPKI(rsa.publicKey);
    idpDownPort = await closedPort();
    gw = await startTestGateway(`
auth:
  jwt:
    default:
      secret: "${SECRET}"
      issuer: https://id.test/
      audience: orders-api
    rsa:
      public_key: |
${pem
  .trim()
  .split('\n')
  .map((l) => '        ' + l)
  .join('\n')}
      issuer: https://id.test/
      roles_claim: realm_access.roles
    down:
      jwks_url: http://127.0.0.1:${idpDownPort}/jwks.json
      algorithms: [RS256]
      jwks: { timeout_ms: 300 }
  api_key:
    header: X-Api-Key
    query: api_key
consumers:
  - id: mobile-app
    tier: pro
    roles: [customer]
    api_keys: ["${sha(KEY_MOBILE)}"]
  - id: acme-partner
    tier: partner
    roles: [partner]
    scopes: [orders:read]
    api_keys: ["${sha(KEY_PARTNER)}"]
routes:
  - name: public
    path: /public
    upstream: ${up.url}
  - name: keys
    path: /keys
    upstream: ${up.url}
    auth: api_key
  - name: jwt
    path: /jwt
    upstream: ${up.url}
    auth: jwt
  - name: rsa
    path: /rsa
    upstream: ${up.url}
    auth: jwt:rsa
    require: { roles: [admin, ops], any: true }
  - name: partners
    path: /partners
    upstream: ${up.url}
    auth: [jwt, api_key]
    require: { roles: [partner], scopes: ["orders:read"] }
  - name: optional
    path: /optional
    upstream: ${up.url}
    auth: { methods: [api_key], optional: true }
  - name: seed
    path_prefix: /seed
    upstream: ${up.url}
    auth_required: true
  - name: passthrough-token
    path: /forward
    upstream: ${up.url}
    auth: jwt
    forward_token: true
  - name: down
    path: /down
    upstream: ${up.url}
    auth: jwt:down
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  const hs256 = (claims: Record<string, unknown>, opts: { exp?: string | number } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://id.test/')
      .setAudience('orders-api')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(new TextEncoder().encode(SECRET));

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${gw.url}${path}`, { headers });
    const text = await res.text();
    return { res, text, echo: res.status === 200 ? (JSON.parse(text) as Echo) : undefined };
  }

  it('an API key in the header authenticates its consumer; the key never goes upstream', async () => {
    const { res, echo } = await get('/keys', { 'x-api-key': KEY_MOBILE });
    assert.equal(res.status, 200);
    assert.equal(echo!.headers['x-authenticated-user'], 'mobile-app');
    assert.equal(echo!.headers['x-consumer-id'], 'mobile-app');
    assert.equal(echo!.headers['x-authenticated-roles'], 'customer');
    assert.equal(echo!.headers['x-authenticated-tier'], 'pro');
    assert.equal(echo!.headers['x-api-key'], undefined);
  });

  it('an API key in the query parameter works and is removed before forwarding', async () => {
    const { res, echo } = await get(`/keys?a=1&api_key=${KEY_PARTNER}&b=2`);
    assert.equal(res.status, 200);
    assert.equal(echo!.headers['x-consumer-id'], 'acme-partner');
    assert.equal(echo!.url, '/keys?a=1&b=2');
  });

  it('a wrong or missing API key is 401 problem+json with a challenge and a trace id', async () => {
    for (const headers of [{ 'x-api-key': 'pk_wrong' }, {}] as Record<string, string>[]) {
      const { res, text } = await get('/keys', headers);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.match(res.headers.get('www-authenticate') ?? '', /ApiKey realm="portico"/);
      const body = JSON.parse(text) as { type: string; trace_id: string };
      assert.match(body.type, /unauthenticated/);
      assert.ok(body.trace_id);
      assert.ok(!text.includes('pk_wrong'), 'the credential is not echoed');
    }
  });

  it('client-sent identity headers are removed on every route, with or without auth', async () => {
    const spoof = {
      'x-authenticated-user': 'admin',
      'X-Authenticated-Roles': 'admin',
      'x-consumer-id': 'root',
      'x-consumer-custom': 'x',
    };
    const pub = await get('/public', spoof);
    assert.equal(pub.res.status, 200);
    for (const h of Object.keys(spoof)) assert.equal(pub.echo!.headers[h.toLowerCase()], undefined, h);
    const keyed = await get('/keys', { ...spoof, 'x-api-key': KEY_MOBILE });
    assert.equal(keyed.echo!.headers['x-authenticated-user'], 'mobile-app');
    assert.equal(keyed.echo!.headers['x-authenticated-roles'], 'customer');
    assert.equal(keyed.echo!.headers['x-consumer-custom'], undefined);
  });

  it('Connection: X-Authenticated-User neither removes nor smuggles identity headers', async () => {
    const port = gw.port;
    const r = await rawRequest(
      port,
      'GET /keys HTTP/1.1\r\nHost: a\r\nConnection: close, X-Authenticated-User, X-Consumer-Id\r\n' +
        `X-Api-Key: ${KEY_MOBILE}\r\nX-Authenticated-User: evil\r\n\r\n`,
    );
    const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
    const echo = JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)) as Echo;
    assert.equal(echo.headers['x-authenticated-user'], 'mobile-app', 'the gateway-set header arrives');
    assert.equal(echo.headers['x-consumer-id'], 'mobile-app');
    assert.ok(!/x-authenticated-user/i.test(echo.headers['connection'] ?? ''), 'Connection does not name it');
  });

  it('a valid HS256 token authenticates; Authorization is not forwarded', async () => {
    const token = await hs256({ sub: 'user-42', roles: ['customer'], scope: 'orders:read orders:write' });
    const { res, echo } = await get('/jwt', { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    assert.equal(echo!.headers['x-authenticated-user'], 'user-42');
    assert.equal(echo!.headers['x-authenticated-roles'], 'customer');
    assert.equal(echo!.headers['x-authenticated-scopes'], 'orders:read orders:write');
    assert.equal(echo!.headers['authorization'], undefined);
  });

  it('forward_token: true keeps Authorization for the upstream', async () => {
    const token = await hs256({ sub: 'user-42' });
    const { res, echo } = await get('/forward', { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    assert.equal(echo!.headers['authorization'], `Bearer ${token}`);
  });

  it('invalid tokens are 401 with RFC 6750 error="invalid_token" and a description', async () => {
    const expired = await hs256({ sub: 'u' }, { exp: Math.floor(Date.now() / 1000) - 3600 });
    const good = await hs256({ sub: 'u' });
    const [h, p, sig] = good.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', iss: 'https://id.test/', aud: 'orders-api', exp: 9999999999 })).toString('base64url')}.${sig}`;
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
    for (const token of [expired, tampered, none, 'not-a-jwt']) {
      const { res, text } = await get('/jwt', { authorization: `Bearer ${token}` });
      assert.equal(res.status, 401, token);
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer realm="portico", error="invalid_token", error_description="[^"]+"$/);
      assert.ok(!text.includes(token), 'the token is not echoed');
    }
    const missing = await get('/jwt');
    assert.equal(missing.res.status, 401);
    assert.equal(
      missing.res.headers.get('www-authenticate'),
      'Bearer realm="portico"',
      'no error code without credentials (RFC 6750 3.1)',
    );
  });

  it('RS256 from a PEM key, roles from a nested claim, require any → 200 or 403', async () => {
    const sign = (roles: string[]) =>
      new SignJWT({ sub: 'ops-1', realm_access: { roles } })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('https://id.test/')
        .setExpirationTime('5m')
        .sign(rsaPrivate);
    const ok = await get('/rsa', { authorization: `Bearer ${await sign(['ops'])}` });
    assert.equal(ok.res.status, 200);
    assert.equal(ok.echo!.headers['x-authenticated-roles'], 'ops');
    const no = await get('/rsa', { authorization: `Bearer ${await sign(['customer'])}` });
    assert.equal(no.res.status, 403);
    assert.match(no.text, /forbidden/);
    // An RS256 route refuses an HS256 token signed with the RSA public key as its secret (key confusion).
    const pem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey);
    const confused = await new SignJWT({ sub: 'x', realm_access: { roles: ['ops'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://id.test/')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    assert.equal((await get('/rsa', { authorization: `Bearer ${confused}` })).res.status, 401);
  });

  it('require with every role and scope: the partner key passes, the mobile key is 403', async () => {
    assert.equal((await get('/partners', { 'x-api-key': KEY_PARTNER })).res.status, 200);
    assert.equal((await get('/partners', { 'x-api-key': KEY_MOBILE })).res.status, 403);
    const token = await hs256({ sub: 'p', roles: ['partner'], scope: 'orders:read' });
    assert.equal((await get('/partners', { authorization: `Bearer ${token}` })).res.status, 200);
  });

  it('optional auth lets anonymous requests through but still refuses bad keys', async () => {
    const anon = await get('/optional');
    assert.equal(anon.res.status, 200);
    assert.equal(anon.echo!.headers['x-authenticated-user'], undefined);
    assert.equal((await get('/optional', { 'x-api-key': 'pk_bad' })).res.status, 401);
    const keyed = await get('/optional', { 'x-api-key': KEY_MOBILE });
    assert.equal(keyed.echo!.headers['x-consumer-id'], 'mobile-app');
  });

  it("the brief's auth_required: true accepts the configured methods", async () => {
    assert.equal((await get('/seed/x')).res.status, 401);
    assert.equal((await get('/seed/x', { 'x-api-key': KEY_MOBILE })).res.status, 200);
    const token = await hs256({ sub: 'u' });
    assert.equal((await get('/seed/x', { authorization: `Bearer ${token}` })).res.status, 200);
  });

  it('an unreachable identity provider is 503 (not the client’s fault), never 401', async () => {
    const token = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(rsaPrivate);
    const { res, text } = await get('/down', { authorization: `Bearer ${token}` });
    assert.equal(res.status, 503);
    assert.match(text, /auth-unavailable/);
  });

  it('the consumer id reaches the access log', async () => {
    await get('/keys', { 'x-api-key': KEY_MOBILE });
    const line = gw.accessLines().findLast((l) => l.route === 'keys');
    assert.equal(line?.consumer, 'mobile-app');
  });
});

describe('authentication: Basic and forward-auth through the gateway', () => {
  let up: TestUpstream;
  let authServer: TestUpstream;
  let gw: TestGateway;
  let authCalls = 0;
  before(async () => {
    up = await startUpstream();
    authServer = await startUpstream((req, res) => {
      authCalls++;
      if (req.headers['authorization'] === 'Bearer session-ok') {
        res.writeHead(200, { 'x-user-id': 'sso-user', 'x-user-email': 'u@example.com', 'x-internal': 'no' });
        res.end();
      } else {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="sso"' });
        res.end('no');
      }
    });
    const hash = await hashPassword('correct horse battery staple');
    gw = await startTestGateway(`
auth:
  forward_auth:
    sso:
      url: ${authServer.url}/check
      timeout_ms: 1000
      cache_ttl_s: 60
      copy_headers: [X-User-Email]
consumers:
  - id: reporting-job
    roles: [reports]
    password_hash: "${hash}"
routes:
  - name: basic
    path: /basic
    upstream: ${up.url}
    auth: basic
  - name: sso
    path: /sso
    upstream: ${up.url}
    auth: forward_auth:sso
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
    await authServer?.close();
  });

  const basic = (user: string, password: string) =>
    'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

  it('Basic with an scrypt hash: the right password passes, a wrong one is 401 with a Basic challenge', async () => {
    const ok = await fetch(`${gw.url}/basic`, {
      headers: { authorization: basic('reporting-job', 'correct horse battery staple') },
    });
    assert.equal(ok.status, 200);
    const echo = (await ok.json()) as Echo;
    assert.equal(echo.headers['x-authenticated-user'], 'reporting-job');
    assert.equal(echo.headers['authorization'], undefined);
    const bad = await fetch(`${gw.url}/basic`, {
      headers: { authorization: basic('reporting-job', 'nope') },
    });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Basic realm="portico"/);
    await bad.text();
  });

  it('forward-auth: allowed answers copy only the listed headers; refusals pass through; answers are cached', async () => {
    const before = authCalls;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/sso`, { headers: { authorization: 'Bearer session-ok' } });
      assert.equal(res.status, 200);
      const echo = (await res.json()) as Echo;
      assert.equal(echo.headers['x-authenticated-user'], 'sso-user');
      assert.equal(echo.headers['x-user-email'], 'u@example.com');
      assert.equal(echo.headers['x-internal'], undefined, 'not in copy_headers');
      assert.equal(echo.headers['authorization'], undefined);
    }
    assert.equal(authCalls - before, 1, 'one call for three requests with the same credentials');
    const denied = await fetch(`${gw.url}/sso`, { headers: { authorization: 'Bearer stolen' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('www-authenticate'), 'Bearer realm="sso"');
    await denied.text();
  });
});

describe('authentication: consumers file', () => {
  it('a change to auth.consumers_file alone reloads the consumers; an invalid file keeps the old ones', async () => {
    const up = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'portico-consumers-'));
    const file = join(dir, 'consumers.yaml');
    const entry = (id: string, key: string) => `- id: ${id}\n  api_keys: ["${sha(key)}"]\n`;
    writeFileSync(file, entry('first', 'pk_first_key_123'));
    const gw = await startTestGateway(
      `auth:\n  consumers_file: ${file}\nroutes:\n  - name: keys\n    path: /keys\n    upstream: ${up.url}\n    auth: api_key\n`,
    );
    const status = async (key: string) => {
      const res = await fetch(`${gw.url}/keys`, { headers: { 'x-api-key': key } });
      await res.text();
      return res.status;
    };
    try {
      assert.equal(await status('pk_first_key_123'), 200);
      assert.equal(await status('pk_second_key_456'), 401);
      assert.equal((await gw.portico.gateway.reload('test')).status, 'unchanged');
      writeFileSync(file, entry('second', 'pk_second_key_456'));
      assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
      assert.equal(await status('pk_second_key_456'), 200);
      assert.equal(await status('pk_first_key_123'), 401);
      writeFileSync(file, '- id: 12 bad\n  api_keys: [nope]\n');
      const failed = await gw.portico.gateway.reload('test');
      assert.equal(failed.status, 'failed');
      assert.match(JSON.stringify(failed), /consumers/);
      assert.equal(await status('pk_second_key_456'), 200, 'the old consumers keep serving');
    } finally {
      await gw.stop();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('authentication: partner tokens from the gateway token endpoint', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const SECRET_PARTNER = 'partner-client-secret-0123456789';
  before(async () => {
    up = await startUpstream();
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    gw = await startTestGateway(`
auth:
  token_endpoint:
    issuer: https://gateway.test
    ttl_s: 120
    keys:
      - kid: k-2026
        alg: EdDSA
        private_key: |
${pem
  .trim()
  .split('\n')
  .map((l) => '          ' + l)
  .join('\n')}
consumers:
  - id: acme-partner
    tier: partner
    roles: [partner]
    client_secret_hash: "${sha(SECRET_PARTNER)}"
    token_scopes: [orders:read, orders:write]
    token_routes: [partner-orders]
routes:
  - name: partner-orders
    path: /partner/orders
    upstream: ${up.url}
    auth: partner_token
    require: { scopes: ["orders:read"] }
  - name: partner-billing
    path: /partner/billing
    upstream: ${up.url}
    auth: partner_token
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  const tokenRequest = (auth: string, body: string) =>
    fetch(`${gw.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
  const basicAuth = (id: string, secret: string) =>
    'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');

  it('issues a short-lived token for client_credentials; the JWKS publishes only the public key', async () => {
    const res = await tokenRequest(
      basicAuth('acme-partner', SECRET_PARTNER),
      'grant_type=client_credentials&scope=orders:read',
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as {
      access_token: string;
      token_type: string;
      expires_in: number;
      scope: string;
    };
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 120);
    assert.equal(body.scope, 'orders:read');
    const jwks = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as {
      keys: Record<string, unknown>[];
    };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kid, 'k-2026');
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part');

    const ok = await fetch(`${gw.url}/partner/orders`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    assert.equal(ok.status, 200);
    const echo = (await ok.json()) as Echo;
    assert.equal(echo.headers['x-authenticated-user'], 'acme-partner');
    assert.equal(echo.headers['x-authenticated-tier'], 'partner');
    assert.equal(echo.headers['x-authenticated-scopes'], 'orders:read');

    const outOfScope = await fetch(`${gw.url}/partner/billing`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    assert.equal(outOfScope.status, 403, 'a route the token was not issued for');
    await outOfScope.text();
  });

  it('refuses a wrong client secret (401 invalid_client), an unknown grant and a tampered token', async () => {
    const bad = await tokenRequest(basicAuth('acme-partner', 'wrong'), 'grant_type=client_credentials');
    assert.equal(bad.status, 401);
    assert.equal(((await bad.json()) as { error: string }).error, 'invalid_client');
    const grant = await tokenRequest(basicAuth('acme-partner', SECRET_PARTNER), 'grant_type=password');
    assert.equal(grant.status, 400);
    assert.equal(((await grant.json()) as { error: string }).error, 'unsupported_grant_type');
    const res = await tokenRequest(
      basicAuth('acme-partner', SECRET_PARTNER),
      'grant_type=client_credentials',
    );
    const { access_token } = (await res.json()) as { access_token: string };
    const [h, p, s] = access_token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    claims.routes = ['partner-orders', 'partner-billing'];
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    const r = await fetch(`${gw.url}/partner/billing`, { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(r.status, 401);
    await r.text();
  });
});
