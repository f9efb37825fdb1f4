// A response built from a stored entry: its header fields with Age and Content-Length and its body (none
// for HEAD), or the 304 that answers a client's matching conditional.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { finishResponse } from './finish-response.js';
import type { CacheOutcome } from './metrics.js';
import type { RouteContext } from './route-context.js';
import {
  ageHeader,
  currentAgeMs,
  evaluateConditional,
  notModifiedHeaders,
  validatorsOf,
} from './semantics/index.js';
import type { Found } from './stored-entry.js';

/** The stored response as the client gets it: Age, X-Cache, a 304 when its conditional matches. */
export function serveStored(
  ctx: RouteContext,
  ex: Exchange,
  found: Found,
  outcome: CacheOutcome,
  now: number,
  conditional = true,
): GatewayResponse {
  const age = ageHeader(currentAgeMs(found.meta, now));
  if (
    conditional &&
    evaluateConditional((n) => ex.headers.get(n), validatorsOf(found.meta.headers)) === 'not-modified'
  ) {
    const headers = notModifiedHeaders(found.meta.headers) as Record<string, string | string[]>;
    headers['age'] = age;
    return finishResponse(ctx, { status: 304, headers, body: null, source: 'upstream' }, outcome);
  }
  const headers: Record<string, string | string[]> = { ...found.meta.headers, age };
  headers['content-length'] = String(found.body.length);
  const body = ex.method === 'HEAD' ? null : found.body;
  return finishResponse(ctx, { status: found.meta.status, headers, body, source: 'upstream' }, outcome);
}
