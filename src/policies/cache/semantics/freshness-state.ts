// Where a stored response stands at a given moment: fresh, or stale and by how much, against the
// stale-while-revalidate and stale-if-error windows (RFC 5861) that the upstream granted.

import { currentAgeMs, type AgeBasis } from './current-age.js';

/** What freshnessState needs of a stored response; storability returns it. */
export interface FreshnessInfo extends AgeBasis {
  /** Freshness lifetime (RFC 9111 §4.2.1); 0 for a response that must be revalidated before each use. */
  readonly freshnessMs: number;
  /** `stale-while-revalidate` window after expiry (RFC 5861 §3); 0 when absent. */
  readonly staleWhileRevalidateMs: number;
  /** `stale-if-error` window after expiry (RFC 5861 §4); 0 when absent. */
  readonly staleIfErrorMs: number;
  /**
   * Serving stale is forbidden, whatever the two windows say: must-revalidate, proxy-revalidate, s-maxage
   * (which implies proxy-revalidate, §5.2.2.10) or no-cache (RFC 9111 §4.2.4 names them all). RFC 5861 is
   * an extension and does not override these in-protocol directives.
   */
  readonly mustRevalidate: boolean;
}

/**
 * - `fresh`: usable as is (RFC 9111 §4.2: freshness lifetime > current age).
 * - `stale-while-revalidate`: expired less than the stale-while-revalidate window ago; may be served while
 *   a background revalidation runs (RFC 5861 §3).
 * - `stale-if-error-only`: past that window but within stale-if-error; usable only when the upstream fails
 *   (RFC 5861 §4).
 * - `stale`: must be revalidated or refetched.
 */
export type FreshnessState = 'fresh' | 'stale-while-revalidate' | 'stale-if-error-only' | 'stale';

/**
 * The state of `entry` at `now`. A window is open while the staleness (current age minus freshness
 * lifetime) is below it. When `mustRevalidate` is set no window applies (RFC 9111 §4.2.4).
 */
export function freshnessState(entry: FreshnessInfo, now: number): FreshnessState {
  const staleness = currentAgeMs(entry, now) - entry.freshnessMs;
  if (staleness < 0) return 'fresh';
  if (entry.mustRevalidate) return 'stale';
  if (staleness < entry.staleWhileRevalidateMs) return 'stale-while-revalidate';
  if (staleness < entry.staleIfErrorMs) return 'stale-if-error-only';
  return 'stale';
}
