// Remote key sets against a real IdP on 127.0.0.1: one fetch shared by the first requests, refresh ahead
// of expiry without making requests wait, unknown kids refetched at most once per cooldown, key rotation,
// cached keys kept while the IdP is down, 503 only when there are no keys at all, and OIDC discovery.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createJwtVerifier, JwtError, type JwtVerifier } from './index.js';
import {
  deadUrl,
  eventually,
  jwtConfig,
  manualClock,
  recordingLog,
  settle,
  signToken,
  startIdp,
  testKey,
  type TestIdp,
  type TestKey,
} from './testing.js';

let keyA: TestKey;
let keyB: TestKey;
let stranger: TestKey;
before(async () => {
  [keyA, keyB, stranger] = await Promise.all([
    testKey('RS256', 'a'),
    testKey('RS256', 'b'),
    testKey('RS256'),
  ]);
});

interface Setup {
  readonly idp: TestIdp;
  readonly verifier: JwtVerifier;
  readonly clock: ReturnType<typeof manualClock>;
  readonly log: ReturnType<typeof recordingLog>;
  /** A new token (never cached) signed by `key`. */
  token(key?: TestKey, kid?: string): Promise<string>;
}

/** Runs `body` against a fresh IdP serving `keys` and a verifier of its JWKS URL; closes both after. */
async function withIdp(
  config: Record<string, unknown>,
  body: (s: Setup) => Promise<void>,
  prepare: (idp: TestIdp) => void = () => {},
): Promise<void> {
  const idp = await startIdp([keyA.jwk]);
  prepare(idp);
  const clock = manualClock(Date.now());
  const log = recordingLog();
  const source = config['discovery'] === true ? { issuer: idp.base } : { jwks_url: idp.jwksUrl };
  const verifier = createJwtVerifier('idp', jwtConfig({ ...source, algorithms: ['RS256'], ...config }), {
    baseDir: process.cwd(),
    log,
    now: clock.now,
  });
  const token = (key = keyA, kid?: string) =>
    signToken(
      key,
      { jti: randomUUID(), iss: idp.base },
      { nowMs: clock.now(), header: kid === undefined ? {} : { kid } },
    );
  try {
    await body({ idp, verifier, clock, log, token });
  } finally {
    verifier.close();
    await idp.close();
  }
}

async function refusal(v: JwtVerifier, token: string): Promise<JwtError> {
  try {
    await v.verify(token);
  } catch (err) {
    assert.ok(err instanceof JwtError, String(err));
    return err;
  }
  assert.fail('the token was accepted');
}

const accepted = async (v: JwtVerifier, token: string) =>
  assert.equal((await v.verify(token)).claims['sub'], 'alice');

describe('JWKS URL: loading and unknown kids', () => {
  it('starts fetching at creation; the first requests all wait for that one fetch', () =>
    withIdp({}, async ({ idp, verifier, token }) => {
      const tokens = await Promise.all(Array.from({ length: 20 }, () => token()));
      await Promise.all(tokens.map((t) => accepted(verifier, t)));
      assert.equal(idp.hits(), 1);
    }));

  it('refetches for a flood of unknown kids at most once per cooldown', () =>
    withIdp({ jwks: { cooldown_s: 30 } }, async ({ idp, verifier, clock, token }) => {
      await accepted(verifier, await token());
      const unknown = () => token(stranger, randomUUID());
      assert.equal((await refusal(verifier, await unknown())).description, 'unknown key id');
      assert.equal(idp.hits(), 1, 'the first fetch started the cooldown');

      clock.advance(31_000);
      const flood = await Promise.all(Array.from({ length: 50 }, unknown));
      const concurrent = await Promise.all(flood.slice(0, 25).map((t) => refusal(verifier, t)));
      for (const t of flood.slice(25)) concurrent.push(await refusal(verifier, t));
      assert.deepEqual(
        new Set(concurrent.map((e) => `${e.kind} ${e.description}`)),
        new Set(['invalid unknown key id']),
      );
      assert.equal(idp.hits(), 2, '50 unknown kids within the cooldown: exactly one refresh');
      await accepted(verifier, await token());

      clock.advance(31_000);
      await refusal(verifier, await unknown());
      assert.equal(idp.hits(), 3);
    }));

  it('accepts a rotated-in key without restart, and drops verifications made with the old keys', () =>
    withIdp({ jwks: { cooldown_s: 10 } }, async ({ idp, verifier, clock, token }) => {
      const old = await token(keyA);
      await accepted(verifier, old);
      assert.ok(!(verifier.verify(old) instanceof Promise), 'cached');

      idp.state.keys = [keyB.jwk];
      clock.advance(10_000);
      await accepted(verifier, await token(keyB));
      assert.equal(idp.hits(), 2);
      assert.equal(
        (await refusal(verifier, old)).description,
        'unknown key id',
        'key a is gone: no longer cached',
      );
    }));

  it('keeps its keys when a refresh brings a document without usable keys', () =>
    withIdp({ jwks: { cooldown_s: 0 } }, async ({ idp, verifier, log, token }) => {
      await accepted(verifier, await token());
      idp.state.keys = [];
      assert.equal((await refusal(verifier, await token(stranger, 'x'))).description, 'unknown key id');
      assert.equal(idp.hits(), 2);
      await accepted(verifier, await token());
      assert.match(String(log.entries[0]?.fields['error']), /no public key for RS256 among its 0 keys/);
    }));
});

