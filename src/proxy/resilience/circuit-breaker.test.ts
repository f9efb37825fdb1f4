// The circuit breaker on a fake clock and timer: when it opens (ratio after minRequests, consecutive
// failures), how long it stays open, that it half-opens at the deadline on its own (one timer per breaker,
// cleared by close()), how half-open probes close or re-open it, the rolling window, and settle-once permits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CircuitBreaker,
  type BreakerTimer,
  type CircuitBreakerOptions,
  type CircuitPermit,
  type CircuitState,
} from './circuit-breaker.js';

/** A fake timer on the fake clock: `advance` moves the clock and fires what is due, in order. */
function fakeTimers(clock: { t: number }) {
  let nextId = 1;
  const pending = new Map<number, { at: number; fn: () => void; ms: number }>();
  const armed: number[] = [];
  const timer: BreakerTimer = {
    set(fn, ms) {
      const id = nextId++;
      pending.set(id, { at: clock.t + ms, fn, ms });
      armed.push(ms);
      return id;
    },
    clear(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timer,
    /** Delays of every timer set so far. */
    armed,
    get pending(): number {
      return pending.size;
    },
    advance(ms: number): void {
      const end = clock.t + ms;
      for (;;) {
        const due = [...pending.entries()]
          .filter(([, p]) => p.at <= end)
          .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
        if (due === undefined) break;
        pending.delete(due[0]);
        clock.t = Math.max(clock.t, due[1].at);
        due[1].fn();
      }
      clock.t = end;
    },
    /** Fires every pending timer now, without moving the clock (a timer that runs early). */
    fireNow(): void {
      for (const [id, p] of [...pending]) {
        pending.delete(id);
        p.fn();
      }
    },
  };
}

function setup(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = { t: 1000 };
  const timers = fakeTimers(clock);
  const transitions: string[] = [];
  const breaker = new CircuitBreaker({
    failureRatio: 0.5,
    minRequests: 10,
    windowMs: 10_000,
    openMs: 5000,
    halfOpenRequests: 2,
    now: () => clock.t,
    timer: timers.timer,
    onTransition: (from, to, reason) => transitions.push(`${from}>${to}:${reason}`),
    ...overrides,
  });
  return { clock, timers, transitions, breaker };
}

function permit(b: CircuitBreaker): CircuitPermit {
  const p = b.acquire();
  assert.ok(p, `expected a permit in state ${b.state}`);
  return p;
}

/** Settles one permit per letter: s success, f failure, r release. */
function outcomes(b: CircuitBreaker, seq: string): void {
  for (const c of seq) {
    const p = permit(b);
    if (c === 's') p.success();
    else if (c === 'f') p.failure();
    else p.release();
  }
}

/** Opens the breaker through consecutive failures and moves the clock past openMs. */
function toHalfOpen(s: ReturnType<typeof setup>): void {
  outcomes(s.breaker, 'fffff');
  assert.equal(s.breaker.state, 'open');
  s.clock.t += 5000;
  assert.equal(s.breaker.state, 'half_open');
}

describe('circuit breaker: opening', () => {
  const cases: readonly { name: string; seq: string; state: CircuitState; reason?: string }[] = [
    { name: '9 failures are under minRequests', seq: 'fffffffff', state: 'closed' },
    {
      name: 'the 10th failure reaches minRequests',
      seq: 'ffffffffff',
      state: 'open',
      reason: 'failure_ratio',
    },
    { name: 'exactly the ratio does not exceed it', seq: 'sfsfsfsfsf', state: 'closed' },
    { name: '6 of 11 exceeds it', seq: 'sfsfsfsfsff', state: 'open', reason: 'failure_ratio' },
    { name: 'successes after the failures keep it closed', seq: 'fffffssssssssss', state: 'closed' },
    { name: 'released permits count for nothing', seq: 'fffffffffrrrrr', state: 'closed' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = setup();
      outcomes(s.breaker, c.seq);
      assert.equal(s.breaker.state, c.state);
      assert.deepEqual(s.transitions, c.reason ? [`closed>open:${c.reason}`] : []);
    });
  }

  it('opens on consecutive failures before minRequests, and a success resets the streak', () => {
    const s = setup({ consecutiveFailures: 3, failureRatio: 1, minRequests: 100 });
    outcomes(s.breaker, 'ffsffsff');
    assert.equal(s.breaker.state, 'closed');
    assert.equal(s.breaker.snapshot().consecutiveFailures, 2);
    outcomes(s.breaker, 'f');
    assert.equal(s.breaker.state, 'open');
    assert.deepEqual(s.transitions, ['closed>open:consecutive_failures']);
  });

  it('old outcomes leave the rolling window', () => {
    const s = setup({ minRequests: 4 });
    outcomes(s.breaker, 'fff');
    s.clock.t += 10_000;
    assert.equal(s.breaker.snapshot().failures, 0);
    outcomes(s.breaker, 'f');
    assert.equal(s.breaker.state, 'closed', 'three expired failures plus one is not four');
    s.clock.t += 5000; // half a window: the failure above still counts
    outcomes(s.breaker, 'sff');
    assert.equal(s.breaker.state, 'open', '3 of 4 in the window');
  });
});

