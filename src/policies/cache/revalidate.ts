// Revalidation with the upstream (RFC 9111 §4.3): a stale entry is asked about with its validators, in the
// request path or, while it is served stale (stale-while-revalidate), in the background; a 304 updates the
// entry, and an upstream failure may be answered with the entry instead (stale-if-error).
import { discardBody } from '../../pipeline/body.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse, ResponseHeaders } from '../../pipeline/gateway-response.js';
import type { Next, RouteContext } from './route-context.js';
import { freshnessState, mergeNotModified, revalidationHeaders, validatorsOf } from './semantics/index.js';
import { serveStored } from './serve-stored.js';
import { drain, judge, storeResponse } from './store-response.js';
import { storedHeaders, ttlOf, type Found, type StoredResponse } from './stored-entry.js';
import { TeeBody } from './tee-body.js';

/** Asks the upstream with the stored validators; a 304 refreshes the entry. */
export async function revalidate(
  ctx: RouteContext,
  ex: Exchange,
  next: Next,
  primary: string,
  found: Found,
): Promise<GatewayResponse> {
  // The client's own conditionals are answered from the entry, not by the upstream.
  const clientInm = ex.headers.get('if-none-match');
  const clientIms = ex.headers.get('if-modified-since');
  setValidators(ex, found);
  const restore = (): void => {
    ex.headers.delete('if-none-match');
    ex.headers.delete('if-modified-since');
    if (clientInm !== undefined) ex.headers.append('if-none-match', clientInm);
    if (clientIms !== undefined) ex.headers.append('if-modified-since', clientIms);
  };
  const requestTime = Date.now();
  let res: GatewayResponse;
  try {
    res = await next(ex);
  } catch (err) {
    restore();
    const stale = staleOnError(ctx, ex, found);
    if (stale !== undefined) return stale;
    throw err;
  }
  restore();
  if (res.source === 'upstream' && res.status === 304) {
    discardBody(res.body);
    const updated = await refreshEntry(ctx, ex, found, res.headers, requestTime);
    if (updated !== undefined) return serveStored(ctx, ex, updated, 'REVALIDATED', Date.now());
    return serveStored(ctx, ex, found, 'REVALIDATED', Date.now());
  }
  if (res.status >= 500) {
    const stale = staleOnError(ctx, ex, found);
    if (stale !== undefined) {
      discardBody(res.body);
      return stale;
    }
  }
  return storeResponse(ctx, ex, res, primary, requestTime, undefined);
}

/** stale-while-revalidate: one background request per key refreshes the entry. */
export function refreshInBackground(
  ctx: RouteContext,
  ex: Exchange,
  next: Next,
  primary: string,
  found: Found,
): void {
  ctx.refreshing.add(found.key);
  setValidators(ex, found);
  const requestTime = Date.now();
  const finish = (): void => void ctx.refreshing.delete(found.key);
  next(ex)
    .then(
      async (res) => {
        try {
          if (res.source === 'upstream' && res.status === 304) {
            discardBody(res.body);
            await refreshEntry(ctx, ex, found, res.headers, requestTime);
          } else if (res.source === 'upstream' && res.status < 500) {
            const stored = await storeResponse(ctx, ex, res, primary, requestTime, undefined, false);
            // Read to its end so the copy is stored; a body that will not be stored is dropped unread.
            if (stored.body instanceof TeeBody) await drain(stored);
            else discardBody(stored.body);
          } else discardBody(res.body);
        } finally {
          finish();
        }
      },
      () => finish(),
    )
    // A refresh that fails leaves the entry as it was; nothing may escape as an unhandled rejection.
    .catch(() => undefined);
}

/** stale-if-error: the stored response when the upstream failed and the entry allows it. */
function staleOnError(ctx: RouteContext, ex: Exchange, found: Found): GatewayResponse | undefined {
  const now = Date.now();
  const state = freshnessState(found.meta, now);
  if (state === 'stale') return undefined;
  return serveStored(ctx, ex, found, 'STALE', now);
}

/** Applies a 304's header fields to the stored response and stores it again. */
async function refreshEntry(
  ctx: RouteContext,
  ex: Exchange,
  found: Found,
  fresh: ResponseHeaders,
  requestTime: number,
): Promise<Found | undefined> {
  const headers = mergeNotModified(found.meta.headers, fresh);
  const responseTime = Date.now();
  const decision = judge(ctx, ex, found.meta.status, headers, requestTime, responseTime);
  if (!decision.storable) {
    await ctx.store.delete(found.key).catch(() => undefined);
    return undefined;
  }
  const meta: StoredResponse = {
    ...found.meta,
    headers: storedHeaders(headers),
    responseTime,
    initialAgeMs: decision.initialAgeMs,
    freshnessMs: decision.freshnessMs,
    mustRevalidate: decision.mustRevalidate,
  };
  await ctx.store.set(
    found.key,
    { meta: meta as unknown as Record<string, unknown>, body: found.body, tags: found.tags },
    ttlOf(meta),
  );
  return { ...found, meta };
}

/** Makes the request conditional on the stored validators, in place of the client's conditionals. */
function setValidators(ex: Exchange, found: Found): void {
  ex.headers.delete('if-none-match');
  ex.headers.delete('if-modified-since');
  for (const [name, value] of revalidationHeaders(validatorsOf(found.meta.headers)))
    ex.headers.append(name, value);
}
