// The verifier must refuse every forged, stale or misdirected token with the right short reason, and must
// answer a repeated token from its cache exactly as long as a fresh check would accept it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SILENT_LOG } from '../../../pipeline/testing.js';
import { createJwtVerifier, JwtError, type JwtVerifier, type VerifiedToken } from './index.js';
import {
  jwtConfig,
  manualClock,
  rawHs256Token,
  seconds,
  signToken,
  testKey,
  unsignedToken,
  type TestKey,
} from './testing.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const HS = { alg: 'HS256' as const, secret: new TextEncoder().encode(SECRET) };
const deps = { baseDir: process.cwd(), log: SILENT_LOG };

const created: JwtVerifier[] = [];
after(() => created.forEach((v) => v.close()));

function verifier(partial: Record<string, unknown>, now?: () => number): JwtVerifier {
  const v = createJwtVerifier('default', jwtConfig(partial), { ...deps, now });
  created.push(v);
  return v;
}

/** The JwtError a verify call ends in (thrown or rejected); fails when it succeeds. */
async function refusal(v: JwtVerifier, token: string): Promise<JwtError> {
  try {
    await v.verify(token);
  } catch (err) {
    assert.ok(err instanceof JwtError, `a JwtError, not ${String(err)}`);
    return err;
  }
  assert.fail('the token was accepted');
}

async function assertRefused(v: JwtVerifier, token: string, description: string): Promise<void> {
  const err = await refusal(v, token);
  assert.equal(err.kind, 'invalid');
  assert.equal(err.description, description);
}

function tamper(token: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.');
  const changed = { ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), ...claims };
  return `${header}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${signature}`;
}

let rsa: TestKey;
let ec: TestKey;
let other: TestKey;
before(async () => {
  [rsa, ec, other] = await Promise.all([testKey('RS256'), testKey('ES256'), testKey('RS256')]);
});

describe('JWT verifier: accepted tokens', () => {
  const algorithms = ['RS256', 'PS384', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
  for (const alg of algorithms) {
    it(`verifies ${alg} with a PEM public key`, async () => {
      const key = await testKey(alg);
      const inferred = alg === 'PS384' ? { algorithms: ['PS384'] } : {};
      const v = verifier({ public_key: key.publicPem, ...inferred });
      const token = await signToken(key, { roles: ['admin'] });
      const result = await v.verify(token);
      assert.equal(result.claims['sub'], 'alice');
      assert.equal(result.expiresAt, (result.claims['exp'] as number) * 1000);
      assert.ok(Object.isFrozen(result.claims) && Object.isFrozen(result.claims['roles']));
    });
  }

  it('verifies HS256 with a secret', async () => {
    const result = await verifier({ secret: SECRET }).verify(await signToken(HS));
    assert.equal(result.claims['sub'], 'alice');
  });

  it('verifies a key of a JWKS file (relative to baseDir), also without kid when several keys fit', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'jwks-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const second = await testKey('RS256');
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [rsa.jwk, second.jwk, ec.jwk] }));
    const v = createJwtVerifier('f', jwtConfig({ jwks_file: 'keys.json', algorithms: ['RS256', 'ES256'] }), {
      ...deps,
      baseDir: dir,
    });
    created.push(v);
    for (const key of [rsa, second, ec])
      assert.equal((await v.verify(await signToken(key))).claims['sub'], 'alice');
    const noKid = await signToken(second, {}, { header: { kid: undefined } });
    assert.equal((await v.verify(noKid)).claims['sub'], 'alice');
    await assertRefused(v, await signToken(other), 'unknown key id');
    await assertRefused(v, await signToken(other, {}, { header: { kid: undefined } }), 'signature invalid');
  });

  it('checks issuer and audience (one of a list) when configured', async () => {
    const v = verifier({ secret: SECRET, issuer: 'https://idp.test', audience: ['api', 'admin'] });
    const ok = await signToken(HS, { iss: 'https://idp.test', aud: ['other', 'admin'] });
    assert.equal((await v.verify(ok)).claims['sub'], 'alice');
  });
});

