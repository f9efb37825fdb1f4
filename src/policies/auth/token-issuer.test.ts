// The partner token endpoint end to end without a socket: real keys, real Exchanges, real jose. Pins the
// RFC 6749 error codes, the token's claims, the JWKS (public members only), rotation and every refusal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importPKCS8,
  jwtVerify,
  SignJWT,
  type JWK,
} from 'jose';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { testExchange } from '../../pipeline/testing.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { createConsumerDirectory } from './consumers.js';
import { hashApiKey, hashPassword } from './passwords.js';
import type { Consumer, TokenEndpointConfig } from './schema.js';
import { createTokenIssuer, TokenRejected, type PartnerToken, type TokenIssuer } from './token-issuer.js';

const FORM = 'application/x-www-form-urlencoded';
const T0 = Date.UTC(2030, 0, 1);

function pkcs8(kind: 'ed25519' | 'P-256' | 'P-384' | 'rsa'): string {
  const pair =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: kind });
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

const KEY_A = pkcs8('ed25519');
const KEY_B = pkcs8('P-256');
const keyA = { kid: 'a', alg: 'EdDSA' as const, private_key: KEY_A };
const keyB = { kid: 'b', alg: 'ES256' as const, private_key: KEY_B };

function consumer(c: Partial<Consumer> & { id: string }): Consumer {
  return { roles: [], scopes: [], metadata: {}, api_keys: [], token_scopes: [], token_routes: [], ...c };
}

const SECRET = 'partner-secret-0123456789';
const ODD_SECRET = 'p:a s+%é';
const PW = 'correct horse';
const PW_HASH = await hashPassword(PW, { cost: 4 });
const CONSUMERS: readonly Consumer[] = [
  consumer({
    id: 'acme',
    tier: 'gold',
    roles: ['partner'],
    metadata: { region: 'eu' },
    client_secret_hash: hashApiKey(SECRET),
    token_scopes: ['orders:read', 'orders:write'],
    token_routes: ['orders', 'invoices'],
  }),
  consumer({ id: 'odd.co', client_secret_hash: hashApiKey(ODD_SECRET), token_scopes: ['x'] }),
  consumer({ id: 'slow', client_secret_hash: PW_HASH, token_scopes: ['a'], token_routes: ['r'] }),
  consumer({ id: 'nosecret', token_scopes: ['a'] }),
];

function config(keys: TokenEndpointConfig['keys']): TokenEndpointConfig {
  return {
    path: '/oauth/token',
    jwks_path: '/.well-known/jwks.json',
    issuer: 'https://api.example.com',
    audience: 'portico',
    ttl_s: 300,
    keys,
  };
}

interface Setup {
  issuer: TokenIssuer;
  clock: { t: number };
  known: Map<string, Consumer>;
}

async function setup(
  keys: TokenEndpointConfig['keys'] = [keyA],
  known?: Map<string, Consumer>,
): Promise<Setup> {
  const clock = { t: T0 };
  const map = known ?? new Map(CONSUMERS.map((c) => [c.id, c]));
  const issuer = await createTokenIssuer(
    config(keys),
    { byId: (id) => map.get(id) },
    {
      baseDir: process.cwd(),
      now: () => clock.t,
    },
  );
  return { issuer, clock, known: map };
}

/** A request to the token endpoint; testExchange has no method parameter, so it is set here. */
function request(
  body: string,
  headers: string[] = [],
  contentType: string | null = FORM,
  method = 'POST',
): Exchange {
  const ex = testExchange(contentType === null ? headers : ['Content-Type', contentType, ...headers]);
  Object.defineProperty(ex, 'method', { value: method });
  ex.requestBody = Readable.from([Buffer.from(body)]);
  return ex;
}

