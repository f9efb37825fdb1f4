// Age calculation (RFC 9111 §4.2.3): the upstream's Age, the request's round trip, clock skew, and the
// Age field this cache sends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ageHeader, currentAgeMs, initialAgeMs } from './current-age.js';
import type { ResponseHeaders } from './field-value.js';
import { formatHttpDate } from './http-date.js';

const RESPONSE = Date.UTC(2025, 0, 1, 12, 0, 0);
const REQUEST = RESPONSE - 500;

describe('initialAgeMs', () => {
  const date = (offsetMs: number) => formatHttpDate(RESPONSE + offsetMs);
  const cases: readonly (readonly [name: string, headers: ResponseHeaders, expected: number])[] = [
    ['no Age, no Date: the round trip', {}, 500],
    ['Age plus the round trip', { age: '10' }, 10_500],
    ['Date 5 s before arrival: the apparent age', { date: date(-5000) }, 5000],
    ['Date at arrival: the round trip is larger', { date: date(0) }, 500],
    ['Age larger than the time since Date', { age: '100', date: date(-2000) }, 100_500],
    ['Age smaller than the time since Date', { age: '1', date: date(-60_000) }, 60_000],
    ['Date in the future (clock skew) counts as 0', { date: date(3_600_000) }, 500],
    ['clock skew with Age', { age: '7', date: date(3_600_000) }, 7500],
    ['invalid Date is ignored', { age: '2', date: 'yesterday' }, 2500],
    ['invalid Age is ignored', { age: 'abc' }, 500],
    ['negative Age is ignored', { age: '-5' }, 500],
    ['Age with a fraction is ignored', { age: '1.5' }, 500],
    ['Age of 2^31 s and more is capped', { age: '99999999999' }, 2147483648_000 + 500],
    ['Age lines: the first', { age: ['3', '9'] }, 3500],
  ];
  for (const [name, headers, expected] of cases) {
    it(name, () => {
      assert.equal(initialAgeMs(headers, REQUEST, RESPONSE), expected);
    });
  }

  it('a response time before the request time adds no delay', () => {
    assert.equal(initialAgeMs({ age: '1' }, RESPONSE, REQUEST), 1000);
  });
});

describe('currentAgeMs', () => {
  const entry = { initialAgeMs: 1000, responseTime: 10_000 };
  const cases: readonly (readonly [now: number, expected: number])[] = [
    [10_000, 1000],
    [15_000, 6000],
    [9_000, 1000],
  ];
  for (const [now, expected] of cases) {
    it(`at ${now}: ${expected}`, () => {
      assert.equal(currentAgeMs(entry, now), expected);
    });
  }
});

describe('ageHeader', () => {
  const cases: readonly (readonly [ms: number, expected: string])[] = [
    [0, '0'],
    [999, '0'],
    [1000, '1'],
    [1999, '1'],
    [61_500, '61'],
    [-5000, '0'],
    [Number.NaN, '0'],
    [2147483648_000, '2147483648'],
    [1e20, '2147483648'],
    [Infinity, '2147483648'],
  ];
  for (const [ms, expected] of cases) {
    it(`${ms} ms → ${expected}`, () => {
      assert.equal(ageHeader(ms), expected);
    });
  }
});
