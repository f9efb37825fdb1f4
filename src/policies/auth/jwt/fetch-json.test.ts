// How long an IdP document may be kept comes from its Cache-Control and Age headers (RFC 9111): these pin
// the parsing, including the malformed values that must not extend a lifetime.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeFetchError, parseMaxAge } from './fetch-json.js';

describe('parseMaxAge', () => {
  const cases: readonly (readonly [string | null, string | null, number | undefined])[] = [
    [null, null, undefined],
    ['public', null, undefined],
    ['max-age=300', null, 300],
    ['public, MAX-AGE = 300 , must-revalidate', null, 300],
    ['max-age="60"', null, 60],
    ['max-age=300', '100', 200],
    ['max-age=300', '400', 0],
    ['max-age=300', 'soon', 300],
    ['max-age=-5', null, undefined],
    ['max-age=1.5', null, undefined],
    ['max-age', null, undefined],
    ['no-cache', null, 0],
    ['max-age=300, no-store', null, 0],
    ['s-maxage=300', null, undefined],
  ];
  for (const [cacheControl, age, expected] of cases) {
    it(`${JSON.stringify(cacheControl)} with Age ${JSON.stringify(age)} → ${expected}`, () => {
      assert.equal(parseMaxAge(cacheControl, age), expected);
    });
  }
});

describe('describeFetchError', () => {
  it('names the network error behind "fetch failed"', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(describeFetchError(new TypeError('fetch failed', { cause })), 'fetch failed: ECONNREFUSED');
    assert.equal(describeFetchError(new Error('HTTP 500')), 'HTTP 500');
    assert.equal(describeFetchError('odd'), 'odd');
  });
});
