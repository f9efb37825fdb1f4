// Edge response cache (cache phase, as a layer around the upstream call): answers GET and HEAD from stored
// responses under HTTP caching semantics for a shared cache (RFC 9111) — freshness, Vary variants, Age,
// conditional requests, revalidation with validators, stale-while-revalidate, stale-if-error — and makes
// concurrent misses for one key wait for a single upstream request. It never stores what a shared cache
// must not (no-store, private, Set-Cookie) nor, unless the route keys entries by consumer (or varies on
// Authorization), anything for an authenticated request.
//
// It sits around the upstream call, inside authentication, rate limits and request transforms: a hit still
// counts against the client's limits, and the response transform runs on cached responses as on fresh ones.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse, ResponseHeaders, StreamingBody } from '../../pipeline/gateway-response.js';
import { definePolicy, type CacheMetrics, type CompileContext, type Policy } from '../../pipeline/policy.js';
import type { ResponseCacheStore } from '../../stores/response-cache.js';
import { CacheSchema, CacheSectionSchema, type CacheConfig } from './schema.js';
import {
  ageHeader,
  currentAgeMs,
  evaluateConditional,
  freshnessState,
  mergeNotModified,
  normalizeQuery,
  notModifiedHeaders,
  parseCacheControl,
  revalidationHeaders,
  storability,
  surrogateTags,
  validatorsOf,
  varySpec,
  varyValues,
} from './semantics/index.js';
import { TeeBody } from './tee-body.js';

/** What the cache did with a request, sent as X-Cache and counted. */
export type CacheOutcome = 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED';

/** A stored response, as the entry's meta. */
interface StoredResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly responseTime: number;
  readonly initialAgeMs: number;
  readonly freshnessMs: number;
  readonly staleWhileRevalidateMs: number;
  readonly staleIfErrorMs: number;
  readonly mustRevalidate: boolean;
}

/** At the primary key of a response with Vary: which request headers select the variant. */
interface VaryRecord {
  readonly kind: 'vary';
  readonly headers: readonly string[];
}

interface Found {
  readonly key: string;
  readonly meta: StoredResponse;
  readonly body: Buffer;
  readonly tags: readonly string[];
}

/** Unsafe methods that invalidate the stored responses of their target (RFC 9111 §4.4). */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** How long a stale entry with validators is kept for revalidation beyond its stale windows. */
const REVALIDATION_KEEP_MS = 10 * 60_000;

export const cache = definePolicy({
  name: 'cache',
  phase: 'cache',
  summary:
    'Answer GET/HEAD from cached responses (RFC 9111): variants, revalidation, stale serving, coalescing.',
  schema: CacheSchema,
  sections: { cache: CacheSectionSchema },
  create(config: CacheConfig, ctx: CompileContext): Policy {
    const handle = ctx.gateway.responseCache?.();
    if (handle === undefined) return {};
    const cacheStore = handle.store;
    const recorder = ctx.gateway.cacheMetrics?.(ctx.routeName);
    const route = new RouteCache(ctx.routeName, config, cacheStore, recorder);
    return {
      onUpstream: (ex, next) => route.handle(ex, next),
    };
  },
});

type Next = (ex: Exchange) => Promise<GatewayResponse>;

class RouteCache {
  private readonly declaredVary: readonly string[];
  /** `key: [consumer]`: entries per identified consumer. */
  private readonly keyConsumer: boolean;
  /** `vary: [Authorization]`: entries per credential. */
  private readonly varyAuthorization: boolean;
  /** Request headers that make an upstream answer differently but are not in the key: such requests bypass. */
  private readonly unkeyedOverrides: ReadonlySet<string>;
  /** Misses in flight, by key: later requests for the key wait for the first one's response. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Background refreshes in flight (stale-while-revalidate), by key. */
  private readonly refreshing = new Set<string>();
  private readonly varyHeaderValue: string | undefined;

