// Portico against a real OpenID provider (oidc-provider, as certified by the OpenID Foundation), end to end
// over real sockets: the gateway finds the keys by OIDC discovery, verifies the provider's client_credentials
// JWT access tokens (RFC 9068 at+jwt) and passes the identity upstream; it follows a key rotation without a
// restart (unknown kid → one refresh per cooldown, however many made-up kids arrive), drops a retired key,
// keeps verifying with cached keys while the provider is down, and refuses a token minted for another API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const CLIENT_ID = 'partner';
const CLIENT_SECRET = randomBytes(32).toString('base64url');
const COOLDOWN_MS = 1_000;

/** The resource servers the provider knows (RFC 8707 resource indicators) and the `aud` it gives each. */
const RESOURCES: Readonly<Record<string, { audience: string; scope: string }>> = {
  'https://orders.api': { audience: 'orders-api', scope: 'orders:read' },
  'https://billing.api': { audience: 'billing-api', scope: 'billing:read' },
};

// oidc-provider ships no type declarations: the little of it used here, typed locally.
interface OidcProvider {
  callback(): http.RequestListener;
  on(event: 'server_error', listener: (ctx: unknown, err: Error) => void): unknown;
}
interface OidcProviderModule {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: { InvalidTarget: new (description?: string) => Error };
}

/** Runs `fn` with console.warn/info muted: oidc-provider prints its development notices there. */
async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const { warn, info } = console;
  console.warn = console.info = () => {};
  try {
    return await fn();
  } finally {
    Object.assign(console, { warn, info });
  }
}

interface Idp {
  readonly issuer: string;
  readonly port: number;
  /** Requests per path, across restarts of the provider. */
  hits(path: string): number;
  /** When the JWKS was last fetched (epoch ms). */
  lastJwksFetchAt(): number;
  readonly serverErrors: Error[];
  /** Stops the running provider (the port goes dark) and, with `keys`, starts a new one on the same port. */
  restart(keys?: { jwks: JWK[]; signWith: string }): Promise<void>;
  close(): Promise<void>;
}

const JWKS_PATH = '/jwks';

/**
 * oidc-provider on 127.0.0.1: client `partner` (client_credentials, client_secret_basic), JWT access tokens
 * for the resource servers in RESOURCES signed with the key `signWith`, `jwks` as its signing keys.
 */
async function startIdp(mod: OidcProviderModule, jwks: JWK[], signWith: string): Promise<Idp> {
  const counts = new Map<string, number>();
  const serverErrors: Error[] = [];
  let lastJwksFetchAt = 0;
  let server: http.Server | undefined;
  let port = 0;
  let issuer = '';

  const configuration = (keys: JWK[], kid: string): Record<string, unknown> => ({
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://orders.api',
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          const rs = RESOURCES[indicator];
          if (rs === undefined) throw new mod.errors.InvalidTarget();
          return { ...rs, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256', kid } } };
        },
      },
    },
    ttl: { ClientCredentials: 600, AccessToken: 600 },
  });

  async function listen(keys: JWK[], kid: string): Promise<void> {
    const next = http.createServer();
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', resolve);
    });
    port = (next.address() as AddressInfo).port;
    issuer = `http://127.0.0.1:${port}`;
    const provider = await quietly(() => new mod.Provider(issuer, configuration(keys, kid)));
    provider.on('server_error', (_ctx, err) => serverErrors.push(err));
    const handle = provider.callback();
    next.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const path = new URL(req.url ?? '/', issuer).pathname;
      counts.set(path, (counts.get(path) ?? 0) + 1);
      if (path === JWKS_PATH) lastJwksFetchAt = Date.now();
      void handle(req, res);
    });
    server = next;
  }

  async function stop(): Promise<void> {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  await listen(jwks, signWith);
  return {
    get issuer() {
      return issuer;
    },
    get port() {
      return port;
    },
    hits: (path) => counts.get(path) ?? 0,
    lastJwksFetchAt: () => lastJwksFetchAt,
    serverErrors,
    async restart(keys) {
      await stop();
      if (keys !== undefined) await listen(keys.jwks, keys.signWith);
    },
    close: stop,
  };
}

/** An RS256 key pair as oidc-provider wants it: a private JWK with kid, alg and use. */
async function rsaKey(kid: string) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { jwk, privateKey };
}

/**
 * A request to the provider on a new connection: the provider restarts during the test, and a pooled
 * keep-alive socket to the stopped instance would fail the first request after a restart.
 */
