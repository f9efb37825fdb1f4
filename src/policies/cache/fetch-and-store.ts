// A miss: the full response is asked of the upstream (the client's own conditionals held back, so that it
// can be stored) and stored when it may be; a client whose conditional it matches gets a 304 meanwhile.
import { discardBody } from '../../pipeline/body.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import type { Next, RouteContext } from './route-context.js';
import { evaluateConditional, notModifiedHeaders, validatorsOf } from './semantics/index.js';
import { drain, storeResponse } from './store-response.js';
import { TeeBody } from './tee-body.js';

/** Goes upstream for a miss and stores what may be stored; `done` is told when storing is over. */
export async function fetchAndStore(
  ctx: RouteContext,
  ex: Exchange,
  next: Next,
  primary: string,
  done: (() => void) | undefined,
): Promise<GatewayResponse> {
  // Ask for the full response, so it can be stored; the client's conditionals are answered below.
  const clientInm = ex.headers.get('if-none-match');
  const clientIms = ex.headers.get('if-modified-since');
  ex.headers.delete('if-none-match');
  ex.headers.delete('if-modified-since');
  const requestTime = Date.now();
  const res = await next(ex);
  if (clientInm !== undefined) ex.headers.append('if-none-match', clientInm);
  if (clientIms !== undefined) ex.headers.append('if-modified-since', clientIms);
  const out = await storeResponse(ctx, ex, res, primary, requestTime, done);
  if (
    (clientInm === undefined && clientIms === undefined) ||
    out.source !== 'upstream' ||
    out.status !== 200 ||
    evaluateConditional((n) => ex.headers.get(n), validatorsOf(out.headers)) !== 'not-modified'
  )
    return out;
  // The client already has this representation: a 304, while the body still goes into the cache.
  if (out.body instanceof TeeBody) drain(out).catch(() => undefined);
  else discardBody(out.body);
  const headers = notModifiedHeaders(out.headers) as Record<string, string | string[]>;
  headers['x-cache'] = 'MISS';
  return { status: 304, headers, body: null, source: 'upstream' };
}
