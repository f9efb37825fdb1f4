// The retry budget on a fake clock: retries stay within ratio × requests + floor, the floor lets low traffic
// retry, and the window rolls so old requests stop counting.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';

function setup(o: Partial<RetryBudgetOptions> = {}) {
  const clock = { t: 500 };
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, now: () => clock.t, ...o });
  return { clock, budget };
}

/** Calls tryRetry until it refuses (at most `max` times); returns how many it allowed. */
function drain(b: RetryBudget, max = 100_000): number {
  let n = 0;
  while (n < max && b.tryRetry()) n++;
  return n;
}

describe('retry budget', () => {
  it('allows at most ratio × requests + floor when every request fails', () => {
    const { budget } = setup();
    let retries = 0;
    for (let i = 0; i < 1000; i++) {
      budget.request();
      // A failing upstream: every request wants up to 3 retries.
      for (let r = 0; r < 3 && budget.tryRetry(); r++) retries++;
    }
    assert.equal(retries, 0.2 * 1000 + 10);
    assert.deepEqual(budget.snapshot(), { requests: 1000, retries: 210, allowed: 210 });
    assert.equal(budget.tryRetry(), false);
  });

  const floors: readonly {
    name: string;
    o: Partial<RetryBudgetOptions>;
    requests: number;
    allowed: number;
  }[] = [
    { name: 'the floor alone, with no traffic', o: {}, requests: 0, allowed: 10 },
    { name: 'a 2 s window has a floor of 2', o: { windowMs: 2000 }, requests: 0, allowed: 2 },
    { name: 'no floor and no requests: no retries', o: { minPerSecond: 0 }, requests: 0, allowed: 0 },
    { name: 'fractions round down', o: { minPerSecond: 0, ratio: 0.25 }, requests: 7, allowed: 1 },
    { name: 'no floating-point loss', o: { minPerSecond: 0, ratio: 0.57 }, requests: 100, allowed: 57 },
  ];
  for (const c of floors) {
    it(c.name, () => {
      const { budget } = setup(c.o);
      for (let i = 0; i < c.requests; i++) budget.request();
      assert.equal(drain(budget), c.allowed);
      assert.equal(budget.snapshot().allowed, c.allowed);
    });
  }

  it('rolls: requests and retries older than the window stop counting', () => {
    const { clock, budget } = setup({ minPerSecond: 0, ratio: 0.5 });
    for (let i = 0; i < 100; i++) budget.request();
    assert.equal(drain(budget, 20), 20);
    clock.t += 5000;
    assert.equal(drain(budget), 30, 'same window: 50 allowed, 20 spent');
    clock.t += 5000;
    assert.deepEqual(
      budget.snapshot(),
      { requests: 0, retries: 30, allowed: 0 },
      'the first requests are out',
    );
    assert.equal(budget.tryRetry(), false);
    budget.request();
    budget.request();
    assert.equal(budget.tryRetry(), false, '30 retries still in the window');
    clock.t += 5000;
    assert.deepEqual(budget.snapshot(), { requests: 2, retries: 0, allowed: 1 });
    assert.equal(drain(budget), 1);
  });

  it('rejects bad options', () => {
    for (const o of [{ ratio: -0.1 }, { minPerSecond: -1 }, { windowMs: 0 }, { ratio: Number.NaN }]) {
      assert.throws(() => setup(o), RangeError, JSON.stringify(o));
    }
  });
});