  constructor(
    private readonly route: string,
    private readonly config: CacheConfig,
    private readonly store: ResponseCacheStore,
    private readonly recorder: CacheMetrics | undefined,
  ) {
    this.declaredVary = config.vary.map((h) => h.toLowerCase());
    this.keyConsumer = config.key.includes('consumer');
    this.varyAuthorization = this.declaredVary.includes('authorization');
    this.varyHeaderValue = config.vary.length > 0 ? config.vary.join(', ') : undefined;
    this.unkeyedOverrides = new Set([...OVERRIDE_HEADERS].filter((h) => !this.declaredVary.includes(h)));
  }

  async handle(ex: Exchange, next: Next): Promise<GatewayResponse> {
    const method = ex.method;
    if (method !== 'GET' && method !== 'HEAD') {
      const res = await next(ex);
      if (UNSAFE.has(method) && res.source === 'upstream' && res.status < 400)
        this.invalidate(ex).catch(() => undefined);
      return this.finish(ex, res, 'BYPASS');
    }
    const authenticated = ex.consumerId !== '' || ex.req.headers.authorization !== undefined;
    // An authenticated request may use the cache only when its entries are its own: keyed by the consumer the
    // gateway identified (a credential the gateway did not check names no consumer), or by the credential.
    const ownEntries = this.varyAuthorization || (this.keyConsumer && ex.consumerId !== '');
    const request = scanRequest(ex, this.unkeyedOverrides);
    const requestCc =
      request.cacheControl === undefined ? NO_DIRECTIVES : parseCacheControl(request.cacheControl);
    if ((authenticated && !ownEntries) || request.bypass || requestCc.noStore)
      return this.finish(ex, await next(ex), 'BYPASS');

    const primary = this.primaryKey(ex);
    let found: Found | undefined;
    // Concurrent misses for one key wait for the first one's response. The key is the variant's once the
    // upstream's Vary is known (the entry's Vary record); before that, the declared vary headers'. A waiter
    // whose variant the leader did not store waits once more for its own variant's leader.
    for (let round = 0; ; round++) {
      const lookup = await this.lookup(primary, ex);
      found = lookup.found;
      if (found !== undefined || method !== 'GET') break;
      const coalesceKey =
        primary + '\n' + varyValues(lookup.vary ?? this.declaredVary, (n) => ex.headers.get(n));
      const leader = this.inflight.get(coalesceKey);
      if (leader !== undefined && round < 2) {
        await leader;
        continue;
      }
      if (leader !== undefined) break;
      let release!: () => void;
      this.inflight.set(coalesceKey, new Promise<void>((resolve) => (release = resolve)));
      const done = (): void => {
        this.inflight.delete(coalesceKey);
        release();
      };
      try {
        return await this.fetchAndStore(ex, next, primary, done);
      } catch (err) {
        done();
        throw err;
      }
    }
    if (found === undefined) return this.fetchAndStore(ex, next, primary, undefined);

    const now = Date.now();
    const state = requestCc.noCache || requestCc.maxAge === 0 ? 'stale' : freshnessState(found.meta, now);
    if (state === 'fresh') return this.serve(ex, found, 'HIT', now, request.conditional);
    if (state === 'stale-while-revalidate') {
      const served = this.serve(ex, found, 'STALE', now, request.conditional);
      if (method === 'GET' && !this.refreshing.has(found.key)) this.refresh(ex, next, primary, found);
      return served;
    }
    return this.revalidate(ex, next, primary, found);
  }

  /**
   * The key without variant: normalized path and query, host, route (two routes on one path, told apart by
   * a header or method, never share entries), and the consumer when keyed by it.
   */
  private primaryKey(ex: Exchange): string {
    let key = ex.path + '?' + normalizeQuery(ex.query) + '\n' + ex.host + '\nr:' + this.route;
    if (this.keyConsumer) key += '\nc:' + ex.consumerId;
    return key;
  }