describe('JWT verifier: attacks and bad tokens', () => {
  it('refuses an unsigned token (alg none), for every key source', async () => {
    const token = unsignedToken({ sub: 'alice', exp: seconds(Date.now()) + 60 });
    await assertRefused(verifier({ secret: SECRET }), token, 'algorithm not allowed');
    await assertRefused(verifier({ public_key: rsa.publicPem }), token, 'algorithm not allowed');
  });

  it('refuses an HS256 token whose secret is the RSA public key PEM (key confusion)', async () => {
    const forged = await signToken({ alg: 'HS256', secret: new TextEncoder().encode(rsa.publicPem) });
    const v = verifier({ public_key: rsa.publicPem, algorithms: ['RS256'] });
    assert.throws(
      () => v.verify(forged),
      { description: 'algorithm not allowed' },
      'refused before any crypto',
    );
  });

  it('refuses an RS256 token against an HS256 config', async () => {
    await assertRefused(verifier({ secret: SECRET }), await signToken(rsa), 'algorithm not allowed');
  });

  it('refuses a tampered payload and a token signed by another key', async () => {
    const v = verifier({ public_key: rsa.publicPem });
    await assertRefused(v, tamper(await signToken(rsa), { sub: 'root' }), 'signature invalid');
    await assertRefused(v, await signToken(other), 'signature invalid');
  });

  it('ignores keys a token brings along (jwk, jku, x5u headers)', async () => {
    const attacker = await testKey('RS256');
    const header = { jwk: attacker.jwk, jku: 'https://evil.test/jwks', x5u: 'https://evil.test/cert' };
    const v = verifier({ public_key: rsa.publicPem });
    await assertRefused(v, await signToken(attacker, {}, { header }), 'signature invalid');
  });

  it('refuses a critical header extension it does not understand (RFC 7515 §4.1.11)', async () => {
    const payload = JSON.stringify({ sub: 'alice', exp: seconds(Date.now()) + 60 });
    const token = rawHs256Token({ crit: ['exp-2030'], 'exp-2030': true }, payload, SECRET);
    await assertRefused(verifier({ secret: SECRET }), token, 'unsupported token');
  });

  it('freezes deeply nested claims without overflowing the stack', async () => {
    const v = verifier({ secret: SECRET, max_token_bytes: 65_536 });
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const payload = `{"sub":"alice","exp":${seconds(Date.now()) + 60},"deep":${deep}}`;
    const result = await v.verify(rawHs256Token({}, payload, SECRET));
    assert.ok(Object.isFrozen(result.claims['deep']));
  });

  const clock = manualClock();
  const now = clock.now();
  const claimCases: readonly (readonly [string, Record<string, unknown>, Record<string, unknown>, string])[] =
    [
      ['expired', {}, { exp: seconds(now) - 31 }, 'token expired'],
      ['not yet valid', {}, { nbf: seconds(now) + 31 }, 'token not yet valid'],
      [
        'from another issuer',
        { issuer: 'https://idp.test' },
        { iss: 'https://evil.test' },
        'issuer mismatch',
      ],
      ['without iss when an issuer is expected', { issuer: 'https://idp.test' }, {}, 'missing claim iss'],
      ['for another audience', { audience: 'api' }, { aud: 'other' }, 'audience mismatch'],
      ['without exp', {}, { exp: undefined }, 'missing claim exp'],
      ['with a string exp', {}, { exp: 'tomorrow' }, 'invalid claim exp'],
      ['without a required claim', { required_claims: ['tenant'] }, {}, 'missing claim tenant'],
      ['without sub', {}, { sub: undefined }, 'missing claim sub'],
      ['with a numeric sub', {}, { sub: 42 }, 'invalid claim sub'],
      ['without the consumer claim', { consumer_claim: 'client_id' }, {}, 'missing claim client_id'],
    ];
  for (const [why, config, claims, description] of claimCases) {
    it(`refuses a token ${why}: "${description}"`, async () => {
      const v = verifier({ secret: SECRET, ...config }, clock.now);
      await assertRefused(v, await signToken(HS, claims, { nowMs: now }), description);
    });
  }

  it('accepts exp and nbf within clock_skew_s', async () => {
    const v = verifier({ secret: SECRET, clock_skew_s: 30 }, clock.now);
    for (const claims of [{ exp: seconds(now) - 29 }, { nbf: seconds(now) + 30 }])
      assert.equal((await v.verify(await signToken(HS, claims, { nowMs: now }))).claims['sub'], 'alice');
  });

  it('refuses an oversized token before parsing it, synchronously', () => {
    const v = verifier({ secret: SECRET, max_token_bytes: 128 });
    assert.throws(() => v.verify('x'.repeat(129)), { description: 'token too large' });
  });

  const malformed: readonly (readonly [string, string])[] = [
    ['', 'malformed token'],
    ['abc', 'malformed token'],
    ['a.b.c', 'malformed token'],
    ['e30.e30.', 'algorithm not allowed'], // header {} names no algorithm
    // jose checks the signature over the encoded parts before decoding the payload.
    ['eyJhbGciOiJIUzI1NiJ9.!!!.sig', 'signature invalid'],
  ];
  for (const [token, description] of malformed) {
    it(`refuses malformed token ${JSON.stringify(token)}: "${description}"`, async () => {
      await assertRefused(verifier({ secret: SECRET }), token, description);
    });
  }

  it('refuses a payload that is not a JSON object', async () => {
    const [header] = (await signToken(HS)).split('.');
    const { createHmac } = await import('node:crypto');
    const body = Buffer.from('[1,2]').toString('base64url');
    const sig = createHmac('sha256', SECRET).update(`${header}.${body}`).digest('base64url');
    await assertRefused(verifier({ secret: SECRET }), `${header}.${body}.${sig}`, 'malformed token');
  });
});