describe('JWKS URL: IdP outages', () => {
  it('keeps verifying with cached (even expired) keys while the IdP is down, logging at most once a minute', () =>
    withIdp({ jwks: { cache_ttl_s: 600 } }, async ({ idp, verifier, clock, log, token }) => {
      await accepted(verifier, await token());
      idp.state.mode = 'error';
      const attempts = [700_000, 10_000, 10_000, 61_000];
      for (const [i, step] of attempts.entries()) {
        clock.advance(step);
        await accepted(verifier, await token()); // starts the due refresh in the background
        await idp.waitForHits(i + 2);
        await settle(100); // the 503 is handled and the backoff set before the clock moves on
      }
      assert.equal(
        (await refusal(verifier, await token(stranger, 'new'))).kind,
        'invalid',
        'unknown kid: 401',
      );
      const warnings = log.entries.filter((e) => e.fields['event'] === 'jwks_refresh_failed');
      assert.equal(warnings.length, 2, 'the 1st and the 4th failure (61 s later)');
      assert.deepEqual(
        { ...warnings[0]?.fields, retry_in_ms: undefined },
        {
          event: 'jwks_refresh_failed',
          name: 'idp',
          url: idp.jwksUrl,
          error: 'HTTP 503',
          failures: 1,
          keys_cached: true,
          retry_in_ms: undefined,
        },
      );
      assert.equal(warnings[0]?.level, 'warn');

      idp.state.mode = 'up';
      clock.advance(120_000);
      await accepted(verifier, await token());
      await eventually(() => log.entries.at(-1)?.fields['event'] === 'jwks_refresh_recovered');
      assert.equal(idp.hits(), 6);
    }));

  it('answers unavailable (503), never invalid, when the IdP is down from the start', async () => {
    const log = recordingLog();
    const v = createJwtVerifier('idp', jwtConfig({ jwks_url: await deadUrl(), algorithms: ['RS256'] }), {
      baseDir: process.cwd(),
      log,
    });
    try {
      const err = await refusal(v, await signToken(keyA));
      assert.equal(err.kind, 'unavailable');
      assert.match(String(log.entries[0]?.fields['error']), /fetch failed: ECONNREFUSED/);
      assert.equal(log.entries[0]?.fields['keys_cached'], false);
    } finally {
      v.close();
    }
  });

  it('does not ask a failing IdP again before the backoff ends, then recovers', () =>
    withIdp(
      {},
      async ({ idp, verifier, clock, token }) => {
        assert.equal((await refusal(verifier, await token())).kind, 'unavailable');
        assert.equal((await refusal(verifier, await token())).kind, 'unavailable');
        assert.equal(idp.hits(), 1, 'within the backoff: answered at once, no fetch');
        idp.state.mode = 'up';
        clock.advance(1_000);
        await accepted(verifier, await token());
        assert.equal(idp.hits(), 2);
      },
      (idp) => void (idp.state.mode = 'error'),
    ));

  it('gives up on a fetch after jwks.timeout_ms', () =>
    withIdp(
      { jwks: { timeout_ms: 100 } },
      async ({ verifier, log, token }) => {
        const started = Date.now();
        assert.equal((await refusal(verifier, await token())).kind, 'unavailable');
        assert.ok(Date.now() - started < 3_000, 'well before the default 5 s');
        assert.equal(log.entries[0]?.fields['error'], 'timed out after 100 ms');
      },
      (idp) => void (idp.state.mode = 'hang'),
    ));
});

