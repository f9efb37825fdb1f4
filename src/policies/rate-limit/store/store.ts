// The contract between the rate_limit policy and where counts live: the embedded memory store (default) or
// Redis (shared by every gateway instance). One check takes one unit from every limit of a request at once
// — all or nothing, so "10/s and 1000/h" never charges the hour for a request the second refused.
import type { QuotaPeriod } from './calendar.js';
export { StoreUnavailable } from '../../../lib/store-unavailable.js';

/** Token bucket: holds up to `capacity` tokens, refilled continuously at `refillPerSecond`. */
export interface BucketLimit {
  readonly kind: 'bucket';
  readonly capacity: number;
  readonly refillPerSecond: number;
}

/**
 * Sliding window: at most `limit` requests in any `windowMs`, estimated from the current and previous fixed
 * windows (the previous one weighted by how much of it still overlaps) — O(1) state per key.
 */
export interface WindowLimit {
  readonly kind: 'window';
  readonly limit: number;
  readonly windowMs: number;
}

/**
 * Quota: at most `limit` requests per UTC calendar `period` (a day, or a month), counted from the period's
 * first instant and restored all at once when the next one begins. Billing-style budgets; time is the
 * store's wall clock (Redis' for the Redis store), since calendar boundaries are wall-clock instants.
 */
export interface QuotaLimit {
  readonly kind: 'quota';
  readonly limit: number;
  readonly period: QuotaPeriod;
}

export type LimitSpec = BucketLimit | WindowLimit | QuotaLimit;

export interface LimitResult {
  readonly allowed: boolean;
  /** The limit's size (bucket capacity or window limit), for RateLimit headers. */
  readonly limit: number;
  /** Units left after this check (whole units, never negative). */
  readonly remaining: number;
  /** Milliseconds until one unit is available again (0 when some remain). */
  readonly retryAfterMs: number;
  /**
   * Milliseconds until the limit is fully restored (bucket full / window empty); for a quota, always the
   * time until its calendar period ends.
   */
  readonly resetMs: number;
}

export interface RateLimitStore {
  /**
   * Checks request `cost` against each `specs[i]` under `keys[i]` (same length); takes it from all of them
   * only when every one allows it. The memory store answers synchronously, Redis with a Promise. Rejects /
   * throws StoreUnavailable when the store cannot answer in time. `subject` names who the check is for
   * (the policy's key value); a store that shards (Redis Cluster) keeps every key of one subject together,
   * so keys shared across routes (quotas) and a route's own keys can be checked in one atomic step.
   * Default: keys[0].
   */
  check(
    keys: readonly string[],
    specs: readonly LimitSpec[],
    cost: number,
    subject?: string,
  ): readonly LimitResult[] | Promise<readonly LimitResult[]>;
  close(): Promise<void>;
}
