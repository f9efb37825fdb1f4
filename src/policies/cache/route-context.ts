// What every step of one route's cache reads: the route's settings in the form the request path needs them
// (built once, at compile time), its store and metrics recorder, and the background refreshes in flight.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import type { CacheMetrics } from './metrics.js';
import { unkeyedOverrides } from './request-scan.js';
import type { CacheConfig } from './schema.js';
import type { ResponseCacheStore } from './store/store.js';

/** The rest of the pipeline from the cache on: the upstream call. */
export type Next = (ex: Exchange) => Promise<GatewayResponse>;

export interface RouteContext {
  readonly route: string;
  readonly config: CacheConfig;
  readonly store: ResponseCacheStore;
  readonly recorder: CacheMetrics | undefined;
  /** The route's `vary` header names, lowercase. */
  readonly declaredVary: readonly string[];
  /** `key: [consumer]`: entries per identified consumer. */
  readonly keyConsumer: boolean;
  /** `vary: [Authorization]`: entries per credential. */
  readonly varyAuthorization: boolean;
  /** Request headers that make an upstream answer differently but are not in the key: such requests bypass. */
  readonly unkeyedOverrides: ReadonlySet<string>;
  /** What the route adds to every response's Vary; undefined without `vary`. */
  readonly varyHeaderValue: string | undefined;
  /** Background refreshes in flight (stale-while-revalidate), by entry key. */
  readonly refreshing: Set<string>;
}

export function routeContext(
  route: string,
  config: CacheConfig,
  store: ResponseCacheStore,
  recorder: CacheMetrics | undefined,
): RouteContext {
  const declaredVary = config.vary.map((h) => h.toLowerCase());
  return {
    route,
    config,
    store,
    recorder,
    declaredVary,
    keyConsumer: config.key.includes('consumer'),
    varyAuthorization: declaredVary.includes('authorization'),
    unkeyedOverrides: unkeyedOverrides(declaredVary),
    varyHeaderValue: config.vary.length > 0 ? config.vary.join(', ') : undefined,
    refreshing: new Set<string>(),
  };
}

/** The request names a consumer or carries a credential (checked by the gateway or not). */
export function isAuthenticated(ex: Exchange): boolean {
  return ex.consumerId !== '' || ex.req.headers.authorization !== undefined;
}

/**
 * The request's entries are its own: keyed by the consumer the gateway identified (a credential the gateway
 * did not check names no consumer), or by the credential.
 */
export function ownsEntries(ctx: RouteContext, ex: Exchange): boolean {
  return ctx.varyAuthorization || (ctx.keyConsumer && ex.consumerId !== '');
}