describe('JWT verifier: verification cache', () => {
  it('answers a repeated token synchronously with the same result', async () => {
    const v = verifier({ public_key: rsa.publicPem });
    const token = await signToken(rsa);
    const first = v.verify(token);
    assert.ok(first instanceof Promise, 'a miss is asynchronous');
    const result = await first;
    const again = v.verify(token);
    assert.equal(again, result, 'a hit is synchronous');
  });

  it('stops answering from the cache exactly when a fresh check would refuse (exp + skew)', async () => {
    const clock = manualClock();
    const v = verifier({ secret: SECRET, clock_skew_s: 30 }, clock.now);
    const exp = seconds(clock.now()) + 10;
    const token = await signToken(HS, { exp }, { nowMs: clock.now() });
    await v.verify(token);
    clock.advance((exp + 30) * 1000 - clock.now() - 1);
    assert.ok(!(v.verify(token) instanceof Promise), 'cached 1 ms before the end');
    clock.advance(1);
    await assertRefused(v, token, 'token expired');
  });

  it('keeps a long-lived token at most five minutes before checking it again', async () => {
    const clock = manualClock();
    const v = verifier({ secret: SECRET }, clock.now);
    const token = await signToken(HS, {}, { nowMs: clock.now() });
    await v.verify(token);
    clock.advance(5 * 60_000 - 1);
    assert.ok(!(v.verify(token) instanceof Promise));
    clock.advance(1);
    assert.ok(v.verify(token) instanceof Promise);
  });

  it('holds at most cache_size tokens, the oldest leaving first; 0 turns it off', async () => {
    const v = verifier({ secret: SECRET, cache_size: 2 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => signToken(HS, { sub })));
    for (const t of [a, b, c]) await v.verify(t ?? '');
    assert.ok(v.verify(a ?? '') instanceof Promise, 'a was evicted');
    assert.ok(!(v.verify(c ?? '') instanceof Promise), 'c is cached');

    const off = verifier({ secret: SECRET, cache_size: 0 });
    await off.verify(a ?? '');
    assert.ok(off.verify(a ?? '') instanceof Promise);
  });

  it('never caches a refusal', async () => {
    const clock = manualClock();
    const v = verifier({ secret: SECRET, clock_skew_s: 0 }, clock.now);
    const token = await signToken(HS, { nbf: seconds(clock.now()) + 5 }, { nowMs: clock.now() });
    await assertRefused(v, token, 'token not yet valid');
    clock.advance(5000);
    const result: VerifiedToken = await v.verify(token);
    assert.equal(result.claims['sub'], 'alice');
  });
});
