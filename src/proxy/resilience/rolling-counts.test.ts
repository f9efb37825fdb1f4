// The bucketed rolling window under the breaker and the retry budget: counts expire by whole buckets, within
// windowMs, and a long gap or a clock going backwards does no harm.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { RollingCounts } from './rolling-counts.js';

it('keeps a count for between windowMs - bucket and windowMs', () => {
  const w = new RollingCounts(1000, 2);
  w.add(0, 150);
  w.add(1, 150, 3);
  for (const [t, expected] of [
    [999, 1],
    [1099, 1],
    [1100, 0],
  ] as const) {
    w.roll(t);
    assert.equal(w.get(0), expected, `at ${t}`);
  }
  assert.equal(w.get(1), 0);
});

it('drops only the buckets that left the window', () => {
  const w = new RollingCounts(1000, 1);
  for (let t = 0; t < 1000; t += 100) w.add(0, t);
  w.roll(1000);
  assert.equal(w.get(0), 9);
  w.roll(1450); // buckets 0..4 (t 0..400) are out
  assert.equal(w.get(0), 5);
  w.add(0, 1450);
  w.roll(50_000);
  assert.equal(w.get(0), 0);
});

it('reuses slots cleanly as the ring wraps', () => {
  const w = new RollingCounts(1000, 1);
  for (let t = 0; t < 5000; t += 50) {
    w.add(0, t);
    // Two adds per 100 ms bucket; the window holds the current bucket and the nine before it.
    assert.equal(w.get(0), Math.min(t / 50 + 1, 19 + ((t / 50) % 2)), `at ${t}`);
  }
});

it('treats a clock that goes backwards as standing still, and reset forgets everything', () => {
  const w = new RollingCounts(1000, 1);
  w.add(0, 5000);
  w.add(0, 4000);
  assert.equal(w.get(0), 2);
  w.roll(5900);
  assert.equal(w.get(0), 2);
  w.reset();
  assert.equal(w.get(0), 0);
});

it('rejects a bad shape', () => {
  assert.throws(() => new RollingCounts(0, 1), RangeError);
  assert.throws(() => new RollingCounts(1000, 0), RangeError);
  assert.throws(() => new RollingCounts(1000, 1, 0), RangeError);
});
