// Quotas in the memory store: counted per UTC calendar period on the wall clock, restored all at once when
// the next period begins, charged only with every other limit of the check, swept once their period ends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LimitSpec } from './store.js';
import { createMemoryRateLimitStore } from './memory.js';

const daily = (limit: number): LimitSpec => ({ kind: 'quota', limit, period: 'day' });
const monthly = (limit: number): LimitSpec => ({ kind: 'quota', limit, period: 'month' });

function clocks(startIso: string) {
  let wall = Date.parse(startIso);
  let mono = 1_000;
  return {
    wall: () => wall,
    mono: () => mono,
    advance(ms: number) {
      wall += ms;
      mono += ms;
    },
  };
}

describe('memory store: quotas', () => {
  it('counts to the limit, refuses until the next UTC day, then starts again', () => {
    const c = clocks('2026-11-28T23:59:00Z');
    const store = createMemoryRateLimitStore({ now: c.mono, wallClock: c.wall, sweepIntervalMs: 0 });
    for (let left = 2; left >= 0; left--) {
      const [r] = store.check(['q'], [daily(3)], 1);
      assert.deepEqual(
        [r?.allowed, r?.limit, r?.remaining, r?.retryAfterMs, r?.resetMs],
        [true, 3, left, 0, 60_000],
      );
    }
    c.advance(59_000);
    const [refused] = store.check(['q'], [daily(3)], 1);
    assert.deepEqual(
      [refused?.allowed, refused?.remaining, refused?.retryAfterMs, refused?.resetMs],
      [false, 0, 1000, 1000],
    );
    c.advance(999);
    assert.equal(store.check(['q'], [daily(3)], 1)[0]?.allowed, false, 'still 23:59:59.999');
    c.advance(1);
    const [fresh] = store.check(['q'], [daily(3)], 1);
    assert.deepEqual([fresh?.allowed, fresh?.remaining, fresh?.resetMs], [true, 2, 86_400_000]);
  });

  it('a month quota spans days; a cost above the limit never fits and waits for the period end', () => {
    const c = clocks('2026-02-27T10:00:00Z');
    const store = createMemoryRateLimitStore({ now: c.mono, wallClock: c.wall, sweepIntervalMs: 0 });
    assert.equal(store.check(['m'], [monthly(5)], 4)[0]?.remaining, 1);
    c.advance(86_400_000); // 28 February
    const [r] = store.check(['m'], [monthly(5)], 2);
    const toMarch = Date.parse('2026-03-01T00:00:00Z') - c.wall();
    assert.deepEqual([r?.allowed, r?.remaining, r?.retryAfterMs], [false, 1, toMarch]);
    const [big] = store.check(['m2'], [monthly(5)], 6);
    assert.deepEqual([big?.allowed, big?.retryAfterMs, big?.resetMs], [false, toMarch, toMarch]);
    c.advance(toMarch);
    assert.equal(store.check(['m'], [monthly(5)], 5)[0]?.allowed, true, 'March: the whole budget again');
  });

  it('all or nothing with a rate limit: a request the bucket refuses costs no quota, and the reverse', () => {
    const c = clocks('2026-11-28T12:00:00Z');
    const store = createMemoryRateLimitStore({ now: c.mono, wallClock: c.wall, sweepIntervalMs: 0 });
    const specs: LimitSpec[] = [{ kind: 'bucket', capacity: 2, refillPerSecond: 0.001 }, daily(3)];
    store.check(['b', 'q'], specs, 1);
    store.check(['b', 'q'], specs, 1);
    const [b, q] = store.check(['b', 'q'], specs, 1);
    assert.deepEqual([b?.allowed, q?.allowed, q?.remaining], [false, true, 1], 'quota not charged');
    const specs2: LimitSpec[] = [{ kind: 'bucket', capacity: 10, refillPerSecond: 0.001 }, daily(1)];
    assert.equal(
      store.check(['b2', 'q2'], specs2, 1).every((r) => r.allowed),
      true,
    );
    const [b2, q2] = store.check(['b2', 'q2'], specs2, 1);
    assert.deepEqual([b2?.allowed, b2?.remaining, q2?.allowed], [true, 9, false], 'bucket not charged');
  });

  it('a wall clock that steps back keeps the count (refuses rather than admits)', () => {
    const c = clocks('2026-11-29T00:00:05Z');
    const store = createMemoryRateLimitStore({ now: c.mono, wallClock: c.wall, sweepIntervalMs: 0 });
    store.check(['q'], [daily(2)], 2);
    c.advance(-10_000); // 28 November again
    assert.equal(store.check(['q'], [daily(2)], 1)[0]?.allowed, false);
  });

  it('a quota key is swept once its period has ended, not before', () => {
    const c = clocks('2026-11-28T23:00:00Z');
    const store = createMemoryRateLimitStore({ now: c.mono, wallClock: c.wall, sweepIntervalMs: 0 });
    store.check(['q'], [daily(10)], 1);
    c.advance(3_599_000);
    store.sweep();
    assert.equal(store.size, 1);
    c.advance(1_000);
    store.sweep();
    assert.equal(store.size, 0);
  });
});