function basic(id: string, secret: string): string[] {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return ['Authorization', 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')];
}

function json(res: GatewayResponse): Record<string, unknown> {
  assert.equal(typeof res.body, 'string');
  return JSON.parse(res.body as string) as Record<string, unknown>;
}

async function tokenFor(issuer: TokenIssuer, body = 'grant_type=client_credentials'): Promise<string> {
  const res = await issuer.handleToken(request(body, basic('acme', SECRET)));
  assert.equal(res.status, 200, String(res.body));
  return json(res).access_token as string;
}

async function rejected(issuer: TokenIssuer, token: string): Promise<string> {
  try {
    await issuer.verify(token);
  } catch (err) {
    assert.ok(err instanceof TokenRejected, String(err));
    return err.description;
  }
  assert.fail('the token was accepted');
}

describe('token endpoint: issuing', () => {
  it('client_secret_basic: 200 with an at+jwt Bearer token and no-store headers', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(request('grant_type=client_credentials', basic('acme', SECRET)));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['pragma'], 'no-cache');
    const body = json(res);
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 300);
    assert.equal(body.scope, 'orders:read orders:write');
    const token = body.access_token as string;
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'EdDSA', kid: 'a', typ: 'at+jwt' });
    const claims = decodeJwt(token);
    assert.equal(claims.iss, 'https://api.example.com');
    assert.equal(claims.aud, 'portico');
    assert.equal(claims.sub, 'acme');
    assert.equal(claims.client_id, 'acme');
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + 300);
    assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(claims.scope, 'orders:read orders:write');
    assert.deepEqual(claims.routes, ['orders', 'invoices']);
    assert.notEqual(decodeJwt(await tokenFor(issuer)).jti, claims.jti);
  });

  it('the token verifies: identity from the consumer, scopes and routes from the token', async () => {
    const { issuer } = await setup();
    const result = await issuer.verify(
      await tokenFor(issuer, 'grant_type=client_credentials&scope=orders%3Aread'),
    );
    assert.deepEqual(result, {
      identity: {
        id: 'acme',
        method: 'partner_token',
        configName: 'partner_token',
        tier: 'gold',
        roles: ['partner'],
        scopes: ['orders:read'],
        metadata: { region: 'eu' },
      },
      routes: ['orders', 'invoices'],
    });
  });

  it('client_secret_post with a scrypt secret', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(
      request(`grant_type=client_credentials&client_id=slow&client_secret=${encodeURIComponent(PW)}`),
    );
    assert.equal(res.status, 200);
    const claims = decodeJwt(json(res).access_token as string);
    assert.equal(claims.sub, 'slow');
    assert.deepEqual(claims.routes, ['r']);
  });

  it('Basic credentials are form-urlencoded before base64 (RFC 6749 2.3.1), charset parameter accepted', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(
      request('grant_type=client_credentials', basic('odd.co', ODD_SECRET), `${FORM}; charset=UTF-8`),
    );
    assert.equal(res.status, 200, String(res.body));
    assert.equal(json(res).scope, 'x');
  });

  it('scope narrows the grant; repeated scope tokens count once; none requested grants all', async () => {
    const { issuer } = await setup();
    const cases: readonly (readonly [string, string])[] = [
      ['', 'orders:read orders:write'],
      ['&scope=', 'orders:read orders:write'],
      ['&scope=orders%3Awrite', 'orders:write'],
      ['&scope=orders%3Awrite+orders%3Aread+orders%3Awrite', 'orders:write orders:read'],
    ];
    for (const [extra, granted] of cases) {
      const res = await issuer.handleToken(
        request('grant_type=client_credentials' + extra, basic('acme', SECRET)),
      );
      assert.equal(res.status, 200, extra);
      assert.equal(json(res).scope, granted, extra);
      const verified = await issuer.verify(json(res).access_token as string);
      assert.deepEqual(verified.identity.scopes, granted.split(' '), extra);
    }
  });
});

