// The embedded rate-limit store (the default): counts live in this process, a check is synchronous and O(1)
// per limit, and memory stays bounded — idle keys are swept a slice at a time and a hard cap evicts the
// least recently used. One process's counts only: several gateway instances each admit the full limit.
import type {
  BucketLimit,
  LimitResult,
  LimitSpec,
  QuotaLimit,
  RateLimitStore,
  WindowLimit,
} from './store.js';
import { calendarPeriod } from './calendar.js';
import { DEAD_AT, fieldsAt, KeyTable, tagAt } from './key-table.js';

export interface MemoryRateLimitStoreOptions {
  /** Monotonic milliseconds; default `performance.now()` (wall-clock jumps must not refill buckets). */
  readonly now?: () => number;
  /**
   * Most keys held; beyond it the least recently used key is forgotten — even one still counting, whose next
   * request then starts from a full budget (the cap errs towards admitting, never towards refusing). A key
   * costs about 135 bytes with its 21-character name (rate-limit.test.ts measures it): 1,000,000 keys, the
   * default, ≈ 135 MB.
   */
  readonly maxKeys?: number;
  /**
   * Epoch milliseconds for quotas, whose periods are UTC calendar days and months; default `Date.now()`.
   * Only quotas read it: a wall-clock step moves a quota into another period, never a bucket's refill.
   */
  readonly wallClock?: () => number;
  /** How often a sweep pass drops idle keys; 0 disables the timer (call `sweep()`). Default 10,000. */
  readonly sweepIntervalMs?: number;
}

export interface MemoryRateLimitStore extends RateLimitStore {
  /**
   * Synchronous. Keys identify one limit each and are distinct within a call. A limit that would allow the
   * request reports `allowed: true` even when another one refused it; nothing is taken from any limit then.
   * `retryAfterMs` is the wait until that limit admits `cost` (a cost above the limit's size never fits: it
   * reports `resetMs`), `resetMs` the wait until it is full (bucket) or empty (window) again.
   */
  check(
    keys: readonly string[],
    specs: readonly LimitSpec[],
    cost: number,
    subject?: string,
  ): readonly LimitResult[];
  /** Keys currently held. */
  readonly size: number;
  /** Drops every idle key now (the timer does the same in slices). */
  sweep(): void;
}

const NONE = -1;
const BUCKET = 1;
const WINDOW = 2;
const QUOTA = 3;
// Bucket fields: tokens at the last charge, and its time. Window fields: current fixed window's start, the
// previous window's count, the current one's. Both keep DEAD_AT: bucket full again / both windows past.
const TOKENS = 0;
const CHARGED_AT = 1;
const START = 0;
const PREVIOUS = 1;
const CURRENT = 2;
// Quota fields: the calendar period's index and its count (START / CURRENT's places).
const PERIOD = 0;
const COUNT = 1;
/** Float tolerance in tokens: 1/3-per-second refills must add up to whole tokens. */
const EPSILON = 1e-9;
/** Slots a timer tick visits (under a millisecond), and the pause before the next tick of the same pass. */
const SWEEP_SLICE = 2048;
const SLICE_PAUSE_MS = 1;

const monotonicNow = (): number => performance.now();

