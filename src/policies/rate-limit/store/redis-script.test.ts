// Key naming (one hash tag per check, so Redis Cluster accepts the script), the script's arguments and the
// reading of its reply — the parts of the Redis store that need no server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseReply, scriptArgs, stateKeys } from './redis-script.js';
import type { LimitSpec } from './store.js';

/** The part of a key Redis Cluster hashes (https://redis.io/docs/reference/cluster-spec/#hash-tags). */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('stateKeys', () => {
  const cases: readonly (readonly [name: string, keys: string[], expected: string[]])[] = [
    ['one key', ['orders:ip:203.0.113.7'], ['p:{orders:ip:203.0.113.7}:orders:ip:203.0.113.7']],
    [
      'two limits of one subject',
      ['c:acme:s', 'c:acme:h'],
      ['p:{c:acme:s}:c:acme:s', 'p:{c:acme:s}:c:acme:h'],
    ],
    ['braces in the first key are dropped from the tag', ['{x}y', 'z'], ['p:{xy}:{x}y', 'p:{xy}:z']],
    ['an empty first key still makes a tag', ['', 'z'], ['p:{_}:', 'p:{_}:z']],
  ];
  for (const [name, keys, expected] of cases) {
    it(name, () => {
      const got = stateKeys('p:', keys);
      assert.deepEqual(got, expected);
      assert.equal(new Set(got.map(hashedPart)).size, 1, 'one hash tag for the whole check');
      assert.equal(new Set(got).size, keys.length, 'every limit has its own hash');
    });
  }
});

describe('scriptArgs / parseReply', () => {
  const specs: LimitSpec[] = [
    { kind: 'bucket', capacity: 10, refillPerSecond: 5 },
    { kind: 'window', limit: 100, windowMs: 60_000 },
  ];
  it('encodes cost then kind, size, rate per limit', () => {
    assert.deepEqual(scriptArgs(specs, 2), [2, 'b', 10, 5, 'w', 100, 60_000]);
  });
  it('appends a test clock (epoch ms) last, only when one is given', () => {
    assert.deepEqual(scriptArgs(specs, 2, 1_893_456_000_050), [
      2,
      'b',
      10,
      5,
      'w',
      100,
      60_000,
      1_893_456_000_050,
    ]);
  });
  it('reads four integers per limit, waits in µs; -1 means never', () => {
    assert.deepEqual(parseReply([0, 0, -1, -1, 1, 99, 0, 119_999_001], specs), [
      { allowed: false, limit: 10, remaining: 0, retryAfterMs: Infinity, resetMs: Infinity },
      { allowed: true, limit: 100, remaining: 99, retryAfterMs: 0, resetMs: 119_999.001 },
    ]);
  });
  it('refuses a reply of the wrong shape', () => {
    assert.throws(() => parseReply([1, 2, 3], specs), TypeError);
    assert.throws(() => parseReply('OK', specs), TypeError);
  });
});