describe('token endpoint: refusals (RFC 6749 5.2)', () => {
  const GRANT = 'grant_type=client_credentials';
  const cases: readonly {
    readonly name: string;
    readonly body: string;
    readonly headers?: string[];
    readonly contentType?: string | null;
    readonly status: number;
    readonly error: string;
  }[] = [
    {
      name: 'JSON content type',
      body: '{}',
      contentType: 'application/json',
      status: 400,
      error: 'invalid_request',
    },
    { name: 'no content type', body: GRANT, contentType: null, status: 400, error: 'invalid_request' },
    {
      name: 'grant_type missing',
      body: 'scope=x',
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'grant_type empty',
      body: 'grant_type=',
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'grant_type repeated',
      body: `${GRANT}&${GRANT}`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'scope repeated',
      body: `${GRANT}&scope=a&scope=b`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'both credential forms',
      body: `${GRANT}&client_id=acme&client_secret=${SECRET}`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'client_secret without client_id',
      body: `${GRANT}&client_secret=x`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'malformed Basic credentials',
      body: GRANT,
      headers: ['Authorization', 'Basic ' + Buffer.from('no-colon').toString('base64')],
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'two Authorization headers',
      body: GRANT,
      headers: [...basic('acme', SECRET), ...basic('acme', SECRET)],
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'password grant',
      body: 'grant_type=password&username=u&password=p',
      headers: basic('acme', SECRET),
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      name: 'unknown client',
      body: GRANT,
      headers: basic('nobody', SECRET),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'client without client_secret_hash',
      body: GRANT,
      headers: basic('nosecret', SECRET),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'wrong secret (Basic)',
      body: GRANT,
      headers: basic('acme', SECRET + 'x'),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'wrong secret (body, scrypt)',
      body: `${GRANT}&client_id=slow&client_secret=wrong`,
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'client_id without secret',
      body: `${GRANT}&client_id=acme`,
      status: 401,
      error: 'invalid_client',
    },
    { name: 'no client authentication', body: GRANT, status: 401, error: 'invalid_client' },
    {
      name: 'Bearer instead of Basic',
      body: GRANT,
      headers: ['Authorization', 'Bearer abc'],
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'scope not grantable',
      body: `${GRANT}&scope=orders%3Aread+admin`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'malformed scope token',
      body: `${GRANT}&scope=${encodeURIComponent('orders"read')}`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'body over 8 KiB',
      body: `${GRANT}&pad=${'x'.repeat(8_200)}`,
      headers: basic('acme', SECRET),
      status: 413,
      error: 'invalid_request',
    },
    {
      name: 'Content-Length over 8 KiB (not read)',
      body: GRANT,
      headers: ['Content-Length', '9000', ...basic('acme', SECRET)],
      status: 413,
      error: 'invalid_request',
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.error}`, async () => {
      const { issuer } = await setup();
      const res = await issuer.handleToken(
        request(c.body, c.headers ?? [], c.contentType === undefined ? FORM : c.contentType),
      );
      assert.equal(res.status, c.status);
      const body = json(res);
      assert.equal(body.error, c.error);
      assert.equal(typeof body.error_description, 'string');
      // RFC 6749 5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
      assert.match(body.error_description as string, /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.problem, 'token-' + c.error.replace(/_/g, '-'));
      const challenge = c.status === 401 ? 'Basic realm="portico"' : undefined;
      assert.equal(res.headers['www-authenticate'], challenge);
    });
  }

  it('a body stream that fails → 400 invalid_request', async () => {
    const { issuer } = await setup();
    const ex = request('', basic('acme', SECRET));
    ex.requestBody = new Readable({
      read() {
        this.destroy(new Error('client went away'));
      },
    });
    const res = await issuer.handleToken(ex);
    assert.equal(res.status, 400);
    assert.equal(json(res).error, 'invalid_request');
  });

  it('an oversized body is drained, not left paused', async () => {
    const { issuer } = await setup();
    const ex = request('', basic('acme', SECRET));
    const stream = Readable.from(
      (function* () {
        for (let i = 0; i < 20; i++) yield Buffer.alloc(1024, 'x');
      })(),
    );
    ex.requestBody = stream;
    const res = await issuer.handleToken(ex);
    assert.equal(res.status, 413);
    if (!stream.readableEnded) await new Promise<void>((done) => stream.once('end', done));
    assert.equal(stream.readableEnded, true);
  });

  it('non-POST → 405 with Allow: POST', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(request('', [], FORM, 'GET'));
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'POST');
  });
});

describe('JWKS', () => {
  const PRIVATE = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv'];

  it('publishes every key with kid, alg and use "sig", and public members only', async () => {
    const { issuer } = await setup([keyB, keyA]);
    const ex = request('', [], null, 'GET');
    const res = issuer.handleJwks(ex);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=300');
    assert.equal(res.headers['content-type'], 'application/json');
    const { keys } = json(res) as { keys: JWK[] };
    assert.equal(keys.length, 2);
    assert.deepEqual(Object.keys(keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.deepEqual(
      [keys[0]!.kid, keys[0]!.alg, keys[0]!.kty, keys[0]!.crv, keys[0]!.use],
      ['b', 'ES256', 'EC', 'P-256', 'sig'],
    );
    assert.deepEqual(Object.keys(keys[1]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.deepEqual(
      [keys[1]!.kid, keys[1]!.alg, keys[1]!.kty, keys[1]!.crv],
      ['a', 'EdDSA', 'OKP', 'Ed25519'],
    );
    for (const key of keys) for (const member of PRIVATE) assert.equal(member in key, false, member);
  });

  it('a client can verify issued tokens with the published JWKS', async () => {
    const { issuer } = await setup([keyB, keyA]);
    const token = await tokenFor(issuer);
    const { keys } = json(issuer.handleJwks(request('', [], null, 'GET'))) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys }), {
      issuer: 'https://api.example.com',
      audience: 'portico',
      currentDate: new Date(T0),
    });
    assert.equal(protectedHeader.kid, 'b');
    assert.equal(payload.sub, 'acme');
  });

  it('HEAD is answered like GET; POST → 405 with Allow: GET, HEAD', async () => {
    const { issuer } = await setup();
    assert.equal(issuer.handleJwks(request('', [], null, 'HEAD')).status, 200);
    const res = issuer.handleJwks(request('', [], null, 'POST'));
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'GET, HEAD');
  });
});

describe('verify', () => {
  it('rotation: [B, A] accepts tokens of A and signs with B; without A they are refused', async () => {
    const old = await tokenFor((await setup([keyA])).issuer);
    const rotated = (await setup([keyB, keyA])).issuer;
    assert.equal((await rotated.verify(old)).identity.id, 'acme');
    const fresh = await tokenFor(rotated);
    assert.deepEqual(decodeProtectedHeader(fresh), { alg: 'ES256', kid: 'b', typ: 'at+jwt' });
    const retired = (await setup([keyB])).issuer;
    assert.equal((await retired.verify(fresh)).identity.id, 'acme');
    assert.equal(await rejected(retired, old), 'token algorithm is not allowed');
    // The same algorithm but another key under the old kid: still refused.
    const other = (await setup([{ ...keyA, private_key: pkcs8('ed25519') }])).issuer;
    assert.equal(await rejected(other, old), 'token signature is invalid');
    const otherKid = (await setup([{ ...keyA, kid: 'c' }])).issuer;
    assert.equal(await rejected(otherKid, old), 'token key is unknown');
  });

  it('expiry: accepted within the 30 s skew, refused after it, also from the cache', async () => {
    const { issuer, clock } = await setup();
    const token = await tokenFor(issuer);
    const first = await issuer.verify(token);
    const second = issuer.verify(token);
    assert.equal(second instanceof Promise, false, 'a cache hit is synchronous');
    assert.deepEqual(second, first);
    clock.t = T0 + (300 + 29) * 1000;
    assert.equal((await issuer.verify(token)).identity.id, 'acme');
    clock.t = T0 + (300 + 30) * 1000;
    assert.equal(await rejected(issuer, token), 'token expired');
    const uncached = await setup();
    uncached.clock.t = T0 + (300 + 29) * 1000;
    assert.equal((await uncached.issuer.verify(token)).identity.id, 'acme');
    const later = await setup();
    later.clock.t = T0 + (300 + 30) * 1000;
    assert.equal(await rejected(later.issuer, token), 'token expired');
  });

  it('a tampered token is refused (payload or signature changed)', async () => {
    const { issuer } = await setup();
    const [h, p, s] = (await tokenFor(issuer)).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'admin' })).toString('base64url');
    assert.equal(await rejected(issuer, `${h}.${forged}.${s}`), 'token signature is invalid');
    const sig = Buffer.from(s, 'base64url');
    sig[0] = sig[0]! ^ 1;
    assert.equal(
      await rejected(issuer, `${h}.${p}.${sig.toString('base64url')}`),
      'token signature is invalid',
    );
    assert.equal(await rejected(issuer, 'not.a.jwt'), 'token is malformed');
    assert.equal(await rejected(issuer, 'x'.repeat(9_000)), 'token too large');
  });

  it('a token of a consumer removed from the config is refused, cached or not', async () => {
    const known = new Map(CONSUMERS.map((c) => [c.id, c]));
    const { issuer } = await setup([keyA], known);
    const token = await tokenFor(issuer);
    await issuer.verify(token);
    known.delete('acme');
    assert.equal(await rejected(issuer, token), 'token client is no longer known');
    const reloaded = (await setup([keyA], new Map())).issuer;
    assert.equal(await rejected(reloaded, token), 'token client is no longer known');
  });

  it('a consumer changed in the config: the identity follows it', async () => {
    const known = new Map(CONSUMERS.map((c) => [c.id, c]));
    const { issuer } = await setup([keyA], known);
    const token = await tokenFor(issuer);
    await issuer.verify(token);
    known.set('acme', { ...known.get('acme')!, tier: 'silver' });
    assert.equal((await issuer.verify(token)).identity.tier, 'silver');
  });

  it('alg "none" and an HMAC token keyed with the public key are refused', async () => {
    const { issuer } = await setup();
    const claims = decodeJwt(await tokenFor(issuer));
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsecured = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'a' })}.${b64(claims)}.`;
    assert.equal(await rejected(issuer, unsecured), 'token algorithm is not allowed');
    const { keys } = json(issuer.handleJwks(request('', [], null, 'GET'))) as { keys: JWK[] };
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'a', typ: 'at+jwt' })
      .sign(Buffer.from(keys[0]!.x!, 'base64url'));
    assert.equal(await rejected(issuer, hs), 'token algorithm is not allowed');
  });

  it('tokens with the right key but wrong iss, aud, typ or claims are refused', async () => {
    const { issuer } = await setup();
    const key = await importPKCS8(KEY_A, 'EdDSA');
    const iat = T0 / 1000;
    const base = { client_id: 'acme', scope: 'orders:read', routes: ['orders'] };
    const sign = (
      claims: Record<string, unknown>,
      o: { iss?: string; aud?: string; typ?: string; sub?: string } = {},
    ) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid: 'a', typ: o.typ ?? 'at+jwt' })
        .setIssuer(o.iss ?? 'https://api.example.com')
        .setAudience(o.aud ?? 'portico')
        .setSubject(o.sub ?? 'acme')
        .setIssuedAt(iat)
        .setExpirationTime(iat + 60)
        .setJti('j')
        .sign(key);
    assert.equal((await issuer.verify(await sign(base))).identity.id, 'acme');
    assert.equal(
      await rejected(issuer, await sign(base, { iss: 'https://evil.example' })),
      'token iss claim is not accepted',
    );
    assert.equal(
      await rejected(issuer, await sign(base, { aud: 'other' })),
      'token aud claim is not accepted',
    );
    assert.equal(await rejected(issuer, await sign(base, { typ: 'JWT' })), 'token typ claim is not accepted');
    assert.equal(await rejected(issuer, await sign(base, { sub: 'slow' })), 'token claims are malformed');
    assert.equal(
      await rejected(issuer, await sign({ ...base, routes: 'orders' })),
      'token claims are malformed',
    );
    assert.equal(await rejected(issuer, await sign({ ...base, scope: ['a'] })), 'token claims are malformed');
  });
});