describe('JWKS URL: lifetime', () => {
  const cases: readonly (readonly [string, string | undefined, Record<string, number>, number])[] = [
    ['max-age less refresh_ahead_s', 'public, max-age=120', { min_ttl_s: 60, refresh_ahead_s: 30 }, 90],
    ['max-age below min_ttl_s, clamped up', 'max-age=5', { min_ttl_s: 60, refresh_ahead_s: 0 }, 60],
    ['no-store as max-age 0, clamped', 'no-store', { min_ttl_s: 40, refresh_ahead_s: 0 }, 40],
    ['cache_ttl_s without Cache-Control', undefined, { cache_ttl_s: 300, refresh_ahead_s: 60 }, 240],
    [
      'half the lifetime when refresh_ahead_s is as long',
      'max-age=60',
      { min_ttl_s: 60, refresh_ahead_s: 60 },
      30,
    ],
  ];
  for (const [why, cacheControl, settings, refreshAfterS] of cases) {
    it(`refreshes after ${refreshAfterS} s: ${why}`, () =>
      withIdp(
        { cache_size: 0, jwks: settings },
        async ({ idp, verifier, clock, token }) => {
          await accepted(verifier, await token());
          clock.advance(refreshAfterS * 1000 - 1);
          await accepted(verifier, await token());
          await settle();
          assert.equal(idp.hits(), 1, 'not yet');
          clock.advance(1);
          await accepted(verifier, await token());
          await idp.waitForHits(2);
        },
        (idp) => void (idp.state.cacheControl = cacheControl),
      ));
  }

  it('refreshes on its own timer, and requests never wait for that refresh', () =>
    withIdp(
      { cache_size: 0, jwks: { cache_ttl_s: 1, min_ttl_s: 0, refresh_ahead_s: 0 } },
      async ({ idp, verifier, token }) => {
        await accepted(verifier, await token());
        idp.state.mode = 'hang';
        await idp.waitForHits(2); // the timer's refresh, about 1 s later, now hanging
        const started = performance.now();
        await accepted(verifier, await token());
        assert.ok(
          performance.now() - started < 1_000,
          'answered from the cached keys, not after the hung fetch',
        );
      },
    ));

  it('stops fetching once closed', () =>
    withIdp({ cache_size: 0 }, async ({ idp, verifier, clock, token }) => {
      await accepted(verifier, await token());
      verifier.close();
      clock.advance(3_600_000);
      await accepted(verifier, await token());
      await settle(50);
      assert.equal(idp.hits(), 1);
    }));
});

describe('OIDC discovery', () => {
  it('finds the JWKS through the issuer and keeps the configuration for its lifetime', () =>
    withIdp({ discovery: true, jwks: { cooldown_s: 0 } }, async ({ idp, verifier, token }) => {
      await accepted(verifier, await token());
      await refusal(verifier, await token(stranger, 'unknown')); // a JWKS refresh
      assert.equal(idp.hits('/.well-known/openid-configuration'), 1);
      assert.equal(idp.hits('/jwks'), 2);
    }));

  it('strips a trailing slash from the issuer to build the discovery URL', async () => {
    const idp = await startIdp([keyA.jwk]);
    idp.state.issuer = `${idp.base}/`;
    const v = createJwtVerifier(
      'd',
      jwtConfig({ discovery: true, issuer: `${idp.base}/`, algorithms: ['RS256'] }),
      {
        baseDir: process.cwd(),
        log: recordingLog(),
      },
    );
    try {
      await accepted(v, await signToken(keyA, { iss: `${idp.base}/` }));
      assert.equal(idp.hits('/.well-known/openid-configuration'), 1);
    } finally {
      v.close();
      await idp.close();
    }
  });

  it('refuses a configuration that names another issuer (OIDC Discovery §4.3)', () =>
    withIdp(
      { discovery: true },
      async ({ verifier, log, token }) => {
        assert.equal((await refusal(verifier, await token())).kind, 'unavailable');
        assert.match(String(log.entries[0]?.fields['error']), /names issuer "https:\/\/evil\.test"/);
        assert.match(String(log.entries[0]?.fields['url']), /openid-configuration$/);
      },
      (idp) => void (idp.state.issuer = 'https://evil.test'),
    ));
});
