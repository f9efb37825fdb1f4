// The verification cache (an ExpiringCache keyed by hashToken) is bounded and never returns an expired
// entry: these pin eviction order (oldest first, in O(1)), expiry at the exact millisecond, and clearing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ExpiringCache } from '../../../lib/expiring-cache.js';
import { hashToken } from './verification-cache.js';

describe('verification cache (ExpiringCache)', () => {
  it('returns an entry strictly before its end, and drops it after', () => {
    const cache = new ExpiringCache<string>(10);
    cache.set('k', 'v', 1000);
    assert.equal(cache.get('k', 999), 'v');
    assert.equal(cache.get('k', 1000), undefined);
    assert.equal(cache.size, 0);
  });

  it('evicts the oldest insert once full, through any number of rounds', () => {
    const cache = new ExpiringCache<number>(3);
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, i, Infinity);
    assert.equal(cache.size, 3);
    assert.deepEqual(
      [996, 997, 998, 999].map((i) => cache.get(`k${i}`, 0)),
      [undefined, 997, 998, 999],
    );
  });

  it('stays bounded when entries expire and tokens come back', () => {
    const cache = new ExpiringCache<number>(2);
    cache.set('a', 1, 10);
    assert.equal(cache.get('a', 10), undefined);
    cache.set('a', 2, 100);
    cache.set('b', 3, 100);
    cache.set('c', 4, 100);
    assert.ok(cache.size <= 2);
    assert.equal(cache.get('c', 0), 4);
  });

  it('forgets everything on clear', () => {
    const cache = new ExpiringCache<number>(2);
    cache.set('a', 1, 100);
    cache.clear();
    assert.equal(cache.get('a', 0), undefined);
    cache.set('b', 2, 100);
    cache.set('c', 3, 100);
    assert.equal(cache.get('b', 0), 2);
  });

  it('keys by SHA-256 of the token', () => {
    assert.equal(hashToken('abc'), createHash('sha256').update('abc').digest('binary'));
    assert.equal(hashToken('abc').length, 32);
  });
});
