// Outlier detection on a fake clock: ejection after consecutive failures, doubling up to the max, the
// max-ejected cap, lazy return, and the ejection count decaying while a target stays in the pool.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OutlierDetector, type OutlierOptions } from './outlier-detector.js';

function setup(targets = 4, o: Partial<OutlierOptions> = {}) {
  const clock = { t: 1000 };
  const events: string[] = [];
  const detector = new OutlierDetector(targets, {
    consecutiveFailures: 3,
    baseEjectionMs: 1000,
    maxEjectionMs: 5000,
    maxEjectedPercent: 50,
    now: () => clock.t,
    onEject: (i, forMs) => events.push(`eject ${i} ${forMs}`),
    onReturn: (i) => events.push(`return ${i}`),
    ...o,
  });
  return { clock, events, detector };
}

function fail(d: OutlierDetector, i: number, times: number): void {
  for (let n = 0; n < times; n++) d.failure(i);
}

describe('outlier detector', () => {
  it('ejects after consecutive failures; a success resets the streak', () => {
    const { detector, events } = setup();
    fail(detector, 0, 2);
    detector.success(0);
    fail(detector, 0, 2);
    assert.equal(detector.available(0), true);
    assert.deepEqual(detector.snapshot(0), {
      ejected: false,
      ejectedUntil: null,
      ejections: 0,
      consecutiveFailures: 2,
    });
    detector.failure(0);
    assert.equal(detector.available(0), false);
    assert.equal(detector.available(1), true);
    assert.deepEqual(detector.snapshot(0), {
      ejected: true,
      ejectedUntil: 2000,
      ejections: 1,
      consecutiveFailures: 0,
    });
    assert.deepEqual(events, ['eject 0 1000']);
  });

  it('returns lazily, once, when the ejection has passed', () => {
    const { detector, events, clock } = setup();
    fail(detector, 0, 3);
    clock.t = 1999;
    assert.equal(detector.available(0), false);
    clock.t = 2000;
    assert.deepEqual(events, ['eject 0 1000'], 'nothing happens until someone looks');
    assert.equal(detector.available(0), true);
    assert.equal(detector.available(0), true);
    assert.deepEqual(events, ['eject 0 1000', 'return 0']);
    assert.equal(detector.ejectedCount, 0);
  });

  it('ignores outcomes of requests that finish while the target is ejected', () => {
    const { detector, events, clock } = setup();
    fail(detector, 0, 3);
    fail(detector, 0, 10);
    detector.success(0);
    assert.deepEqual(detector.snapshot(0).ejectedUntil, 2000);
    clock.t = 2000;
    fail(detector, 0, 2); // the first of these ends the ejection, then both count
    assert.deepEqual(events, ['eject 0 1000', 'return 0']);
    assert.equal(detector.snapshot(0).consecutiveFailures, 2);
  });

  it('doubles each further ejection up to maxEjectionMs', () => {
    const { detector, events, clock } = setup();
    for (let round = 0; round < 5; round++) {
      fail(detector, 2, 3);
      clock.t = detector.snapshot(2).ejectedUntil ?? assert.fail('not ejected');
    }
    assert.deepEqual(
      events.filter((e) => e.startsWith('eject')),
      ['eject 2 1000', 'eject 2 2000', 'eject 2 4000', 'eject 2 5000', 'eject 2 5000'],
    );
  });

  const decay: readonly { name: string; healthyMs: number; decayMs?: number; next: number }[] = [
    { name: 'no decay when it fails again at once', healthyMs: 0, next: 4000 },
    { name: 'just under one decay period', healthyMs: 1999, next: 4000 },
    { name: 'one decay period (2 × base) takes one doubling off', healthyMs: 2000, next: 2000 },
    { name: 'two periods take it back to base', healthyMs: 4000, next: 1000 },
    { name: 'it never goes below base', healthyMs: 60_000, next: 1000 },
    { name: 'ejectionDecayMs overrides the period', healthyMs: 500, decayMs: 500, next: 2000 },
  ];
  for (const c of decay) {
    it(`decay: ${c.name}`, () => {
      const { detector, events, clock } = setup(4, c.decayMs ? { ejectionDecayMs: c.decayMs } : {});
      fail(detector, 1, 3);
      clock.t = 2000;
      fail(detector, 1, 3); // second ejection: 2000 ms, until 4000
      clock.t = 4000 + c.healthyMs;
      fail(detector, 1, 3);
      assert.equal(events.filter((e) => e.startsWith('eject')).at(-1), `eject 1 ${c.next}`);
    });
  }

  const caps: readonly { targets: number; percent: number; max: number }[] = [
    { targets: 4, percent: 50, max: 2 },
    { targets: 10, percent: 25, max: 2 },
    { targets: 4, percent: 10, max: 1 },
    { targets: 2, percent: 1, max: 1 },
    { targets: 3, percent: 0, max: 0 },
    { targets: 1, percent: 50, max: 0 },
    { targets: 1, percent: 100, max: 1 },
    { targets: 5, percent: 100, max: 5 },
  ];
  for (const c of caps) {
    it(`caps ejections: ${c.percent}% of ${c.targets} is ${c.max}`, () => {
      const { detector } = setup(c.targets, { maxEjectedPercent: c.percent });
      for (let i = 0; i < c.targets; i++) fail(detector, i, 3);
      let ejected = 0;
      for (let i = 0; i < c.targets; i++) if (!detector.available(i)) ejected++;
      assert.equal(ejected, c.max);
      assert.equal(detector.ejectedCount, c.max);
    });
  }

  it('a target held back by the cap is ejected on its next failure once room frees up', () => {
    const { detector, events, clock } = setup(4, { maxEjectedPercent: 50 });
    fail(detector, 0, 3);
    clock.t = 1500;
    fail(detector, 1, 3);
    fail(detector, 2, 3);
    assert.equal(detector.available(2), true);
    assert.equal(detector.snapshot(2).consecutiveFailures, 3);
    clock.t = 2000; // target 0 is due back, but nobody has looked
    detector.failure(2);
    assert.deepEqual(events, ['eject 0 1000', 'eject 1 1000', 'return 0', 'eject 2 1000']);
  });

  it('rejects bad options and unknown targets', () => {
    const bad: readonly [number, Partial<OutlierOptions>][] = [
      [0, {}],
      [4, { consecutiveFailures: 0 }],
      [4, { baseEjectionMs: 0 }],
      [4, { maxEjectionMs: 999 }],
      [4, { maxEjectedPercent: 101 }],
      [4, { ejectionDecayMs: 0 }],
    ];
    for (const [n, o] of bad) assert.throws(() => setup(n, o), RangeError, JSON.stringify([n, o]));
    const { detector } = setup(2);
    for (const call of [
      () => detector.available(2),
      () => detector.failure(-1),
      () => detector.success(0.5),
    ]) {
      assert.throws(call, RangeError);
    }
  });
});
