// The config stores only hashes of credentials: these pin the hash formats, that verification never throws
// on a bad hash, bcrypt compatibility, and that the verification cache remembers successes only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import {
  createPasswordVerifier,
  generateApiKey,
  hashApiKey,
  hashPassword,
  passwordHashIssue,
  verifyPassword,
} from './passwords.js';

const SCRYPT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;
/** The ConsumerSchema.password_hash pattern: every hash made here must pass the config schema. */
const SCHEMA_PATTERN = /^(\$2[aby]\$\d\d\$.{53}|scrypt\$.+)$/;

describe('hashPassword / verifyPassword', () => {
  it('scrypt: default parameters, 16-byte salt, 32-byte key, round trip', async () => {
    const hash = await hashPassword('correct horse');
    const m = SCRYPT.exec(hash);
    assert.ok(m, hash);
    assert.deepEqual([m[1], m[2], m[3]], ['16384', '8', '1']);
    assert.equal(Buffer.from(m[4]!, 'base64url').length, 16);
    assert.equal(Buffer.from(m[5]!, 'base64url').length, 32);
    assert.match(hash, SCHEMA_PATTERN);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(passwordHashIssue(hash), undefined);
  });

  const wrong: readonly (readonly [string, string])[] = [
    ['another password', 'different'],
    ['correct hors', 'prefix'],
    ['correct horse ', 'trailing space'],
    ['', 'empty'],
    ['Correct horse', 'case'],
  ];
  for (const [attempt, why] of wrong) {
    it(`scrypt: refuses a wrong password (${why})`, async () => {
      const hash = await hashPassword('correct horse', { cost: 10 });
      assert.equal(await verifyPassword(attempt, hash), false);
    });
  }

  it('scrypt: salts differ, cost sets N, non-ASCII passwords round-trip', async () => {
    const a = await hashPassword('pässwörd ✓', { cost: 10 });
    const b = await hashPassword('pässwörd ✓', { cost: 10 });
    assert.notEqual(a, b);
    assert.match(a, /^scrypt\$N=1024,r=8,p=1\$/);
    assert.equal(await verifyPassword('pässwörd ✓', a), true);
    assert.equal(await verifyPassword('pässwörd ✓', b), true);
  });

  it('bcrypt hashes made by bcryptjs verify ($2a$, $2b$, and $2y$ as PHP writes it)', async () => {
    const b = await bcrypt.hash('s3cret', 4);
    assert.match(b, /^\$2b\$04\$/);
    const a = '$2a$' + b.slice(4);
    const y = '$2y$' + b.slice(4);
    for (const hash of [b, a, y]) {
      assert.match(hash, SCHEMA_PATTERN);
      assert.equal(await verifyPassword('s3cret', hash), true, hash);
      assert.equal(await verifyPassword('s3cret!', hash), false, hash);
      assert.equal(passwordHashIssue(hash), undefined);
    }
  });

  it('bcrypt: hashPassword({ algorithm: "bcrypt" }) round-trips and refuses passwords bcrypt would truncate', async () => {
    const hash = await hashPassword('s3cret', { algorithm: 'bcrypt', cost: 4 });
    assert.match(hash, /^\$2b\$04\$/);
    assert.equal(await verifyPassword('s3cret', hash), true);
    await assert.rejects(hashPassword('x'.repeat(73), { algorithm: 'bcrypt', cost: 4 }), RangeError);
    await assert.rejects(hashPassword('x', { algorithm: 'bcrypt', cost: 3 }), RangeError);
    await assert.rejects(hashPassword('x', { cost: 21 }), RangeError);
  });

  const SALT = Buffer.alloc(16, 1).toString('base64url');
  const KEY = Buffer.alloc(32, 2).toString('base64url');
  const malformed: readonly (readonly [string, string])[] = [
    ['', 'empty'],
    ['plaintext', 'not a hash'],
    ['scrypt$', 'bare prefix'],
    [`scrypt$N=16384,r=8$${SALT}$${KEY}`, 'missing p'],
    [`scrypt$N=1000,r=8,p=1$${SALT}$${KEY}`, 'N not a power of two'],
    [`scrypt$N=1,r=8,p=1$${SALT}$${KEY}`, 'N = 1'],
    [`scrypt$N=2097152,r=8,p=1$${SALT}$${KEY}`, 'N = 2^21, beyond the bound'],
    [`scrypt$N=1048576,r=8,p=1$${SALT}$${KEY}`, 'N × r needs 1 GiB'],
    [`scrypt$N=16384,r=0,p=1$${SALT}$${KEY}`, 'r = 0'],
    [`scrypt$N=16384,r=8,p=99$${SALT}$${KEY}`, 'p beyond the bound'],
    [`scrypt$N=16384,r=8,p=1$${SALT}$AAAA`, 'key too short'],
    [`scrypt$N=16384,r=8,p=1$AAAA$${KEY}`, 'salt too short'],
    [`scrypt$N=16384,r=8,p=1$${SALT}$${KEY}$extra`, 'extra field'],
    [`scrypt$N=16384,r=8,p=1$${SALT}$${KEY.slice(0, -1)}!`, 'not base64url'],
    [`scrypt$N=16384,r=8,p=1$${SALT}$${KEY}=`, 'padded base64'],
    ['$2b$10$short', 'bcrypt too short'],
    ['$2x$10$' + 'a'.repeat(53), 'unknown bcrypt variant'],
    ['$2b$31$' + 'a'.repeat(53), 'bcrypt cost 31 would run for hours'],
    ['$2b$03$' + 'a'.repeat(53), 'bcrypt cost below 4'],
    ['$2b$10$' + '!'.repeat(53), 'bcrypt with characters outside its alphabet'],
  ];
  for (const [hash, why] of malformed) {
    it(`a malformed hash matches nothing and does not throw: ${why}`, async () => {
      assert.equal(await verifyPassword('password', hash), false);
      assert.equal(typeof passwordHashIssue(hash), 'string');
    });
  }

  it('a well-formed scrypt hash of another password is simply false', async () => {
    assert.equal(await verifyPassword('password', `scrypt$N=1024,r=8,p=1$${SALT}$${KEY}`), false);
  });
});

