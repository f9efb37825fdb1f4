// The client-facing touches every response of a caching route gets, whatever the cache did with it: X-Cache
// (and the outcome counted), the route's Cache-Control, and the route's vary headers added to Vary.
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import type { CacheOutcome } from './metrics.js';
import type { RouteContext } from './route-context.js';

export function finishResponse(
  ctx: RouteContext,
  res: GatewayResponse,
  outcome: CacheOutcome,
): GatewayResponse {
  ctx.recorder?.outcome(outcome);
  const h = res.headers;
  h['x-cache'] = outcome;
  if (ctx.config.cache_control !== undefined && res.status < 500)
    h['cache-control'] = ctx.config.cache_control;
  if (ctx.varyHeaderValue !== undefined) {
    const existing = h['vary'];
    if (existing === undefined) h['vary'] = ctx.varyHeaderValue;
    else {
      const value = Array.isArray(existing) ? existing.join(', ') : existing;
      const have = new Set(value.split(',').map((n) => n.trim().toLowerCase()));
      const missing = ctx.config.vary.filter((n) => !have.has(n.toLowerCase()));
      if (missing.length > 0) h['vary'] = value + ', ' + missing.join(', ');
    }
  }
  return res;
}
