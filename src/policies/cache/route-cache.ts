// The cache of one route, request by request: which requests may use it (GET and HEAD, not bypassed, their
// entries their own), the lookup, the coalescing of concurrent misses for one key, and what a found entry's
// freshness calls for — serve it, serve it stale while it is refreshed, or revalidate it. A successful
// unsafe request invalidates the entries of its target.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { parseCacheControl } from '../../lib/cache-control.js';
import { coalescingKey, primaryKey, variantPrefix } from './cache-key.js';
import { fetchAndStore } from './fetch-and-store.js';
import { finishResponse } from './finish-response.js';
import { lookup } from './lookup.js';
import type { CacheMetrics } from './metrics.js';
import { scanRequest } from './request-scan.js';
import { refreshInBackground, revalidate } from './revalidate.js';
import { isAuthenticated, ownsEntries, routeContext, type Next, type RouteContext } from './route-context.js';
import type { CacheConfig } from './schema.js';
import { freshnessState } from './semantics/index.js';
import { serveStored } from './serve-stored.js';
import type { ResponseCacheStore } from './store/store.js';
import type { Found } from './stored-entry.js';

/** Unsafe methods that invalidate the stored responses of their target (RFC 9111 §4.4). */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const NO_DIRECTIVES = parseCacheControl(undefined);

export class RouteCache {
  private readonly ctx: RouteContext;
  /** Misses in flight, by key: later requests for the key wait for the first one's response. */
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    route: string,
    config: CacheConfig,
    store: ResponseCacheStore,
    recorder: CacheMetrics | undefined,
  ) {
    this.ctx = routeContext(route, config, store, recorder);
  }

  async handle(ex: Exchange, next: Next): Promise<GatewayResponse> {
    const ctx = this.ctx;
    const method = ex.method;
    if (method !== 'GET' && method !== 'HEAD') {
      const res = await next(ex);
      if (UNSAFE.has(method) && res.source === 'upstream' && res.status < 400)
        this.invalidate(ex).catch(() => undefined);
      return finishResponse(ctx, res, 'BYPASS');
    }
    const authenticated = isAuthenticated(ex);
    // An authenticated request may use the cache only when its entries are its own.
    const ownEntries = ownsEntries(ctx, ex);
    const request = scanRequest(ex, ctx.unkeyedOverrides);
    const requestCc =
      request.cacheControl === undefined ? NO_DIRECTIVES : parseCacheControl(request.cacheControl);
    if ((authenticated && !ownEntries) || request.bypass || requestCc.noStore)
      return finishResponse(ctx, await next(ex), 'BYPASS');

    const primary = primaryKey(ctx, ex);
    let found: Found | undefined;
    // Concurrent misses for one key wait for the first one's response. The key is the variant's once the
    // upstream's Vary is known (the entry's Vary record); before that, the declared vary headers'. A waiter
    // whose variant the leader did not store waits once more for its own variant's leader.
    for (let round = 0; ; round++) {
      const lookedUp = await lookup(ctx.store, primary, ex);
      found = lookedUp.found;
      if (found !== undefined || method !== 'GET') break;
      const key = coalescingKey(primary, lookedUp.vary ?? ctx.declaredVary, ex);
      const leader = this.inflight.get(key);
      if (leader !== undefined && round < 2) {
        await leader;
        continue;
      }
      if (leader !== undefined) break;
      let release!: () => void;
      this.inflight.set(key, new Promise<void>((resolve) => (release = resolve)));
      const done = (): void => {
        this.inflight.delete(key);
        release();
      };
      try {
        return await fetchAndStore(ctx, ex, next, primary, done);
      } catch (err) {
        done();
        throw err;
      }
    }
    if (found === undefined) return fetchAndStore(ctx, ex, next, primary, undefined);

    const now = Date.now();
    const state = requestCc.noCache || requestCc.maxAge === 0 ? 'stale' : freshnessState(found.meta, now);
    if (state === 'fresh') return serveStored(ctx, ex, found, 'HIT', now, request.conditional);
    if (state === 'stale-while-revalidate') {
      const served = serveStored(ctx, ex, found, 'STALE', now, request.conditional);
      if (method === 'GET' && !ctx.refreshing.has(found.key))
        refreshInBackground(ctx, ex, next, primary, found);
      return served;
    }
    return revalidate(ctx, ex, next, primary, found);
  }

  /** Removes the entries of the request's target: the primary key's and every variant's. */
  private async invalidate(ex: Exchange): Promise<void> {
    const primary = primaryKey(this.ctx, ex);
    await this.ctx.store.delete(primary);
    await this.ctx.store.purgePrefix(variantPrefix(primary));
  }
}