describe('circuit breaker: open and half-open', () => {
  it('fails fast for openMs, with retryAfterMs counting down', () => {
    const s = setup();
    outcomes(s.breaker, 'ffffffffff');
    for (const [elapsed, left] of [
      [0, 5000],
      [1500, 3500],
      [4999, 1],
    ] as const) {
      s.clock.t = 1000 + elapsed;
      assert.equal(s.breaker.acquire(), undefined);
      assert.equal(s.breaker.retryAfterMs(), left);
      assert.equal(s.breaker.state, 'open');
    }
    s.clock.t = 6000;
    assert.equal(s.breaker.retryAfterMs(), 0);
    assert.equal(s.breaker.state, 'half_open');
  });

  it('admits exactly halfOpenRequests probes at once; a release frees a slot', () => {
    const s = setup({ halfOpenRequests: 3, consecutiveFailures: 5 });
    toHalfOpen(s);
    const probes = [permit(s.breaker), permit(s.breaker), permit(s.breaker)];
    assert.equal(s.breaker.acquire(), undefined);
    assert.equal(s.breaker.retryAfterMs(), 0);
    probes[0]!.release();
    assert.equal(s.breaker.snapshot().probeSuccesses, 0);
    assert.ok(s.breaker.acquire());
    assert.equal(s.breaker.acquire(), undefined);
  });

  it('closes after halfOpenRequests probe successes, with a fresh window', () => {
    const s = setup({ consecutiveFailures: 5 });
    toHalfOpen(s);
    const [a, b] = [permit(s.breaker), permit(s.breaker)];
    a.success();
    assert.equal(s.breaker.state, 'half_open');
    b.success();
    assert.equal(s.breaker.state, 'closed');
    assert.deepEqual(s.breaker.snapshot(), {
      state: 'closed',
      failures: 0,
      successes: 0,
      consecutiveFailures: 0,
      openedAt: 1000,
      opensFor: 0,
      probesInFlight: 0,
      probeSuccesses: 0,
    });
  });

  it('re-opens on one probe failure, for a full openMs again', () => {
    const s = setup({ consecutiveFailures: 5 });
    toHalfOpen(s);
    const [a, b] = [permit(s.breaker), permit(s.breaker)];
    a.success();
    s.clock.t += 100;
    b.failure();
    assert.equal(s.breaker.state, 'open');
    assert.equal(s.breaker.retryAfterMs(), 5000);
    assert.equal(s.breaker.snapshot().openedAt, 6100);
    assert.equal(s.breaker.acquire(), undefined);
  });

  it('reports the exact transition sequence', () => {
    const s = setup({ consecutiveFailures: 5 });
    toHalfOpen(s);
    outcomes(s.breaker, 'f');
    s.clock.t += 5000;
    outcomes(s.breaker, 'ss');
    outcomes(s.breaker, 'fffff');
    assert.deepEqual(s.transitions, [
      'closed>open:consecutive_failures',
      'open>half_open:open_elapsed',
      'half_open>open:probe_failed',
      'open>half_open:open_elapsed',
      'half_open>closed:probes_succeeded',
      'closed>open:consecutive_failures',
    ]);
  });
});

