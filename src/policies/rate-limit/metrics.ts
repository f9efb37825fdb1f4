// What the rate_limit policy records (portico_rate_limit_*): decisions per route and tier, and the health
// of the store — its failed checks and how long a check took.
import type { CounterSeries, PolicyMetrics } from '../../pipeline/policy.js';

/** Gateway-added time is small: 50 µs to 250 ms. */
const STORE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25];

export interface RateLimitMetrics {
  /** False when metrics are off: the store latency is then not measured at all. */
  readonly enabled: boolean;
  allowed(tier: string): void;
  limited(tier: string): void;
  storeError(): void;
  /** Seconds one store check took (Redis: the round trip). */
  storeLatency(seconds: number): void;
}

/** Records nothing: metrics are off (no lookup per request). */
const OFF: RateLimitMetrics = {
  enabled: false,
  allowed() {},
  limited() {},
  storeError() {},
  storeLatency() {},
};

/** The recorder of one route on store `store` ("memory" or "redis"); tier series resolved on first use. */
export function rateLimitMetrics(metrics: PolicyMetrics, route: string, store: string): RateLimitMetrics {
  if (!metrics.enabled) return OFF;
  const allowedTotal = metrics.counter(
    'allowed_total',
    'Requests a rate limit admitted, by route and tier ("(none)" without tiers).',
    ['route', 'tier'],
  );
  const rejectedTotal = metrics.counter(
    'rejected_total',
    'Requests refused with 429 by a rate limit, by route and tier.',
    ['route', 'tier'],
  );
  const storeErrors = metrics.counter(
    'store_errors_total',
    'Rate-limit store checks that failed or timed out, by store.',
    ['store'],
  );
  const storeDuration = metrics.histogram(
    'store_duration_seconds',
    'Time one rate-limit store check took, by store.',
    ['store'],
    STORE_BUCKETS,
  );
  // Store series appear with the first failure / the first timed check (a memory store is never timed).
  const labels = { store };
  const allowed = new Map<string, CounterSeries>();
  const limited = new Map<string, CounterSeries>();
  const series = (
    m: Map<string, CounterSeries>,
    family: ReturnType<PolicyMetrics['counter']>,
    tier: string,
  ): CounterSeries => {
    let s = m.get(tier);
    if (s === undefined) m.set(tier, (s = family.series({ route, tier: tier === '' ? '(none)' : tier })));
    return s;
  };
  return {
    enabled: metrics.enabled,
    allowed: (tier) => series(allowed, allowedTotal, tier).inc(),
    limited: (tier) => series(limited, rejectedTotal, tier).inc(),
    storeError: () => storeErrors.series(labels).inc(),
    storeLatency: (seconds) => storeDuration.series(labels).observe(seconds),
  };
}