  /** The stored response for the request, and the Vary record's headers when the primary key holds one. */
  private async lookup(primary: string, ex: Exchange): Promise<{ found?: Found; vary?: readonly string[] }> {
    const first = await this.store.get(primary);
    if (first === undefined) return {};
    const meta = first.meta as unknown as StoredResponse | VaryRecord;
    if (meta.kind === 'response')
      return { found: { key: primary, meta, body: first.body ?? EMPTY, tags: first.tags } };
    const key = variantKey(primary, meta.headers, ex);
    const variant = await this.store.get(key);
    const vmeta = variant?.meta as unknown as StoredResponse | VaryRecord | undefined;
    if (variant === undefined || vmeta?.kind !== 'response') return { vary: meta.headers };
    return {
      found: { key, meta: vmeta, body: variant.body ?? EMPTY, tags: variant.tags },
      vary: meta.headers,
    };
  }

  /** The stored response as the client gets it: Age, X-Cache, a 304 when its conditional matches. */
  private serve(
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
      return this.finish(ex, { status: 304, headers, body: null, source: 'upstream' }, outcome);
    }
    const headers: Record<string, string | string[]> = { ...found.meta.headers, age };
    headers['content-length'] = String(found.body.length);
    const body = ex.method === 'HEAD' ? null : found.body;
    return this.finish(ex, { status: found.meta.status, headers, body, source: 'upstream' }, outcome);
  }

  /** Asks the upstream with the stored validators; a 304 refreshes the entry. */
  private async revalidate(
    ex: Exchange,
    next: Next,
    primary: string,
    found: Found,
  ): Promise<GatewayResponse> {
    // The client's own conditionals are answered from the entry, not by the upstream.
    const clientInm = ex.headers.get('if-none-match');
    const clientIms = ex.headers.get('if-modified-since');
    this.setValidators(ex, found);
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
      const stale = this.staleOnError(ex, found);
      if (stale !== undefined) return stale;
      throw err;
    }
    restore();
    if (res.source === 'upstream' && res.status === 304) {
      discard(res);
      const updated = await this.refreshEntry(ex, found, res.headers, requestTime);
      if (updated !== undefined) return this.serve(ex, updated, 'REVALIDATED', Date.now());
      return this.serve(ex, found, 'REVALIDATED', Date.now());
    }
    if (res.status >= 500) {
      const stale = this.staleOnError(ex, found);
      if (stale !== undefined) {
        discard(res);
        return stale;
      }
    }
    return this.storeResponse(ex, res, primary, requestTime, undefined);
  }

  /** stale-if-error: the stored response when the upstream failed and the entry allows it. */
  private staleOnError(ex: Exchange, found: Found): GatewayResponse | undefined {
    const now = Date.now();
    const state = freshnessState(found.meta, now);
    if (state === 'stale') return undefined;
    return this.serve(ex, found, 'STALE', now);
  }

  /** stale-while-revalidate: one background request per key refreshes the entry. */
  private refresh(ex: Exchange, next: Next, primary: string, found: Found): void {
    this.refreshing.add(found.key);
    this.setValidators(ex, found);
    const requestTime = Date.now();
    const finish = (): void => void this.refreshing.delete(found.key);
    next(ex)
      .then(
        async (res) => {
          try {
            if (res.source === 'upstream' && res.status === 304) {
              discard(res);
              await this.refreshEntry(ex, found, res.headers, requestTime);
            } else if (res.source === 'upstream' && res.status < 500) {
              const stored = await this.storeResponse(ex, res, primary, requestTime, undefined, false);
              // Read to its end so the copy is stored; a body that will not be stored is dropped unread.
              if (stored.body instanceof TeeBody) await drain(stored);
              else discard(stored);
            } else discard(res);
          } finally {
            finish();
          }
        },
        () => finish(),
      )
      // A refresh that fails leaves the entry as it was; nothing may escape as an unhandled rejection.
      .catch(() => undefined);
  }

  /** Goes upstream for a miss and stores what may be stored; `done` is told when storing is over. */
  private async fetchAndStore(
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
    const out = await this.storeResponse(ex, res, primary, requestTime, done);
    if (
      (clientInm === undefined && clientIms === undefined) ||
      out.source !== 'upstream' ||
      out.status !== 200 ||
      evaluateConditional((n) => ex.headers.get(n), validatorsOf(out.headers)) !== 'not-modified'
    )
      return out;
    // The client already has this representation: a 304, while the body still goes into the cache.
    if (out.body instanceof TeeBody) drain(out).catch(() => undefined);
    else discard(out);
    const headers = notModifiedHeaders(out.headers) as Record<string, string | string[]>;
    headers['x-cache'] = 'MISS';
    return { status: 304, headers, body: null, source: 'upstream' };
  }

  /** Stores a response that may be stored (once its body has ended) and returns it to the client. */
  private async storeResponse(
    ex: Exchange,
    res: GatewayResponse,
    primary: string,
    requestTime: number,
    done: (() => void) | undefined,
    /** False for a background refresh: nobody sees the response, and it is not a request's outcome. */
    forClient = true,
  ): Promise<GatewayResponse> {
    const responseTime = Date.now();
    const decision =
      res.source === 'upstream' && ex.method === 'GET'
        ? this.judge(ex, res.status, res.headers, requestTime, responseTime)
        : undefined;
    const spec = decision?.storable === true ? varySpec(res.headers['vary'], this.declaredVary) : '*';
    const length = Number(res.headers['content-length'] ?? NaN);
    if (
      decision === undefined ||
      !decision.storable ||
      spec === '*' ||
      length > this.config.max_entry_bytes
    ) {
      done?.();
      return forClient ? this.finish(ex, res, 'MISS') : res;
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
          : (this.config.stale_while_revalidate_s ?? 0) * 1000,
      staleIfErrorMs:
        decision.staleIfErrorMs > 0 ? decision.staleIfErrorMs : (this.config.stale_if_error_s ?? 0) * 1000,
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
          await this.store.set(
            primary,
            { meta: record as unknown as Record<string, unknown>, body: null, tags },
            ttl,
          );
        }
        await this.store.set(key, { meta: meta as unknown as Record<string, unknown>, body, tags }, ttl);
        this.recorder?.stored(body.length);
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
      save(bytes.length <= this.config.max_entry_bytes ? bytes : null).catch(() => undefined);
      out = res;
    } else if ('pipeTo' in body) {
      out = {
        ...res,
        body: new TeeBody(
          body as StreamingBody,
          this.config.max_entry_bytes,
          (b) => void save(b).catch(() => undefined),
        ),
      };
    } else {
      done?.();
      out = res;
    }
    return forClient ? this.finish(ex, out, 'MISS') : out;
  }

  /** Applies a 304's header fields to the stored response and stores it again. */
  private async refreshEntry(
    ex: Exchange,
    found: Found,
    fresh: ResponseHeaders,
    requestTime: number,
  ): Promise<Found | undefined> {
    const headers = mergeNotModified(found.meta.headers, fresh);
    const responseTime = Date.now();
    const decision = this.judge(ex, found.meta.status, headers, requestTime, responseTime);
    if (!decision.storable) {
      await this.store.delete(found.key).catch(() => undefined);
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
    await this.store.set(
      found.key,
      { meta: meta as unknown as Record<string, unknown>, body: found.body, tags: found.tags },
      ttlOf(meta),
    );
    return { ...found, meta };
  }

  /** Whether a GET's response may be stored, and for how long (RFC 9111 §3, §4.2). */
  private judge(
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
      authenticated: ex.consumerId !== '' || ex.req.headers.authorization !== undefined,
      keyedByConsumer: this.varyAuthorization || (this.keyConsumer && ex.consumerId !== ''),
      ttlOverrideS: this.config.ttl_s,
      requestTime,
      responseTime,
    });
  }

  private setValidators(ex: Exchange, found: Found): void {
    ex.headers.delete('if-none-match');
    ex.headers.delete('if-modified-since');
    for (const [name, value] of revalidationHeaders(validatorsOf(found.meta.headers)))
      ex.headers.append(name, value);
  }

  private async invalidate(ex: Exchange): Promise<void> {
    const primary = this.primaryKey(ex);
    await this.store.delete(primary);
    await this.store.purgePrefix(primary + '\nv:');
  }

  /** The client-facing touches every response of the route gets: X-Cache, and the route's headers. */
  private finish(ex: Exchange, res: GatewayResponse, outcome: CacheOutcome): GatewayResponse {
    this.recorder?.outcome(outcome);
    const h = res.headers;
    h['x-cache'] = outcome;
    if (this.config.cache_control !== undefined && res.status < 500)
      h['cache-control'] = this.config.cache_control;
    if (this.varyHeaderValue !== undefined) {
      const existing = h['vary'];
      if (existing === undefined) h['vary'] = this.varyHeaderValue;
      else {
        const value = Array.isArray(existing) ? existing.join(', ') : existing;
        const have = new Set(value.split(',').map((n) => n.trim().toLowerCase()));
        const missing = this.config.vary.filter((n) => !have.has(n.toLowerCase()));
        if (missing.length > 0) h['vary'] = value + ', ' + missing.join(', ');
      }
    }
    return res;
  }
}

