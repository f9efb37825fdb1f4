// Counts over a rolling time window in fixed buckets, shared by the circuit breaker and the retry budget so
// that recording an outcome is O(1) and allocates nothing.

/**
 * A few named counters (channels) summed over the last `windowMs`, kept as `buckets` slots of
 * `windowMs / buckets` each. A count stops counting at most `windowMs` after it was added (and at least
 * `windowMs - windowMs / buckets`): the oldest slot is dropped whole when time moves past it.
 * Time is whatever the caller passes (the owner's injected clock); a clock that goes backwards is treated
 * as standing still.
 */
export class RollingCounts {
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #channels: number;
  /** Slot-major: slot s, channel c at s * channels + c. */
  readonly #slots: Float64Array;
  readonly #totals: Float64Array;
  /** Bucket number (floor(t / bucketMs)) of the newest slot; -Infinity until the first roll. */
  #head = -Infinity;

  constructor(windowMs: number, channels: number, buckets = 10) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError('windowMs must be a number > 0');
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError('channels must be an integer >= 1');
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError('buckets must be an integer >= 1');
    this.#bucketMs = windowMs / buckets;
    this.#buckets = buckets;
    this.#channels = channels;
    this.#slots = new Float64Array(buckets * channels);
    this.#totals = new Float64Array(channels);
  }

  /** Moves the window to time `t`, dropping the slots that fell out of it. At most `buckets` slots per call. */
  roll(t: number): void {
    const bucket = Math.floor(t / this.#bucketMs);
    if (bucket <= this.#head) return;
    if (bucket - this.#head >= this.#buckets) {
      this.reset();
    } else {
      for (let b = this.#head + 1; b <= bucket; b++) this.#clearBucket(b);
    }
    this.#head = bucket;
  }

  /** Rolls to `t`, then adds `n` to `channel` in the newest slot. */
  add(channel: number, t: number, n = 1): void {
    this.roll(t);
    this.#slots[this.#offset(this.#head) + channel]! += n;
    this.#totals[channel]! += n;
  }

  /** The sum of `channel` over the window as of the last roll (call `roll` first when time has passed). */
  get(channel: number): number {
    return this.#totals[channel] ?? 0;
  }

  /** Forgets every count. */
  reset(): void {
    this.#slots.fill(0);
    this.#totals.fill(0);
  }

  /** Where bucket number `bucket` lives in #slots (bucket numbers may be negative on an odd clock). */
  #offset(bucket: number): number {
    return (((bucket % this.#buckets) + this.#buckets) % this.#buckets) * this.#channels;
  }

  #clearBucket(bucket: number): void {
    const s = this.#offset(bucket);
    for (let c = 0; c < this.#channels; c++) {
      this.#totals[c]! -= this.#slots[s + c]!;
      this.#slots[s + c] = 0;
    }
  }
}