export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions = {}): MemoryRateLimitStore {
  const maxKeys = options.maxKeys ?? 1_000_000;
  const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer`);
  if (!(sweepIntervalMs >= 0 && Number.isFinite(sweepIntervalMs)))
    throw new RangeError(`sweepIntervalMs must be a finite number >= 0`);
  return new MemoryRateLimit(
    options.now ?? monotonicNow,
    options.wallClock ?? Date.now,
    maxKeys,
    sweepIntervalMs,
  );
}

function result(
  allowed: boolean,
  limit: number,
  remaining: number,
  retryAfterMs: number,
  resetMs: number,
): LimitResult {
  return { allowed, limit, remaining, retryAfterMs: waitMs(retryAfterMs), resetMs: waitMs(resetMs) };
}

/**
 * A wait rounded up to whole microseconds, float error under a nanosecond ignored (107.00000000000001 is
 * 107): a client that waits this long is admitted, and whole-millisecond answers stay whole.
 */
function waitMs(ms: number): number {
  const rounded = Math.ceil(ms * 1000 - 1e-3) / 1000;
  return rounded > 0 ? rounded : 0;
}

class MemoryRateLimit implements MemoryRateLimitStore {
  private readonly table: KeyTable;
  /** Scratch: the slot of each key of the check in progress (found once, in the first pass). */
  private found = new Int32Array(8);
  /** Whether the check in progress inserted a key (an insert may evict a slot found in the first pass). */
  private inserted = false;
  // The current window's counts, as loadWindow left them (fields, not an object per check).
  private previous = 0;
  private current = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly now: () => number,
    private readonly wallClock: () => number,
    maxKeys: number,
    private readonly sweepIntervalMs: number,
  ) {
    this.table = new KeyTable(maxKeys);
    if (sweepIntervalMs > 0) this.schedule(sweepIntervalMs);
  }

  get size(): number {
    return this.table.size;
  }

  check(keys: readonly string[], specs: readonly LimitSpec[], cost: number): readonly LimitResult[] {
    const n = keys.length;
    if (specs.length !== n) throw new RangeError('check needs one spec per key');
    if (!(cost >= 0)) throw new RangeError('cost must be a number >= 0');
    const now = this.now();
    let wall = NaN; // read once, and only when a quota is checked
    if (this.found.length < n) this.found = new Int32Array(n);
    const found = this.found;
    const table = this.table;
    let admit = true;
    for (let i = 0; i < n; i++) {
      const slot = table.find(keys[i]!);
      // Touched first, so inserts below evict other keys than this check's.
      if (slot !== NONE) table.touch(slot);
      found[i] = slot;
      const spec = specs[i]!;
      let fits: boolean;
      if (spec.kind === 'bucket') fits = this.tokens(slot, spec, now) + EPSILON >= cost;
      else if (spec.kind === 'window') fits = this.windowFits(this.loadWindow(slot, spec, now), spec, cost);
      else {
        if (wall !== wall) wall = this.wallClock();
        fits = this.quotaCount(slot, spec, wall) + cost <= spec.limit;
      }
      if (!fits) admit = false;
    }
    const charge = admit && cost > 0;
    this.inserted = false;
    const results: LimitResult[] = [];
    for (let i = 0; i < n; i++) {
      const spec = specs[i]!;
      results.push(
        spec.kind === 'bucket'
          ? this.settleBucket(keys[i]!, found[i]!, spec, cost, now, charge)
          : spec.kind === 'window'
            ? this.settleWindow(keys[i]!, found[i]!, spec, cost, now, charge)
            : this.settleQuota(keys[i]!, found[i]!, spec, cost, now, wall, charge),
      );
    }
    return results;
  }

  sweep(): void {
    this.table.sweepAll(this.now());
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return Promise.resolve();
  }

  /** Tokens in the bucket now: what was left at the last charge plus the refill since, up to capacity. */
  private tokens(slot: number, spec: BucketLimit, now: number): number {
    const capacity = spec.capacity;
    if (slot === NONE) return capacity;
    const page = this.table.page(slot);
    if (page.tags[tagAt(slot)] !== BUCKET) return capacity;
    const i = fieldsAt(slot);
    const at = page.numbers[i + CHARGED_AT]!;
    const elapsed = now > at ? now - at : 0;
    // elapsed * rate / 1000 rather than elapsed * (rate / 1000): exact for whole milliseconds and rates.
    const tokens = page.numbers[i + TOKENS]! + (elapsed * spec.refillPerSecond) / 1000;
    return tokens < capacity ? tokens : capacity;
  }

  private settleBucket(
    key: string,
    slot: number,
    spec: BucketLimit,
    cost: number,
    now: number,
    charge: boolean,
  ): LimitResult {
    slot = this.recheck(key, slot);
    const capacity = spec.capacity;
    const rate = spec.refillPerSecond;
    let tokens = this.tokens(slot, spec, now);
    const allowed = tokens + EPSILON >= cost;
    if (charge) {
      tokens -= cost;
      if (slot === NONE) slot = this.insert(key);
      const page = this.table.page(slot);
      const i = fieldsAt(slot);
      page.numbers[i + TOKENS] = tokens;
      page.numbers[i + CHARGED_AT] = now;
      page.numbers[i + DEAD_AT] = now + ((capacity - tokens) * 1000) / rate;
      page.tags[tagAt(slot)] = BUCKET;
    }
    const resetMs = tokens + EPSILON < capacity ? ((capacity - tokens) * 1000) / rate : 0;
    const retryAfterMs = allowed ? 0 : cost > capacity ? resetMs : ((cost - tokens) * 1000) / rate;
    return result(allowed, capacity, tokens > 0 ? Math.floor(tokens + EPSILON) : 0, retryAfterMs, resetMs);
  }

  /**
   * Loads the previous and current fixed windows' counts into `previous` / `current`, shifted if the stored
   * window has ended; returns how far into the current window `now` is.
   */
  private loadWindow(slot: number, spec: WindowLimit, now: number): number {
    const windowMs = spec.windowMs;
    let elapsed = now % windowMs; // fmod is exact, so window starts compare exactly
    if (elapsed < 0) elapsed += windowMs;
    this.previous = 0;
    this.current = 0;
    if (slot === NONE) return elapsed;
    const page = this.table.page(slot);
    if (page.tags[tagAt(slot)] !== WINDOW) return elapsed;
    const i = fieldsAt(slot);
    const stored = page.numbers[i + START]!;
    const start = now - elapsed;
    // A start after ours only comes from a clock that stepped back: keep the counts (refuse, not admit).
    if (stored >= start) {
      this.previous = page.numbers[i + PREVIOUS]!;
      this.current = page.numbers[i + CURRENT]!;
    } else if (stored + windowMs === start) this.previous = page.numbers[i + CURRENT]!;
    return elapsed;
  }

  /** Whether `cost` fits: previous × (window − elapsed) / window + current + cost ≤ limit, kept in integers. */
  private windowFits(elapsed: number, spec: WindowLimit, cost: number): boolean {
    const windowMs = spec.windowMs;
    return this.previous * (windowMs - elapsed) + (this.current + cost) * windowMs <= spec.limit * windowMs;
  }

  private settleWindow(
    key: string,
    slot: number,
    spec: WindowLimit,
    cost: number,
    now: number,
    charge: boolean,
  ): LimitResult {
    slot = this.recheck(key, slot);
    const limit = spec.limit;
    const windowMs = spec.windowMs;
    const elapsed = this.loadWindow(slot, spec, now);
    const allowed = this.windowFits(elapsed, spec, cost);
    const previous = this.previous;
    let current = this.current;
    if (charge) {
      current += cost;
      if (slot === NONE) slot = this.insert(key);
      const page = this.table.page(slot);
      const i = fieldsAt(slot);
      const start = now - elapsed;
      page.numbers[i + START] = start;
      page.numbers[i + PREVIOUS] = previous;
      page.numbers[i + CURRENT] = current;
      page.numbers[i + DEAD_AT] = start + 2 * windowMs;
      page.tags[tagAt(slot)] = WINDOW;
    }
    const weighted = previous * (windowMs - elapsed);
    const left = Math.floor((limit * windowMs - weighted - current * windowMs) / windowMs);
    // The estimate reaches 0 when the current window's count has slid out too: two windows after its start.
    const resetMs = current > 0 ? 2 * windowMs - elapsed : previous > 0 ? windowMs - elapsed : 0;
    let retryAfterMs = 0;
    if (!allowed) {
      if (cost > limit) retryAfterMs = resetMs;
      // The current window has room: wait until the previous one's weight has shrunk enough.
      else if (current + cost <= limit)
        retryAfterMs = windowMs - ((limit - current - cost) * windowMs) / previous - elapsed;
      // Wait for the next window, then until this window's count (its previous) weighs little enough.
      else retryAfterMs = 2 * windowMs - ((limit - cost) * windowMs) / current - elapsed;
    }
    return result(allowed, limit, left > 0 ? left : 0, retryAfterMs, resetMs);
  }

  /** The quota's count in the calendar period holding `wall` (0 when the stored one has ended). */
  private quotaCount(slot: number, spec: QuotaLimit, wall: number): number {
    if (slot === NONE) return 0;
    const page = this.table.page(slot);
    if (page.tags[tagAt(slot)] !== QUOTA) return 0;
    const i = fieldsAt(slot);
    // A stored period after ours only comes from a clock that stepped back: keep the count.
    return page.numbers[i + PERIOD]! >= calendarPeriod(wall, spec.period).index
      ? page.numbers[i + COUNT]!
      : 0;
  }

  private settleQuota(
    key: string,
    slot: number,
    spec: QuotaLimit,
    cost: number,
    now: number,
    wall: number,
    charge: boolean,
  ): LimitResult {
    slot = this.recheck(key, slot);
    const limit = spec.limit;
    const period = calendarPeriod(wall, spec.period);
    let count = this.quotaCount(slot, spec, wall);
    const allowed = count + cost <= limit;
    const untilEnd = period.end - wall;
    if (charge) {
      count += cost;
      if (slot === NONE) slot = this.insert(key);
      const page = this.table.page(slot);
      const i = fieldsAt(slot);
      page.numbers[i + PERIOD] = period.index;
      page.numbers[i + COUNT] = count;
      // Sweeps run on the monotonic clock: the period's end, seen from there.
      page.numbers[i + DEAD_AT] = now + untilEnd;
      page.tags[tagAt(slot)] = QUOTA;
    }
    return result(allowed, limit, count < limit ? limit - count : 0, allowed ? 0 : untilEnd, untilEnd);
  }

  /** After an insert in this check, a found slot may have been evicted and reused; find the key again. */
  private recheck(key: string, slot: number): number {
    if (!this.inserted || (slot !== NONE && this.table.holds(slot, key))) return slot;
    return this.table.find(key);
  }

  private insert(key: string): number {
    this.inserted = true;
    return this.table.insert(key);
  }

  private readonly onTimer = (): void => {
    const done = this.table.sweep(this.now(), SWEEP_SLICE);
    this.schedule(done ? this.sweepIntervalMs : SLICE_PAUSE_MS);
  };

  private schedule(delayMs: number): void {
    this.timer = setTimeout(this.onTimer, delayMs);
    this.timer.unref();
  }
}
