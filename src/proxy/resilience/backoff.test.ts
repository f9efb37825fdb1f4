// Backoff with full jitter: the bounds with the extreme random values, doubling per retry, the cap.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs } from './backoff.js';

const LOW = () => 0;
const HIGH = () => 0.9999999999;

it('is 0 at random 0 and just under the ceiling at random ~1, doubling up to maxMs', () => {
  const cases: readonly [retry: number, ceiling: number][] = [
    [0, 100],
    [1, 200],
    [2, 400],
    [3, 800],
    [4, 1000],
    [10, 1000],
    [2000, 1000],
  ];
  for (const [retry, ceiling] of cases) {
    assert.equal(backoffMs(retry, 100, 1000, LOW), 0, `retry ${retry} at 0`);
    const high = backoffMs(retry, 100, 1000, HIGH);
    assert.ok(high < ceiling && high > ceiling * 0.999, `retry ${retry}: ${high} just under ${ceiling}`);
  }
});

it('scales the ceiling by random', () => {
  assert.equal(
    backoffMs(2, 100, 1000, () => 0.25),
    100,
  );
});

it('stays in [0, ceiling) with Math.random, and is 0 with baseMs 0 however many retries', () => {
  for (let i = 0; i < 1000; i++) {
    const v = backoffMs(3, 50, 10_000);
    assert.ok(v >= 0 && v < 400, String(v));
  }
  assert.equal(backoffMs(5000, 0, 1000, HIGH), 0);
});

it('rejects a negative or fractional retry and negative times', () => {
  const bad: readonly (readonly [retry: number, baseMs: number, maxMs: number])[] = [
    [-1, 100, 1000],
    [1.5, 100, 1000],
    [0, -1, 1000],
    [0, 100, Number.NaN],
  ];
  for (const [retry, baseMs, maxMs] of bad) {
    assert.throws(() => backoffMs(retry, baseMs, maxMs), RangeError, String([retry, baseMs, maxMs]));
  }
});
