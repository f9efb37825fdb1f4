// What the cache policy records (portico_cache_*): each request's outcome and the body bytes stored, per
// route; and the store's size and evictions (memory store).
import type { PolicyMetrics } from '../../pipeline/policy.js';
import type { ResponseCacheStore } from './store/store.js';

/** What the cache did with a request, sent as X-Cache and counted. */
export type CacheOutcome = 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED';

export interface CacheMetrics {
  outcome(outcome: CacheOutcome): void;
  stored(bytes: number): void;
}

/** The recorder of one route; undefined when metrics are off. */
export function cacheMetrics(metrics: PolicyMetrics, route: string): CacheMetrics | undefined {
  if (!metrics.enabled) return undefined;
  const requests = metrics.counter(
    'requests_total',
    'Requests on cached routes by route and result (hit, miss, stale, revalidated, bypass).',
    ['route', 'result'],
  );
  const series = {
    HIT: requests.series({ route, result: 'hit' }),
    MISS: requests.series({ route, result: 'miss' }),
    STALE: requests.series({ route, result: 'stale' }),
    BYPASS: requests.series({ route, result: 'bypass' }),
    REVALIDATED: requests.series({ route, result: 'revalidated' }),
  };
  const stored = metrics
    .counter('stored_bytes_total', 'Response body bytes written into the cache, by route.', ['route'])
    .series({ route });
  return {
    outcome: (o) => series[o].inc(),
    stored: (bytes) => stored.inc(bytes),
  };
}

/**
 * The store's gauges (portico_cache_bytes / _entries, read at scrape time) and its eviction counter, for the
 * store in use; `kind` is its label value. Evictions are counted through the store's `onEvict` hook.
 */
export function observeStore(metrics: PolicyMetrics, store: ResponseCacheStore, kind: string): void {
  if (!metrics.enabled) return;
  const labels = { store: kind };
  const reading = (field: 'bytes' | 'entries') => (): [typeof labels, number][] => {
    const value = store.stats()[field];
    return value >= 0 ? [[labels, value]] : [];
  };
  metrics.gauge(
    'bytes',
    'Bytes the memory cache holds (entries, keys and metadata).',
    ['store'],
    reading('bytes'),
  );
  metrics.gauge('entries', 'Entries the memory cache holds.', ['store'], reading('entries'));
  if (store.onEvict !== undefined) return;
  const evictions = metrics
    .counter('evictions_total', 'Entries the memory cache evicted to stay within cache.max_bytes.', ['store'])
    .series(labels);
  evictions.inc(0);
  store.onEvict = (evicted) => evictions.inc(evicted);
}