describe('API keys', () => {
  it('hashApiKey is sha256:<hex> of the UTF-8 key', () => {
    const key = 'pk_example-ключ';
    const expected = 'sha256:' + createHash('sha256').update(Buffer.from(key, 'utf8')).digest('hex');
    assert.equal(hashApiKey(key), expected);
    assert.match(hashApiKey(key), /^sha256:[0-9a-f]{64}$/);
  });

  it('generateApiKey: pk_ + 32 random bytes in base64url, never the same twice', () => {
    const keys = new Set(Array.from({ length: 100 }, generateApiKey));
    assert.equal(keys.size, 100);
    for (const k of keys) {
      assert.match(k, /^pk_[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(k.slice(3), 'base64url').length, 32);
    }
  });
});

/** Whether `p` is settled already: a settled promise's reaction runs before that of one settled after it. */
async function settledAtOnce(p: Promise<unknown>): Promise<boolean> {
  const later = Symbol('later');
  return (await Promise.race([p, Promise.resolve(later)])) !== later;
}

describe('createPasswordVerifier', () => {
  it('remembers a success: the second verification costs microseconds, not a scrypt', async () => {
    const hash = await hashPassword('correct horse');
    const v = createPasswordVerifier({ cacheSize: 10, ttlMs: 60_000 });
    let t = performance.now();
    assert.equal(await v.verify('correct horse', hash), true);
    const miss = performance.now() - t;
    const hits: number[] = [];
    for (let i = 0; i < 20; i++) {
      t = performance.now();
      assert.equal(await v.verify('correct horse', hash), true);
      hits.push(performance.now() - t);
    }
    hits.sort((a, b) => a - b);
    const hit = hits[10]!;
    assert.ok(hit * 20 < miss, `hit ${hit.toFixed(4)} ms vs miss ${miss.toFixed(2)} ms`);
    assert.equal(v.size, 1);
  });

  it('does not remember failures, and the right password still works afterwards', async () => {
    const hash = await hashPassword('right', { cost: 10 });
    const v = createPasswordVerifier({ cacheSize: 10, ttlMs: 60_000 });
    assert.equal(await v.verify('wrong', hash), false);
    assert.equal(await v.verify('wrong', hash), false);
    assert.equal(v.size, 0);
    assert.equal(await v.verify('right', hash), true);
    assert.equal(v.size, 1);
    assert.equal(await v.verify('wrong', hash), false, 'a cached success says nothing about other passwords');
  });

  it('a remembered password does not match another hash', async () => {
    const h1 = await hashPassword('same', { cost: 10 });
    const h2 = await hashPassword('other', { cost: 10 });
    const v = createPasswordVerifier({ cacheSize: 10, ttlMs: 60_000 });
    assert.equal(await v.verify('same', h1), true);
    assert.equal(await v.verify('same', h2), false);
  });

  it('forgets after the TTL (the hash is computed again)', async () => {
    let clock = 1_000;
    const hash = await hashPassword('pw', { cost: 10 });
    const v = createPasswordVerifier({ cacheSize: 10, ttlMs: 500, now: () => clock });
    assert.equal(await v.verify('pw', hash), true);
    clock += 499;
    assert.equal(await v.verify('pw', hash), true);
    assert.equal(v.size, 1);
    clock += 2;
    const expired = v.verify('pw', hash);
    assert.equal(v.size, 0, 'the expired entry is dropped before the new verification');
    assert.equal(await expired, true);
    assert.equal(v.size, 1);
  });

  it('holds at most cacheSize entries, dropping the least recently used', async () => {
    const hashes = await Promise.all(['a', 'b', 'c'].map((p) => hashPassword(p, { cost: 4 })));
    const v = createPasswordVerifier({ cacheSize: 2, ttlMs: 60_000 });
    await v.verify('a', hashes[0]!);
    await v.verify('b', hashes[1]!);
    await v.verify('a', hashes[0]!); // a is now the most recent
    await v.verify('c', hashes[2]!);
    assert.equal(v.size, 2);
    // Remembered or not, told without a clock (timing a cost-4 hash against a cache hit is at the mercy of
    // the scheduler on a busy machine): a remembered pair is answered at once, with a settled promise; a
    // forgotten one waits for its hash to be computed again.
    assert.equal(await settledAtOnce(v.verify('a', hashes[0]!)), true, 'a stayed cached');
    const b = v.verify('b', hashes[1]!);
    assert.equal(await settledAtOnce(b), false, 'b was evicted: its hash is computed again');
    assert.equal(await b, true);
  });

  it('shares one verification among identical requests in flight', async () => {
    const hash = await hashPassword('pw', { cost: 12 });
    const v = createPasswordVerifier({ cacheSize: 0, ttlMs: 0 });
    const all = Array.from({ length: 5 }, () => v.verify('pw', hash));
    assert.equal(new Set(all).size, 1, 'one promise');
    assert.deepEqual(await Promise.all(all), [true, true, true, true, true]);
    assert.equal(v.size, 0, 'cacheSize 0 remembers nothing');
  });
});
