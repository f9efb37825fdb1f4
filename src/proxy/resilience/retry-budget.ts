// A retry budget, so retries cannot multiply an outage (Finagle's RetryBudget, Envoy's retry_budget): over a
// rolling window, retries may be at most a share of the original requests plus a small floor for low traffic.
import { RollingCounts } from './rolling-counts.js';

export interface RetryBudgetOptions {
  /** Retries allowed per original request in the window (e.g. 0.2: one retry per five requests). >= 0. */
  readonly ratio: number;
  /** Retries always allowed per second of window, whatever the traffic (floor = minPerSecond × window seconds). >= 0. */
  readonly minPerSecond: number;
  /** Rolling window length; default 10 s, kept as 10 buckets. */
  readonly windowMs?: number;
  /** Clock in milliseconds; default `performance.now`. */
  readonly now?: () => number;
}

/** The budget as the admin view shows it: counts in the current window and the retries they allow. */
export interface RetryBudgetSnapshot {
  readonly requests: number;
  readonly retries: number;
  /** Retries the window allows in all: floor(ratio × requests + minPerSecond × window seconds). */
  readonly allowed: number;
}

const REQUESTS = 0;
const RETRIES = 1;
const DEFAULT_WINDOW_MS = 10_000;

export class RetryBudget {
  readonly #ratio: number;
  readonly #floor: number;
  readonly #now: () => number;
  readonly #window: RollingCounts;

  constructor(o: RetryBudgetOptions) {
    const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
    if (!(o.ratio >= 0) || !Number.isFinite(o.ratio))
      throw new RangeError('retry budget: ratio must be >= 0');
    if (!(o.minPerSecond >= 0) || !Number.isFinite(o.minPerSecond)) {
      throw new RangeError('retry budget: minPerSecond must be >= 0');
    }
    this.#ratio = o.ratio;
    this.#floor = (o.minPerSecond * windowMs) / 1000;
    this.#now = o.now ?? (() => performance.now());
    this.#window = new RollingCounts(windowMs, 2);
  }

  /** Count one original request (not retries). */
  request(): void {
    this.#window.add(REQUESTS, this.#now());
  }

  /** Whether a retry may happen now; when true it is counted as spent. */
  tryRetry(): boolean {
    const now = this.#now();
    this.#window.roll(now);
    if (this.#window.get(RETRIES) + 1 > this.#allowed()) return false;
    this.#window.add(RETRIES, now);
    return true;
  }

  snapshot(): RetryBudgetSnapshot {
    this.#window.roll(this.#now());
    return {
      requests: this.#window.get(REQUESTS),
      retries: this.#window.get(RETRIES),
      allowed: Math.floor(this.#allowed()),
    };
  }

  #allowed(): number {
    // The epsilon keeps 0.57 × 100 (56.99999999999999 in floating point) at 57.
    return this.#ratio * this.#window.get(REQUESTS) + this.#floor + 1e-9;
  }
}
