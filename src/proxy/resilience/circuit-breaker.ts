// A circuit breaker for one upstream: stops sending traffic to an upstream that keeps failing, so the
// gateway fails fast (503 + Retry-After) and the upstream gets room to recover, then probes it back in.
// Open → half-open happens on time: one timer per breaker (armed when it opens, unref'd, cleared by close())
// moves it at the deadline, so its metric, log event and admin view change without waiting for a request.
import { RollingCounts } from './rolling-counts.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

/** Why the breaker changed state, as passed to `onTransition`. */
export type CircuitTransitionReason =
  'failure_ratio' | 'consecutive_failures' | 'open_elapsed' | 'probe_failed' | 'probes_succeeded';

/** How the breaker schedules its half-open deadline (tests inject a fake one along with `now`). */
export interface BreakerTimer {
  /** Calls `fn` once, `ms` later (on the clock of `now`). Returns a handle for `clear`. */
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The longest delay setTimeout takes (about 24.8 days); a longer wait is re-armed when it fires. */
const MAX_DELAY_MS = 2_147_483_647;

/** setTimeout, unref'd: a breaker waiting to half-open never keeps the process alive. */
const REAL_TIMER: BreakerTimer = {
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface CircuitBreakerOptions {
  /**
   * Open when failures / (failures + successes) in the rolling window exceeds this (0..1], with at least
   * minRequests outcomes in the window. Strictly greater: at 1 the ratio never opens it (only
   * consecutiveFailures can).
   */
  readonly failureRatio: number;
  /** Outcomes the window must hold before the ratio is looked at (integer >= 1). */
  readonly minRequests: number;
  /** Rolling window length; kept as 10 buckets (counts per bucket), O(1) per outcome, no per-request allocation. */
  readonly windowMs: number;
  /** Also open after this many consecutive failures (undefined: off). */
  readonly consecutiveFailures?: number;
  /** How long it stays open before admitting probes. */
  readonly openMs: number;
  /** Probes admitted at once while half-open; that many consecutive probe successes close it, any probe failure re-opens it. */
  readonly halfOpenRequests: number;
  /** Clock in milliseconds; default `performance.now`. */
  readonly now?: () => number;
  /** Schedules the move to half-open at the end of openMs; default setTimeout, unref'd. */
  readonly timer?: BreakerTimer;
  /** Called on every state change, after the state has changed (the gateway logs and counts transitions). */
  readonly onTransition?: (from: CircuitState, to: CircuitState, reason: CircuitTransitionReason) => void;
}

/** Leave to call the upstream once; settle it exactly once (later calls are ignored). */
export interface CircuitPermit {
  success(): void;
  failure(): void;
  /** The outcome says nothing about the upstream (client went away): release the permit without counting. */
  release(): void;
}

/** The breaker as the admin view shows it; times are in the breaker's clock (ms). */
export interface CircuitSnapshot {
  readonly state: CircuitState;
  /** Failures and successes in the rolling window (closed state; the window resets when it opens). */
  readonly failures: number;
  readonly successes: number;
  readonly consecutiveFailures: number;
  /** When it last opened, or null if it never has. */
  readonly openedAt: number | null;
  /** Milliseconds it stays open from now (0 when not open). */
  readonly opensFor: number;
  /** Half-open: probes in flight, and consecutive probe successes so far (of halfOpenRequests). */
  readonly probesInFlight: number;
  readonly probeSuccesses: number;
}

type Outcome = 'success' | 'failure' | 'release';
type Report = (generation: number, outcome: Outcome) => void;

const FAILURES = 0;
const SUCCESSES = 1;

// One small object per acquire: settle-once needs per-call identity, so a shared closed-state object cannot
// work. The generation ties it to the state it was issued in; once the breaker has moved on it is ignored.
class Permit implements CircuitPermit {
  #settled = false;
  constructor(
    private readonly report: Report,
    private readonly generation: number,
  ) {}
  success(): void {
    this.#settle('success');
  }
  failure(): void {
    this.#settle('failure');
  }
  release(): void {
    this.#settle('release');
  }
  #settle(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.report(this.generation, outcome);
  }
}

export class CircuitBreaker {
  readonly #o: CircuitBreakerOptions;
  readonly #now: () => number;
  readonly #timer: BreakerTimer;
  /** The pending half-open timer (at most one, only while open), or undefined. */
  #deadline: unknown = undefined;
  #closed = false;
  readonly #window: RollingCounts;
  #state: CircuitState = 'closed';
  /** Bumped on every transition; permits from an earlier generation are ignored. */
  #generation = 0;
  #consecutiveFailures = 0;
  #openedAt: number | null = null;
  #openUntil = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  // Built once per breaker so that a permit carries only a function reference and a number.
  readonly #report: Report = (generation, outcome) => {
    if (generation !== this.#generation) return;
    if (this.#state === 'closed') this.#closedOutcome(outcome);
    else if (this.#state === 'half_open') this.#probeOutcome(outcome);
  };

  constructor(options: CircuitBreakerOptions) {
    validate(options);
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#timer = options.timer ?? REAL_TIMER;
    this.#window = new RollingCounts(options.windowMs, 2);
  }

  /**
   * The current state. The timer moves open → half_open at the deadline; reading the state also does, in
   * case the timer has not fired yet (timers may run late on a busy event loop).
   */
  get state(): CircuitState {
    if (this.#state === 'open') this.#maybeHalfOpen(this.#now());
    return this.#state;
  }

  /** A permit to call the upstream, or undefined when the call must fail fast (open, or half-open with all probe slots taken). */
  acquire(): CircuitPermit | undefined {
    switch (this.state) {
      case 'closed':
        return new Permit(this.#report, this.#generation);
      case 'half_open':
        if (this.#probesInFlight >= this.#o.halfOpenRequests) return undefined;
        this.#probesInFlight++;
        return new Permit(this.#report, this.#generation);
      case 'open':
        return undefined;
    }
  }

  /** Milliseconds until it may admit probes again (0 when not open), for Retry-After. May be fractional. */
  retryAfterMs(): number {
    if (this.#state !== 'open') return 0;
    const now = this.#now();
    this.#maybeHalfOpen(now);
    return this.#state === 'open' ? this.#openUntil - now : 0;
  }

  /**
   * Stops the half-open timer for good (the breaker's upstream group is closed, or its endpoint retired).
   * The breaker still works for requests in flight; it just no longer changes state on its own. Idempotent.
   */
  close(): void {
    this.#closed = true;
    this.#clearDeadline();
  }

  /** For the admin view: a plain JSON object. */
  snapshot(): CircuitSnapshot {
    const opensFor = this.retryAfterMs(); // also moves open → half_open when due
    this.#window.roll(this.#now());
    return {
      state: this.#state,
      failures: this.#window.get(FAILURES),
      successes: this.#window.get(SUCCESSES),
      consecutiveFailures: this.#consecutiveFailures,
      openedAt: this.#openedAt,
      opensFor,
      probesInFlight: this.#probesInFlight,
      probeSuccesses: this.#probeSuccesses,
    };
  }

  #closedOutcome(outcome: Outcome): void {
    if (outcome === 'release') return;
    const now = this.#now();
    if (outcome === 'success') {
      this.#consecutiveFailures = 0;
      this.#window.add(SUCCESSES, now);
      return;
    }
    this.#consecutiveFailures++;
    this.#window.add(FAILURES, now);
    const limit = this.#o.consecutiveFailures;
    if (limit !== undefined && this.#consecutiveFailures >= limit) {
      this.#open(now, 'consecutive_failures');
      return;
    }
    const failures = this.#window.get(FAILURES);
    const total = failures + this.#window.get(SUCCESSES);
    if (total >= this.#o.minRequests && failures / total > this.#o.failureRatio) {
      this.#open(now, 'failure_ratio');
    }
  }

  #probeOutcome(outcome: Outcome): void {
    this.#probesInFlight--;
    if (outcome === 'release') return;
    if (outcome === 'failure') {
      this.#open(this.#now(), 'probe_failed');
      return;
    }
    this.#probeSuccesses++;
    if (this.#probeSuccesses >= this.#o.halfOpenRequests) {
      this.#transition('closed', 'probes_succeeded');
    }
  }

  #maybeHalfOpen(now: number): void {
    if (now >= this.#openUntil) this.#transition('half_open', 'open_elapsed');
  }

  #open(now: number, reason: CircuitTransitionReason): void {
    this.#openedAt = now;
    this.#openUntil = now + this.#o.openMs;
    this.#transition('open', reason);
    // After the transition (which clears any earlier timer): one timer per breaker, never per request.
    if (this.#state === 'open') this.#armDeadline(this.#o.openMs);
  }

  #armDeadline(ms: number): void {
    this.#clearDeadline();
    if (this.#closed) return;
    this.#deadline = this.#timer.set(this.#onDeadline, Math.min(Math.max(0, ms), MAX_DELAY_MS));
  }

  #clearDeadline(): void {
    if (this.#deadline === undefined) return;
    this.#timer.clear(this.#deadline);
    this.#deadline = undefined;
  }

  // Bound once: arming the timer allocates no closure.
  readonly #onDeadline = (): void => {
    this.#deadline = undefined;
    if (this.#state !== 'open') return;
    const now = this.#now();
    if (now >= this.#openUntil) this.#transition('half_open', 'open_elapsed');
    // A timer may fire a little before the breaker's clock says the time has come (setTimeout counts from
    // the event loop's cached time): wait for the rest.
    else this.#armDeadline(Math.max(1, Math.ceil(this.#openUntil - now)));
  };

  #transition(to: CircuitState, reason: CircuitTransitionReason): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    if (from === 'open') this.#clearDeadline();
    // Every state starts clean: the window and streaks of the previous one say nothing about this one.
    this.#window.reset();
    this.#consecutiveFailures = 0;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#o.onTransition?.(from, to, reason);
  }
}

function validate(o: CircuitBreakerOptions): void {
  const fail = (what: string) => {
    throw new RangeError(`circuit breaker: ${what}`);
  };
  if (!(o.failureRatio > 0 && o.failureRatio <= 1)) fail('failureRatio must be in (0, 1]');
  if (!Number.isInteger(o.minRequests) || o.minRequests < 1) fail('minRequests must be an integer >= 1');
  if (!(o.windowMs > 0) || !Number.isFinite(o.windowMs)) fail('windowMs must be a finite number > 0');
  if (
    o.consecutiveFailures !== undefined &&
    (!Number.isInteger(o.consecutiveFailures) || o.consecutiveFailures < 1)
  ) {
    fail('consecutiveFailures must be an integer >= 1');
  }
  if (!(o.openMs >= 0) || !Number.isFinite(o.openMs)) fail('openMs must be a finite number >= 0');
  if (!Number.isInteger(o.halfOpenRequests) || o.halfOpenRequests < 1)
    fail('halfOpenRequests must be an integer >= 1');
}