function idpRequest(
  url: string,
  form?: { authorization: string; 'content-type': string; body: string },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const { body, ...headers } = form ?? { body: undefined };
    const req = http.request(url, { method: form ? 'POST' : 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Echo {
  headers: Record<string, string | undefined>;
}

describe('a real OpenID provider (oidc-provider)', () => {
  let mod: OidcProviderModule;
  let idp: Idp;
  let up: TestUpstream;
  let gw: TestGateway;
  let k1: JWK;
  let k2: JWK;
  let stranger: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  /** A token obtained and presented while k1 signed. */
  let k1Token: string;
  let tokenEndpoint: string;

  before(async () => {
    // A variable specifier: the package has no types, so the import is typed by the interface above.
    // Importing it prints a notice that Node 20 is not the LTS line it targets.
    const specifier = 'oidc-provider';
    mod = await quietly(() => import(specifier) as Promise<OidcProviderModule>);
    const keys = await Promise.all([rsaKey('k1'), rsaKey('k2'), rsaKey('attacker')]);
    [k1, k2] = [keys[0].jwk, keys[1].jwk];
    stranger = keys[2].privateKey;
    idp = await startIdp(mod, [k1], 'k1');
    up = await startUpstream();
    gw = await startTestGateway(`
auth:
  jwt:
    default:
      issuer: ${idp.issuer}
      discovery: true
      audience: orders-api
      algorithms: [RS256]
      jwks: { cooldown_s: ${COOLDOWN_MS / 1000}, timeout_ms: 1000 }
routes:
  - name: orders
    path_prefix: /orders
    upstream: ${up.url}
    auth: jwt
`);
    const discovery = await idpRequest(`${idp.issuer}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
    const config = JSON.parse(discovery.text) as Record<string, unknown>;
    assert.equal(config['issuer'], idp.issuer);
    assert.equal(config['jwks_uri'], `${idp.issuer}${JWKS_PATH}`);
    tokenEndpoint = String(config['token_endpoint']);
  });

  after(async () => {
    await gw?.stop();
    await up?.close();
    await idp?.close();
  });

  /** An access token from the provider's token endpoint: client_credentials, client_secret_basic. */
  async function obtainToken(resource = 'https://orders.api', scope = RESOURCES[resource]!.scope) {
    const { status, text } = await idpRequest(tokenEndpoint, {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
    });
    assert.equal(status, 200, `token endpoint: ${text} ${idp.serverErrors.map(String).join('; ')}`);
    const body = JSON.parse(text) as { access_token: string; token_type: string };
    assert.equal(body.token_type, 'Bearer');
    return body.access_token;
  }

  async function callOrders(token: string) {
    const res = await fetch(`${gw.url}/orders/42`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return {
      status: res.status,
      challenge: res.headers.get('www-authenticate') ?? '',
      text,
      echo: res.status === 200 ? (JSON.parse(text) as Echo) : undefined,
    };
  }

  async function assertAccepted(token: string, what: string) {
    const r = await callOrders(token);
    assert.equal(r.status, 200, `${what}: ${r.status} ${r.challenge} ${r.text}`);
    return r.echo!;
  }

  /** Waits until the gateway's unknown-kid cooldown has passed since the provider last served its JWKS. */
  async function waitOutCooldown() {
    const wait = idp.lastJwksFetchAt() + COOLDOWN_MS + 150 - Date.now();
    if (wait > 0) await sleep(wait);
  }

  /** A token valid in every respect (issuer, audience, expiry) but signed by a key nobody published. */
  const madeUpKidToken = () =>
    new SignJWT({ scope: 'orders:read', client_id: CLIENT_ID })
      .setProtectedHeader({ alg: 'RS256', kid: randomUUID(), typ: 'at+jwt' })
      .setIssuer(idp.issuer)
      .setAudience('orders-api')
      .setSubject(CLIENT_ID)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(stranger);

  it('verifies a client_credentials access token found through discovery; the upstream sees its identity', async () => {
    k1Token = await obtainToken();
    const header = decodeProtectedHeader(k1Token);
    const claims = decodeJwt(k1Token);
    assert.deepEqual([header.alg, header.kid, header.typ], ['RS256', 'k1', 'at+jwt']);
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, 'orders-api');
    assert.equal(claims.sub, CLIENT_ID, 'oidc-provider names the client as sub for client_credentials');

    const echo = await assertAccepted(k1Token, 'k1 token');
    assert.equal(echo.headers['x-authenticated-user'], CLIENT_ID);
    assert.equal(echo.headers['x-consumer-id'], CLIENT_ID);
    assert.deepEqual(echo.headers['x-authenticated-scopes']?.split(' '), ['orders:read']);
    assert.equal(echo.headers['authorization'], undefined, 'the token stays at the gateway');
    assert.ok(idp.hits('/.well-known/openid-configuration') >= 1, 'the gateway used discovery');
    assert.equal(idp.hits(JWKS_PATH), 1, 'one JWKS fetch serves the first tokens');
    assert.equal((await callOrders('')).status, 401);
  });

  it('refuses a token the same provider minted for another API (audience)', async () => {
    const billing = await obtainToken('https://billing.api');
    assert.equal(decodeJwt(billing).aud, 'billing-api');
    const r = await callOrders(billing);
    assert.equal(r.status, 401);
    assert.match(r.challenge, /error="invalid_token", error_description="audience mismatch"/);
  });

  it('follows a key rotation without a restart, and a burst of unknown kids costs one JWKS fetch', async () => {
    // The provider restarts on the same port, now signing with k2 and still publishing k1.
    await idp.restart({ jwks: [k2, k1], signWith: 'k2' });
    const k2Token = await obtainToken();
    assert.equal(decodeProtectedHeader(k2Token).kid, 'k2');
    await waitOutCooldown();
    const before = idp.hits(JWKS_PATH);
    await assertAccepted(k2Token, 'k2 token after rotation');
    assert.equal(idp.hits(JWKS_PATH), before + 1, 'the unknown kid k2 made the gateway refetch once');
    // The new key set replaced the old one (verifications cleared): k1 still verifies, as published.
    await assertAccepted(k1Token, 'k1 token, k1 still published');

    // 30 made-up kids at once, then 30 more one by one: refused, and the provider barely notices.
    await waitOutCooldown();
    const burstFrom = idp.hits(JWKS_PATH);
    const started = Date.now();
    const burst = await Promise.all(Array.from({ length: 30 }, madeUpKidToken));
    const concurrent = await Promise.all(burst.map(callOrders));
    const sequential = [];
    for (let i = 0; i < 30; i++) sequential.push(await callOrders(await madeUpKidToken()));
    const elapsed = Date.now() - started;
    for (const r of [...concurrent, ...sequential]) {
      assert.equal(r.status, 401);
      assert.match(r.challenge, /error_description="unknown key id"/);
    }
    const fetches = idp.hits(JWKS_PATH) - burstFrom;
    // One refresh per cooldown: the first unknown kid fetches, the rest join it or wait for the cooldown.
    assert.ok(fetches >= 1, 'the first unknown kid after the cooldown refetches');
    assert.ok(
      fetches <= 1 + Math.floor(elapsed / COOLDOWN_MS),
      `${fetches} JWKS fetches for 60 unknown kids in ${elapsed} ms (cooldown ${COOLDOWN_MS} ms)`,
    );
    assert.ok(fetches <= 2, `${fetches} JWKS fetches for 60 unknown kids`);
    await assertAccepted(k2Token, 'k2 token after the burst');
  });

  it('drops a retired key once the provider stops publishing it', async () => {
    await idp.restart({ jwks: [k2], signWith: 'k2' });
    await assertAccepted(k1Token, 'k1 token, key set not refreshed yet');
    // The next refresh (here: an unknown kid after the cooldown) brings the set without k1.
    await waitOutCooldown();
    const before = idp.hits(JWKS_PATH);
    assert.equal((await callOrders(await madeUpKidToken())).status, 401);
    assert.equal(idp.hits(JWKS_PATH), before + 1);
    const r = await callOrders(k1Token);
    assert.equal(r.status, 401, 'a token verified with a retired key is not answered from the cache');
    assert.match(r.challenge, /error_description="unknown key id"/);
    await assertAccepted(await obtainToken(), 'a fresh k2 token');
  });

  it('keeps verifying with cached keys while the provider is down', async () => {
    const presented = await obtainToken();
    await assertAccepted(presented, 'token presented before the outage');
    const unseen = [await obtainToken(), await obtainToken()];
    assert.notEqual(unseen[0], unseen[1]);
    await idp.restart(); // stopped, not restarted: the port refuses connections
    const refused = await idpRequest(`${idp.issuer}${JWKS_PATH}`).then(
      () => false,
      () => true,
    );
    assert.ok(refused, 'the provider is down');

    await assertAccepted(presented, 'a token seen before (verification cache)');
    // Never presented, so not in the verification cache: a real signature check with the cached keys.
    const echo = await assertAccepted(unseen[0]!, 'a new token signed before the outage');
    assert.equal(echo.headers['x-authenticated-user'], CLIENT_ID);

    // An unknown kid makes the gateway try the provider; the failure is the client's 401, not a 503,
    // and the cached keys survive it.
    await waitOutCooldown();
    const r = await callOrders(await madeUpKidToken());
    assert.equal(r.status, 401, `${r.status} ${r.text}`);
    assert.match(r.challenge, /error_description="unknown key id"/);
    await assertAccepted(unseen[1]!, 'another new token after a failed refresh');
    const warning = gw.logs.find((l) => l['event'] === 'jwks_refresh_failed');
    assert.ok(warning, 'the failed refresh is logged');
    assert.equal(warning['keys_cached'], true);
    assert.deepEqual(idp.serverErrors, []);
  });
});