const EMPTY = Buffer.alloc(0);
const NO_DIRECTIVES = parseCacheControl(undefined);

/**
 * Request headers that change what some upstreams answer (the URL, host, scheme or method they act on) —
 * the usual cache-poisoning vectors. They are not in the key, so a request carrying one bypasses the cache
 * unless the route lists it in `vary`.
 */
const OVERRIDE_HEADERS: ReadonlySet<string> = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-host',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-prefix',
  'x-original-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** The request header fields the cache looks at, found in one pass over the header list. */
function scanRequest(
  ex: Exchange,
  overrides: ReadonlySet<string>,
): { cacheControl: string | undefined; bypass: boolean; conditional: boolean } {
  const raw = ex.headers.raw;
  let cacheControl: string | undefined;
  let bypass = false;
  let conditional = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Every name looked for starts with c, r, i or x: the common headers skip the lowercasing.
    const c = name.charCodeAt(0) | 0x20;
    if (c !== 0x63 && c !== 0x72 && c !== 0x69 && c !== 0x78) continue;
    const lower = name.toLowerCase();
    if (lower === 'cache-control')
      cacheControl = cacheControl === undefined ? raw[i + 1] : cacheControl + ', ' + raw[i + 1];
    else if (lower === 'range' || overrides.has(lower)) bypass = true;
    else if (lower === 'if-none-match' || lower === 'if-modified-since') conditional = true;
  }
  return { cacheControl, bypass, conditional };
}

