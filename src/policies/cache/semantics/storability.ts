// Whether a shared cache may store an upstream response (RFC 9111 §3, §3.5) and for how long it stays
// fresh (§4.2.1), with the product rules that are stricter than the RFC spelled out where they apply.

import { DELTA_SECONDS_MAX, parseCacheControl, type CacheControl } from '../../../lib/cache-control.js';
import { initialAgeMs } from './current-age.js';
import { firstFieldLine, type RequestHeaderGetter, type ResponseHeaders } from './field-value.js';
import type { FreshnessInfo } from './freshness-state.js';
import { parseHttpDate } from './http-date.js';
import { varySpec } from './vary.js';

export interface StorabilityInput {
  readonly method: string;
  readonly status: number;
  readonly responseHeaders: ResponseHeaders;
  readonly requestHeaders: RequestHeaderGetter;
  /** The gateway authenticated the consumer (whatever the credential). */
  readonly authenticated: boolean;
  /** The cache key holds the consumer's identity, so a stored response is only served back to them. */
  readonly keyedByConsumer: boolean;
  /** The route's TTL in seconds: replaces the upstream's freshness lifetime (see storability). */
  readonly ttlOverrideS: number | undefined;
  /** When the request was sent upstream (ms since the epoch): `request_time` of RFC 9111 §4.2.3. */
  readonly requestTime: number;
  /** When the response headers arrived: `response_time` of §4.2.3, and the Date of one without Date. */
  readonly responseTime: number;
}

interface StorableResponse extends FreshnessInfo {
  readonly storable: true;
}

/** Why a response is not stored; stable codes, for logs and metrics. */
export type UnstorableReason =
  | 'method'
  | 'status'
  | 'no-store'
  | 'private'
  | 'set-cookie'
  | 'vary-star'
  | 'authenticated'
  | 'must-understand';

interface UnstorableResponse {
  readonly storable: false;
  readonly reason: UnstorableReason;
}

/** Status codes cacheable by default (RFC 9110 §15.1), the only ones this cache understands (§5.2.2.3). */
const CACHEABLE_BY_DEFAULT: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/**
 * Decides whether the response may be stored and, if so, its freshness (RFC 9111 §3 for a shared cache).
 * Only GET responses are stored (a HEAD response has no body to serve later). Refused: no-store in the
 * request or response; private; Set-Cookie (a product rule: one client's cookie is never replayed to
 * another); Vary `*`; status 206, 304, 1xx; a status not cacheable by default without max-age, s-maxage,
 * Expires or public (a route TTL does not count: it never makes errors cacheable); must-understand with a
 * status outside that default set (its no-store, if any, still holds: §5.2.2.3 only permits ignoring it).
 * For an authenticated request (Authorization present, or `authenticated`), the product rule replaces
 * RFC 9111 §3.5: it is stored only when the key holds the consumer, even when the response says public,
 * s-maxage or must-revalidate.
 */
export function storability(input: StorabilityInput): StorableResponse | UnstorableResponse {
  const cc = parseCacheControl(input.responseHeaders['cache-control']);
  const reason = refusal(input, cc);
  if (reason !== undefined) return { storable: false, reason };
  return {
    storable: true,
    freshnessMs: freshnessLifetimeMs(input, cc),
    staleWhileRevalidateMs: (cc.staleWhileRevalidate ?? 0) * 1000,
    staleIfErrorMs: (cc.staleIfError ?? 0) * 1000,
    mustRevalidate: cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge !== undefined || cc.noCache,
    initialAgeMs: initialAgeMs(input.responseHeaders, input.requestTime, input.responseTime),
    responseTime: input.responseTime,
  };
}

function refusal(input: StorabilityInput, cc: CacheControl): UnstorableReason | undefined {
  const { status, responseHeaders } = input;
  if (input.method !== 'GET') return 'method';
  // §3: a final status the cache understands; 206 (ranges) is not supported, 304 updates instead (§4.3.4).
  if (status < 200 || status > 599 || status === 206 || status === 304) return 'status';
  if (cc.noStore || parseCacheControl(input.requestHeaders('cache-control')).noStore) return 'no-store';
  if (cc.private) return 'private';
  if (responseHeaders['set-cookie'] !== undefined) return 'set-cookie';
  if (varySpec(responseHeaders['vary'], []) === '*') return 'vary-star';
  const authenticated = input.authenticated || input.requestHeaders('authorization') !== undefined;
  if (authenticated && !input.keyedByConsumer) return 'authenticated';
  const understood = CACHEABLE_BY_DEFAULT.has(status);
  if (cc.mustUnderstand && !understood) return 'must-understand';
  const explicit =
    cc.maxAge !== undefined ||
    cc.sMaxAge !== undefined ||
    cc.public ||
    responseHeaders['expires'] !== undefined;
  return understood || explicit ? undefined : 'status';
}

/**
 * Freshness lifetime (RFC 9111 §4.2.1) in ms. no-cache makes it 0, route override or not: the response must
 * be revalidated before every use (§5.2.2.4). Otherwise the route's ttlOverrideS wins; else s-maxage (a
 * shared cache), max-age, then Expires minus Date. Conflicting max-age or s-maxage values, an invalid
 * Expires (`0` included, §5.3) or several different Expires mean already stale. No heuristic freshness
 * (§4.2.2): a route that wants responses without explicit freshness cached sets ttlOverrideS.
 */
function freshnessLifetimeMs(input: StorabilityInput, cc: CacheControl): number {
  if (cc.noCache) return 0;
  if (input.ttlOverrideS !== undefined) return clampSeconds(input.ttlOverrideS) * 1000;
  if (cc.conflicting) return 0;
  if (cc.sMaxAge !== undefined) return cc.sMaxAge * 1000;
  if (cc.maxAge !== undefined) return cc.maxAge * 1000;
  const expiresLines = input.responseHeaders['expires'];
  if (expiresLines === undefined) return 0;
  if (typeof expiresLines !== 'string' && new Set(expiresLines).size > 1) return 0;
  const expiresText = firstFieldLine(input.responseHeaders, 'expires');
  const expires = expiresText === undefined ? undefined : parseHttpDate(expiresText, input.responseTime);
  if (expires === undefined) return 0;
  const dateText = firstFieldLine(input.responseHeaders, 'date');
  // A response without a valid Date is dated when it arrived (RFC 9110 §6.6.1).
  const date =
    (dateText === undefined ? undefined : parseHttpDate(dateText, input.responseTime)) ?? input.responseTime;
  return Math.min(Math.max(0, expires - date), DELTA_SECONDS_MAX * 1000);
}

/** A configured TTL kept within [0, 2^31] seconds (§1.2.2); NaN is 0. */
function clampSeconds(seconds: number): number {
  return Number.isNaN(seconds) ? 0 : Math.min(Math.max(0, seconds), DELTA_SECONDS_MAX);
}
