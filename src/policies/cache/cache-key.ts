// The keys of a route's entries: the primary key of a request's target, the key of one of its variants, and
// the key concurrent misses wait on. purge-key.ts builds the first part of a primary key the same way.
import type { Exchange } from '../../pipeline/exchange.js';
import type { RouteContext } from './route-context.js';
import { normalizeQuery, varyValues } from './semantics/index.js';

/**
 * The key without variant: normalized path and query, host, route (two routes on one path, told apart by
 * a header or method, never share entries), and the consumer when keyed by it.
 */
export function primaryKey(ctx: RouteContext, ex: Exchange): string {
  let key = ex.path + '?' + normalizeQuery(ex.query) + '\n' + ex.host + '\nr:' + ctx.route;
  if (ctx.keyConsumer) key += '\nc:' + ex.consumerId;
  return key;
}

/** What every variant key under `primary` starts with. */
export function variantPrefix(primary: string): string {
  return primary + '\nv:';
}

/** The key of the variant the request's values of the `spec` headers select. */
export function variantKey(primary: string, spec: readonly string[], ex: Exchange): string {
  return variantPrefix(primary) + varyValues(spec, (n) => ex.headers.get(n));
}

/**
 * The key concurrent misses for one variant wait on: by the headers of the entry's Vary record once the
 * upstream's Vary is known, before that by the route's declared vary headers.
 */
export function coalescingKey(primary: string, vary: readonly string[], ex: Exchange): string {
  return primary + '\n' + varyValues(vary, (n) => ex.headers.get(n));
}