function variantKey(primary: string, spec: readonly string[], ex: Exchange): string {
  return primary + '\nv:' + varyValues(spec, (n) => ex.headers.get(n));
}

/** How long the store keeps an entry: fresh, then usable stale, then (with validators) for revalidation. */
function ttlOf(meta: StoredResponse): number {
  const validators = meta.headers['etag'] !== undefined || meta.headers['last-modified'] !== undefined;
  const keep = Math.max(
    meta.staleWhileRevalidateMs,
    meta.staleIfErrorMs,
    validators ? REVALIDATION_KEEP_MS : 0,
  );
  return Math.max(1, meta.freshnessMs - meta.initialAgeMs + keep);
}

/** The response header fields worth storing: not Age (recomputed), not the gateway's own X-Cache. */
function storedHeaders(headers: ResponseHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'age' || name === 'x-cache' || name === 'transfer-encoding' || name === 'connection')
      continue;
    out[name] = typeof value === 'string' ? value : [...value];
  }
  return out;
}

function discard(res: GatewayResponse): void {
  const body = res.body;
  if (body !== null && typeof body === 'object' && 'destroy' in body) body.destroy();
}

/** Reads a background response's body to its end, so a TeeBody copy completes and is stored. */
async function drain(res: GatewayResponse): Promise<void> {
  const body = res.body;
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) return;
  if ('collect' in body) await body.collect(Number.MAX_SAFE_INTEGER).catch(() => undefined);
  else body.resume();
}