describe('circuit breaker: half-open on time, without a request', () => {
  it('the timer moves open → half_open at the deadline and reports it, with no call into the breaker', () => {
    const s = setup({ consecutiveFailures: 5 });
    outcomes(s.breaker, 'fffff');
    assert.deepEqual(s.timers.armed, [5000], 'one timer, for openMs');
    s.timers.advance(4999);
    assert.deepEqual(s.transitions, ['closed>open:consecutive_failures'], 'half-opened early');
    s.timers.advance(1);
    // Reported by the transition callback itself (the gateway's metric and log line), not by a read.
    assert.deepEqual(s.transitions, ['closed>open:consecutive_failures', 'open>half_open:open_elapsed']);
    assert.equal(s.timers.pending, 0);
    assert.equal(s.breaker.snapshot().state, 'half_open');
  });

  it('one timer per breaker: fail-fast requests, reads and a re-open never add one', () => {
    const s = setup({ consecutiveFailures: 5 });
    outcomes(s.breaker, 'fffff');
    for (let i = 0; i < 100; i++) {
      assert.equal(s.breaker.acquire(), undefined);
      s.breaker.retryAfterMs();
      s.breaker.snapshot();
    }
    assert.equal(s.timers.pending, 1);
    s.timers.advance(5000);
    assert.equal(s.breaker.state, 'half_open');
    assert.equal(s.timers.pending, 0, 'no timer while half-open');
    permit(s.breaker).failure(); // probe failed: open again, for a full openMs
    assert.deepEqual(s.timers.armed, [5000, 5000]);
    assert.equal(s.timers.pending, 1);
    s.timers.advance(5000);
    assert.equal(s.breaker.state, 'half_open');
    outcomes(s.breaker, 'ss');
    assert.equal(s.breaker.state, 'closed');
    assert.equal(s.timers.pending, 0, 'no timer while closed');
  });

  it('a request that half-opens it first clears the timer: one transition, not two', () => {
    const s = setup({ consecutiveFailures: 5 });
    outcomes(s.breaker, 'fffff');
    s.clock.t += 5000; // the clock is past the deadline, the timer has not run yet (a busy event loop)
    assert.ok(s.breaker.acquire());
    assert.equal(s.timers.pending, 0);
    s.timers.fireNow();
    assert.deepEqual(s.transitions, ['closed>open:consecutive_failures', 'open>half_open:open_elapsed']);
  });

  it('a timer that fires before the clock reaches the deadline waits for the rest', () => {
    const s = setup({ consecutiveFailures: 5 });
    outcomes(s.breaker, 'fffff');
    s.clock.t += 4998.4;
    s.timers.fireNow();
    assert.equal(s.breaker.snapshot().state, 'open', 'half-opened before open_ms');
    assert.deepEqual(s.timers.armed, [5000, 2], 're-armed for the rest, rounded up');
    s.timers.advance(2);
    assert.equal(s.transitions.at(-1), 'open>half_open:open_elapsed');
  });

  it('close() clears the timer for good; the breaker still answers requests', () => {
    const s = setup({ consecutiveFailures: 5 });
    outcomes(s.breaker, 'fffff');
    s.breaker.close();
    assert.equal(s.timers.pending, 0);
    s.timers.advance(60_000);
    assert.deepEqual(
      s.transitions,
      ['closed>open:consecutive_failures'],
      'a closed breaker moved on its own',
    );
    // Requests still in flight on a retired upstream are served as before (lazily)…
    assert.equal(s.breaker.state, 'half_open');
    permit(s.breaker).failure();
    assert.equal(s.breaker.state, 'open');
    // …but it never arms a timer again.
    assert.equal(s.timers.pending, 0);
    s.breaker.close();
  });

  it('by default the timer is a real, unref’d setTimeout', async (t) => {
    const transitions: string[] = [];
    const breaker = new CircuitBreaker({
      failureRatio: 1,
      minRequests: 1,
      windowMs: 1000,
      consecutiveFailures: 1,
      openMs: 30,
      halfOpenRequests: 1,
      onTransition: (_from, to) => transitions.push(to),
    });
    const real = globalThis.setTimeout;
    const made: { ms: number | undefined; timer: NodeJS.Timeout }[] = [];
    const spy = t.mock.method(globalThis, 'setTimeout', ((fn: () => void, ms?: number) => {
      const timer = real(fn, ms);
      made.push({ ms, timer });
      return timer;
    }) as typeof setTimeout);
    permit(breaker).failure();
    spy.mock.restore();
    assert.deepEqual(
      made.map((m) => m.ms),
      [30],
      'one timer for the open breaker',
    );
    assert.equal(made[0]!.timer.hasRef(), false, 'the timer keeps the process alive');
    // Generous margin for a busy machine: the deadline is 30 ms.
    const deadline = performance.now() + 3000;
    while (transitions.length < 2 && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(transitions, ['open', 'half_open']);
  });
});

describe('circuit breaker: permits', () => {
  it('settle once: a second call is ignored', () => {
    const s = setup({ minRequests: 2 });
    const p = permit(s.breaker);
    p.success();
    p.success();
    p.failure();
    p.failure();
    assert.deepEqual([s.breaker.snapshot().successes, s.breaker.snapshot().failures], [1, 0]);
  });

  it('closed-state outcomes arriving after it opened neither close nor re-open it', () => {
    const s = setup({ consecutiveFailures: 5 });
    const late = [permit(s.breaker), permit(s.breaker), permit(s.breaker)];
    outcomes(s.breaker, 'fffff');
    s.clock.t += 2000;
    late[0]!.failure();
    late[1]!.success();
    assert.equal(s.breaker.state, 'open');
    assert.equal(s.breaker.retryAfterMs(), 3000, 'the open period was not restarted');
    s.clock.t += 3000;
    assert.equal(s.breaker.state, 'half_open');
    late[2]!.failure();
    assert.equal(s.breaker.state, 'half_open', 'an old closed-state failure is not a probe failure');
    assert.deepEqual(s.transitions, ['closed>open:consecutive_failures', 'open>half_open:open_elapsed']);
  });

  it('a probe settled after the breaker re-opened is ignored', () => {
    const s = setup({ consecutiveFailures: 5 });
    toHalfOpen(s);
    const [a, b] = [permit(s.breaker), permit(s.breaker)];
    a.failure();
    s.clock.t += 5000;
    assert.equal(s.breaker.state, 'half_open');
    b.success();
    outcomes(s.breaker, 's');
    assert.equal(s.breaker.state, 'half_open', 'one success of this half-open period is not two');
  });
});

describe('circuit breaker: options', () => {
  const bad: readonly [string, Partial<CircuitBreakerOptions>][] = [
    ['failureRatio 0', { failureRatio: 0 }],
    ['failureRatio > 1', { failureRatio: 1.5 }],
    ['minRequests 0', { minRequests: 0 }],
    ['windowMs 0', { windowMs: 0 }],
    ['consecutiveFailures 0', { consecutiveFailures: 0 }],
    ['openMs negative', { openMs: -1 }],
    ['halfOpenRequests 1.5', { halfOpenRequests: 1.5 }],
  ];
  for (const [name, o] of bad) {
    it(`rejects ${name}`, () => assert.throws(() => setup(o), RangeError));
  }
});
