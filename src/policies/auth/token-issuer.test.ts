// The partner token issuer's keys and tokens: the JWKS (public members only), verification of the tokens it
// issued (rotation, expiry, tampering, consumers leaving or changing) and every refused key configuration.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { createConsumerDirectory } from './consumers.js';
import type { TokenEndpointConfig } from './schema.js';
import { createTokenIssuer, type PartnerToken } from './token-issuer.js';
import {
  config,
  CONSUMERS,
  json,
  KEY_A,
  KEY_B,
  keyA,
  keyB,
  pkcs8,
  rejected,
  request,
  setup,
  T0,
  tokenFor,
} from './testing.js';

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
