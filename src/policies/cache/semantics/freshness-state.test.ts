// Where a stored response stands over time: fresh, within stale-while-revalidate, within stale-if-error
// only, or stale; must-revalidate closes both windows (RFC 9111 §4.2.4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshnessState, type FreshnessInfo, type FreshnessState } from './freshness-state.js';
import { storability } from './storability.js';

const T = 1_700_000_000_000;

function entry(overrides: Partial<FreshnessInfo>): FreshnessInfo {
  return {
    freshnessMs: 60_000,
    staleWhileRevalidateMs: 0,
    staleIfErrorMs: 0,
    mustRevalidate: false,
    initialAgeMs: 0,
    responseTime: T,
    ...overrides,
  };
}

describe('freshnessState', () => {
  const windows = { staleWhileRevalidateMs: 30_000, staleIfErrorMs: 300_000 };
  const cases: readonly (readonly [
    name: string,
    overrides: Partial<FreshnessInfo>,
    elapsedMs: number,
    expected: FreshnessState,
  ])[] = [
    ['just stored', {}, 0, 'fresh'],
    ['1 ms before expiry', {}, 59_999, 'fresh'],
    ['at expiry, no windows', {}, 60_000, 'stale'],
    ['a clock that went back', {}, -10_000, 'fresh'],
    ['initial age counts', { initialAgeMs: 50_000 }, 10_000, 'stale'],
    ['initial age past the lifetime', { initialAgeMs: 70_000 }, 0, 'stale'],
    ['at expiry, with windows', windows, 60_000, 'stale-while-revalidate'],
    ['inside stale-while-revalidate', windows, 89_999, 'stale-while-revalidate'],
    ['past stale-while-revalidate, inside stale-if-error', windows, 90_000, 'stale-if-error-only'],
    ['at the end of stale-if-error', windows, 360_000, 'stale'],
    [
      'stale-if-error shorter than stale-while-revalidate',
      { staleWhileRevalidateMs: 30_000, staleIfErrorMs: 10_000 },
      80_000,
      'stale-while-revalidate',
    ],
    [
      'past both when stale-if-error is shorter',
      { staleWhileRevalidateMs: 30_000, staleIfErrorMs: 10_000 },
      90_000,
      'stale',
    ],
    ['stale-if-error alone', { staleIfErrorMs: 10_000 }, 65_000, 'stale-if-error-only'],
    ['must-revalidate, fresh', { ...windows, mustRevalidate: true }, 59_999, 'fresh'],
    ['must-revalidate closes stale-while-revalidate', { ...windows, mustRevalidate: true }, 60_000, 'stale'],
    ['must-revalidate closes stale-if-error', { ...windows, mustRevalidate: true }, 100_000, 'stale'],
    [
      'zero lifetime with stale-while-revalidate',
      { freshnessMs: 0, staleWhileRevalidateMs: 5000 },
      0,
      'stale-while-revalidate',
    ],
  ];
  for (const [name, overrides, elapsedMs, expected] of cases) {
    it(name, () => {
      assert.equal(freshnessState(entry(overrides), T + elapsedMs), expected);
    });
  }

  it('takes what storability returns', () => {
    const stored = storability({
      method: 'GET',
      status: 200,
      responseHeaders: {
        'cache-control': 'max-age=10, stale-while-revalidate=5, stale-if-error=60',
        age: '3',
      },
      requestHeaders: () => undefined,
      authenticated: false,
      keyedByConsumer: false,
      ttlOverrideS: undefined,
      requestTime: T,
      responseTime: T,
    });
    assert.ok(stored.storable);
    const states = [0, 6_999, 7_000, 11_999, 12_000, 66_999, 67_000].map((ms) =>
      freshnessState(stored, T + ms),
    );
    assert.deepEqual(states, [
      'fresh',
      'fresh',
      'stale-while-revalidate',
      'stale-while-revalidate',
      'stale-if-error-only',
      'stale-if-error-only',
      'stale',
    ]);
  });

  it('no-cache with stale-while-revalidate is never served stale', () => {
    const stored = storability({
      method: 'GET',
      status: 200,
      responseHeaders: { 'cache-control': 'no-cache, stale-while-revalidate=60' },
      requestHeaders: () => undefined,
      authenticated: false,
      keyedByConsumer: false,
      ttlOverrideS: undefined,
      requestTime: T,
      responseTime: T,
    });
    assert.ok(stored.storable);
    assert.equal(freshnessState(stored, T), 'stale');
  });
});