describe('key configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-token-'));
  writeFileSync(join(dir, 'a.pem'), KEY_A);
  const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    type: 'sec1',
    format: 'pem',
  });

  it('private_key_file is read relative to baseDir', async () => {
    const issuer = await createTokenIssuer(
      config([{ kid: 'a', alg: 'EdDSA', private_key_file: 'a.pem' }]),
      createConsumerDirectory(CONSUMERS),
      { baseDir: dir, now: () => T0 },
    );
    const token = await tokenFor(issuer);
    assert.equal(((await issuer.verify(token)) as PartnerToken).identity.id, 'acme');
  });

  const bad: readonly (readonly [string, TokenEndpointConfig['keys'], RegExp])[] = [
    ['no key at all', [], /at least one signing key/],
    [
      'neither private_key nor file',
      [{ kid: 'a', alg: 'EdDSA' }],
      /private_key or private_key_file is required/,
    ],
    [
      'both private_key and private_key_file',
      [{ kid: 'a', alg: 'EdDSA', private_key: KEY_A, private_key_file: 'a.pem' }],
      /not both/,
    ],
    [
      'unreadable file',
      [{ kid: 'a', alg: 'EdDSA', private_key_file: 'missing.pem' }],
      /cannot read .*missing\.pem/,
    ],
    [
      'EdDSA with a P-256 key',
      [{ kid: 'a', alg: 'EdDSA', private_key: KEY_B }],
      /EdDSA needs an Ed25519 key, this is ec prime256v1/,
    ],
    [
      'ES256 with an Ed25519 key',
      [{ kid: 'a', alg: 'ES256', private_key: KEY_A }],
      /ES256 needs a P-256.*this is ed25519/,
    ],
    [
      'ES256 with a P-384 key',
      [{ kid: 'a', alg: 'ES256', private_key: pkcs8('P-384') }],
      /this is ec secp384r1/,
    ],
    ['an RSA key', [{ kid: 'a', alg: 'EdDSA', private_key: pkcs8('rsa') }], /this is rsa/],
    [
      'a SEC1 (not PKCS#8) PEM',
      [{ kid: 'a', alg: 'ES256', private_key: sec1.toString() }],
      /not a PKCS#8 PEM/,
    ],
    [
      'a broken PEM',
      [
        {
          kid: 'a',
          alg: 'EdDSA',
          private_key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
        },
      ],
      /cannot parse the private key/,
    ],
    ['a kid used twice', [keyA, { ...keyB, kid: 'a' }], /kid "a" is used twice/],
  ];
  for (const [name, keys, message] of bad) {
    it(`refused at load time: ${name}`, async () => {
      await assert.rejects(
        createTokenIssuer(config(keys), createConsumerDirectory(CONSUMERS), { baseDir: dir }),
        (err: unknown) => err instanceof PolicyConfigError && message.test(err.message),
      );
    });
  }

  it('a bad key later in the list is refused too (every key is checked, not just the signer)', async () => {
    await assert.rejects(
      createTokenIssuer(
        config([keyA, { kid: 'b', alg: 'ES256', private_key: KEY_A }]),
        createConsumerDirectory([]),
        {
          baseDir: dir,
        },
      ),
      (err: unknown) => err instanceof PolicyConfigError && err.path.join('.') === 'keys.1.alg',
    );
  });
});
