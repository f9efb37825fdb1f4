// Passive health checking for the targets of one upstream: a target that keeps failing real requests is
// ejected from load balancing for a while (longer each time), without active probes (Envoy's outlier detection).

export interface OutlierOptions {
  /** Consecutive failures (connect failures or 5xx, as the caller reports) that eject a target. Integer >= 1. */
  readonly consecutiveFailures: number;
  /**
   * First ejection length; each further ejection of the same target doubles it, up to maxEjectionMs.
   * The ejection count decays: it drops by one for every `ejectionDecayMs` the target has spent back in the
   * pool since its last ejection ended, so a target that recovered starts again from baseEjectionMs.
   */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** Time back in the pool that takes one doubling off (default baseEjectionMs × 2). */
  readonly ejectionDecayMs?: number;
  /**
   * Never eject more than this share (0..100) of the pool at once: floor(n × pct / 100), except that one
   * target may always be ejected when the pool has 2+ targets and pct > 0 (as Envoy does), so small pools
   * still shed a bad target. A single-target pool is ejected only at 100 — there is nowhere else to go.
   */
  readonly maxEjectedPercent: number;
  /** Clock in milliseconds; default `performance.now`. */
  readonly now?: () => number;
  readonly onEject?: (targetIndex: number, forMs: number) => void;
  readonly onReturn?: (targetIndex: number) => void;
}

/** One target as the admin view shows it; times are in the detector's clock (ms). */
export interface OutlierSnapshot {
  readonly ejected: boolean;
  /** End of the current ejection, or null when not ejected. */
  readonly ejectedUntil: number | null;
  /** Ejections counted towards the next one's length, after decay. */
  readonly ejections: number;
  readonly consecutiveFailures: number;
}

interface TargetHealth {
  consecutiveFailures: number;
  /** Ejection count as of the end of the last ejection (decay is applied lazily, when read). */
  ejections: number;
  ejected: boolean;
  /** End of the current or last ejection; -Infinity when never ejected. */
  ejectedUntil: number;
}

// 2 ** 64 × base is far past any max; clamping keeps the product finite.
const MAX_EXPONENT = 64;

export class OutlierDetector {
  readonly #o: OutlierOptions;
  readonly #now: () => number;
  readonly #decayMs: number;
  readonly #maxEjected: number;
  readonly #targets: readonly TargetHealth[];
  #ejectedCount = 0;

  constructor(targetCount: number, o: OutlierOptions) {
    validate(targetCount, o);
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
    this.#decayMs = o.ejectionDecayMs ?? o.baseEjectionMs * 2;
    const share = Math.floor((targetCount * o.maxEjectedPercent) / 100);
    this.#maxEjected = share === 0 && targetCount >= 2 && o.maxEjectedPercent > 0 ? 1 : share;
    this.#targets = Array.from({ length: targetCount }, () => ({
      consecutiveFailures: 0,
      ejections: 0,
      ejected: false,
      ejectedUntil: -Infinity,
    }));
  }

  /** The request to this target succeeded. Outcomes of requests that finish while it is ejected are ignored. */
  success(targetIndex: number): void {
    const t = this.#target(targetIndex);
    if (t.ejected && !this.#returnIfDue(targetIndex, t, this.#now())) return;
    t.consecutiveFailures = 0;
  }

  /** The request to this target failed (connect failure or 5xx). */
  failure(targetIndex: number): void {
    const t = this.#target(targetIndex);
    if (t.ejected && !this.#returnIfDue(targetIndex, t, this.#now())) return;
    t.consecutiveFailures++;
    if (t.consecutiveFailures < this.#o.consecutiveFailures) return;
    const now = this.#now();
    // Over the cap the target stays in with its count kept, so its next failure tries again.
    if (this.#ejectedCount >= this.#maxEjected) this.#returnAllDue(now);
    if (this.#ejectedCount >= this.#maxEjected) return;
    this.#eject(targetIndex, t, now);
  }

  /** Not ejected now (an ejection whose time has passed ends lazily here, calling onReturn). Hot path: O(1), no allocation. */
  available(targetIndex: number): boolean {
    const t = this.#target(targetIndex);
    return !t.ejected || this.#returnIfDue(targetIndex, t, this.#now());
  }

  /** Targets ejected now (expired ejections end lazily, so this may count one that is due back). */
  get ejectedCount(): number {
    return this.#ejectedCount;
  }

  snapshot(targetIndex: number): OutlierSnapshot {
    const t = this.#target(targetIndex);
    const now = this.#now();
    if (t.ejected) this.#returnIfDue(targetIndex, t, now);
    return {
      ejected: t.ejected,
      ejectedUntil: t.ejected ? t.ejectedUntil : null,
      ejections: this.#decayedEjections(t, now),
      consecutiveFailures: t.consecutiveFailures,
    };
  }

  #target(i: number): TargetHealth {
    const t = this.#targets[i];
    if (t === undefined) throw new RangeError(`outlier detector: no target ${i}`);
    return t;
  }

  #eject(i: number, t: TargetHealth, now: number): void {
    t.ejections = this.#decayedEjections(t, now) + 1;
    const forMs = Math.min(
      this.#o.maxEjectionMs,
      this.#o.baseEjectionMs * 2 ** Math.min(t.ejections - 1, MAX_EXPONENT),
    );
    t.ejected = true;
    t.ejectedUntil = now + forMs;
    t.consecutiveFailures = 0;
    this.#ejectedCount++;
    this.#o.onEject?.(i, forMs);
  }

  /** Ends the ejection of an ejected target if its time has passed; returns whether it is back. */
  #returnIfDue(i: number, t: TargetHealth, now: number): boolean {
    if (now < t.ejectedUntil) return false;
    t.ejected = false;
    this.#ejectedCount--;
    this.#o.onReturn?.(i);
    return true;
  }

  // O(n), but only when an ejection would pass the cap.
  #returnAllDue(now: number): void {
    for (let i = 0; i < this.#targets.length; i++) {
      const t = this.#targets[i]!;
      if (t.ejected) this.#returnIfDue(i, t, now);
    }
  }

  #decayedEjections(t: TargetHealth, now: number): number {
    if (t.ejected || t.ejections === 0) return t.ejections;
    const steps = Math.floor((now - t.ejectedUntil) / this.#decayMs);
    return Math.max(0, t.ejections - steps);
  }
}

function validate(n: number, o: OutlierOptions): void {
  const fail = (what: string) => {
    throw new RangeError(`outlier detector: ${what}`);
  };
  if (!Number.isInteger(n) || n < 1) fail('targetCount must be an integer >= 1');
  if (!Number.isInteger(o.consecutiveFailures) || o.consecutiveFailures < 1) {
    fail('consecutiveFailures must be an integer >= 1');
  }
  if (!(o.baseEjectionMs > 0) || !Number.isFinite(o.baseEjectionMs)) fail('baseEjectionMs must be > 0');
  if (!(o.maxEjectionMs >= o.baseEjectionMs) || !Number.isFinite(o.maxEjectionMs)) {
    fail('maxEjectionMs must be >= baseEjectionMs');
  }
  if (o.ejectionDecayMs !== undefined && !(o.ejectionDecayMs > 0)) fail('ejectionDecayMs must be > 0');
  if (!(o.maxEjectedPercent >= 0 && o.maxEjectedPercent <= 100))
    fail('maxEjectedPercent must be in [0, 100]');
}
