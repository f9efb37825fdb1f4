// The circuit breaker on a fake clock: when it opens (ratio after minRequests, consecutive failures), how long
// it stays open, how half-open probes close or re-open it, the rolling window, and settle-once permits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitPermit,
  type CircuitState,
} from './circuit-breaker.js';

function setup(overrides: Partial<CircuitBreakerOptions> = {}) {
  const clock = { t: 1000 };
  const transitions: string[] = [];
  const breaker = new CircuitBreaker({
    failureRatio: 0.5,
    minRequests: 10,
    windowMs: 10_000,
    openMs: 5000,
    halfOpenRequests: 2,
    now: () => clock.t,
    onTransition: (from, to, reason) => transitions.push(`${from}>${to}:${reason}`),
    ...overrides,
  });
  return { clock, transitions, breaker };
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
