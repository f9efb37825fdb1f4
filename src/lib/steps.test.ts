// Steps run in one piece or in slices give the same result; in slices the event loop runs in between.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NEVER_DUE, runInSlices, runSteps, sortSteps, type Due, type Steps } from './steps.js';

function* count(n: number, due: Due): Steps<number> {
  let sum = 0;
  for (let i = 1; i <= n; i++) {
    sum += i;
    if (due()) yield;
  }
  return sum;
}

describe('steps', () => {
  it('runSteps runs to the end at once', () => {
    assert.equal(runSteps(count(100, () => true)), 5050);
  });

  it('runInSlices lets other callbacks run between slices, and counts the slices', async () => {
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    let clock = 0;
    // A clock that advances 1 ms per look: a slice of 3 ms ends after a few steps.
    const { value, stats } = await runInSlices(
      (due) => count(200, due),
      3,
      () => clock++,
    );
    running = false;
    assert.equal(value, 20100);
    assert.ok(stats.slices > 10, `${stats.slices} slices`);
    assert.ok(ticks >= stats.slices - 1, `${ticks} other callbacks ran in ${stats.slices} slices`);
    assert.ok(stats.longestMs <= 4, `longest ${stats.longestMs}`);
  });

  it('sortSteps sorts as Array.prototype.sort does, in slices or at once', () => {
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (const n of [0, 1, 2, 3, 17, 1000, 1025]) {
      const items = Array.from({ length: n }, (_, i) => ({ key: Math.floor(random() * 50), i }));
      const compare = (a: { key: number; i: number }, b: { key: number; i: number }) =>
        a.key - b.key || a.i - b.i;
      const expected = items.slice().sort(compare);
      assert.deepEqual(runSteps(sortSteps(items.slice(), compare, () => true)), expected, `n=${n}`);
      assert.deepEqual(runSteps(sortSteps(items.slice(), compare, NEVER_DUE)), expected, `n=${n}`);
    }
  });
});
