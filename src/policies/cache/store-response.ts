// Storing an upstream response: whether it may be stored and for how long (RFC 9111 storability with the
// route's TTL, stale windows and entry size limit), its entry and Vary record, and its body — a whole body at
// once, a streamed one through a TeeBody copy once it has ended.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse, ResponseHeaders, StreamingBody } from '../../pipeline/gateway-response.js';
import { variantKey } from './cache-key.js';
import { finishResponse } from './finish-response.js';
import { isAuthenticated, ownsEntries, type RouteContext } from './route-context.js';
import { storability, surrogateTags, varySpec } from './semantics/index.js';
import { EMPTY, storedHeaders, ttlOf, type StoredResponse, type VaryRecord } from './stored-entry.js';
import { TeeBody } from './tee-body.js';

/** Stores a response that may be stored (once its body has ended) and returns it to the client. */
export async function storeResponse(
  ctx: RouteContext,
  ex: Exchange,
  res: GatewayResponse,
  primary: string,
  requestTime: number,
  /** Told when storing is over (or will not happen). */
  done: (() => void) | undefined,
  /** False for a background refresh: nobody sees the response, and it is not a request's outcome. */
  forClient = true,
): Promise<GatewayResponse> {
  const config = ctx.config;
  const responseTime = Date.now();
  const decision =
    res.source === 'upstream' && ex.method === 'GET'
      ? judge(ctx, ex, res.status, res.headers, requestTime, responseTime)
      : undefined;
  const spec = decision?.storable === true ? varySpec(res.headers['vary'], ctx.declaredVary) : '*';
  const length = Number(res.headers['content-length'] ?? NaN);
  if (decision === undefined || !decision.storable || spec === '*' || length > config.max_entry_bytes) {
    done?.();
    return forClient ? finishResponse(ctx, res, 'MISS') : res;
  }
  const meta: StoredResponse = {
    kind: 'response',
    status: res.status,
    headers: storedHeaders(res.headers),
    responseTime,
    initialAgeMs: decision.initialAgeMs,
    freshnessMs: decision.freshnessMs,
    staleWhileRevalidateMs:
      decision.staleWhileRevalidateMs > 0
        ? decision.staleWhileRevalidateMs
        : (config.stale_while_revalidate_s ?? 0) * 1000,
    staleIfErrorMs:
      decision.staleIfErrorMs > 0 ? decision.staleIfErrorMs : (config.stale_if_error_s ?? 0) * 1000,
    mustRevalidate: decision.mustRevalidate,
  };
  const tags = surrogateTags(res.headers);
  const key = spec.length === 0 ? primary : variantKey(primary, spec, ex);
  const save = async (body: Buffer | null): Promise<void> => {
    try {
      if (body === null) return;
      const ttl = ttlOf(meta);
      if (spec.length > 0) {
        const record: VaryRecord = { kind: 'vary', headers: spec };
        await ctx.store.set(
          primary,
          { meta: record as unknown as Record<string, unknown>, body: null, tags },
          ttl,
        );
      }
      await ctx.store.set(key, { meta: meta as unknown as Record<string, unknown>, body, tags }, ttl);
      ctx.recorder?.stored(body.length);
    } finally {
      done?.();
    }
  };
  const body = res.body;
  let out: GatewayResponse;
  if (body === null) {
    save(EMPTY).catch(() => undefined);
    out = res;
  } else if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes =
      typeof body === 'string'
        ? Buffer.from(body)
        : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    save(bytes.length <= config.max_entry_bytes ? bytes : null).catch(() => undefined);
    out = res;
  } else if ('pipeTo' in body) {
    out = {
      ...res,
      body: new TeeBody(
        body as StreamingBody,
        config.max_entry_bytes,
        (b) => void save(b).catch(() => undefined),
      ),
    };
  } else {
    done?.();
    out = res;
  }
  return forClient ? finishResponse(ctx, out, 'MISS') : out;
}

/** Whether a GET's response may be stored, and for how long (RFC 9111 §3, §4.2). */
export function judge(
  ctx: RouteContext,
  ex: Exchange,
  status: number,
  headers: ResponseHeaders,
  requestTime: number,
  responseTime: number,
): ReturnType<typeof storability> {
  return storability({
    method: 'GET',
    status,
    responseHeaders: headers,
    requestHeaders: (n) => ex.headers.get(n),
    authenticated: isAuthenticated(ex),
    keyedByConsumer: ownsEntries(ctx, ex),
    ttlOverrideS: ctx.config.ttl_s,
    requestTime,
    responseTime,
  });
}

/** Reads a background response's body to its end, so a TeeBody copy completes and is stored. */
export async function drain(res: GatewayResponse): Promise<void> {
  const body = res.body;
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) return;
  if ('collect' in body) await body.collect(Number.MAX_SAFE_INTEGER).catch(() => undefined);
  else body.resume();
}
