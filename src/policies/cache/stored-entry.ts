// What the cache keeps in its store: a response (status, header fields and what its freshness is computed
// from) or, at the primary key of a response with Vary, the record of the headers that select the variant;
// which response header fields are kept, and how long the store keeps an entry.
import type { ResponseHeaders } from '../../pipeline/gateway-response.js';

/** A stored response, as the entry's meta. */
export interface StoredResponse {
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
export interface VaryRecord {
  readonly kind: 'vary';
  readonly headers: readonly string[];
}

/** A stored response found for a request, under its key. */
export interface Found {
  readonly key: string;
  readonly meta: StoredResponse;
  readonly body: Buffer;
  readonly tags: readonly string[];
}

/** The body of a response stored without one. */
export const EMPTY = Buffer.alloc(0);

/** How long a stale entry with validators is kept for revalidation beyond its stale windows. */
const REVALIDATION_KEEP_MS = 10 * 60_000;

/** How long the store keeps an entry: fresh, then usable stale, then (with validators) for revalidation. */
export function ttlOf(meta: StoredResponse): number {
  const validators = meta.headers['etag'] !== undefined || meta.headers['last-modified'] !== undefined;
  const keep = Math.max(
    meta.staleWhileRevalidateMs,
    meta.staleIfErrorMs,
    validators ? REVALIDATION_KEEP_MS : 0,
  );
  return Math.max(1, meta.freshnessMs - meta.initialAgeMs + keep);
}

/** The response header fields worth storing: not Age (recomputed), not the gateway's own X-Cache. */
export function storedHeaders(headers: ResponseHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'age' || name === 'x-cache' || name === 'transfer-encoding' || name === 'connection')
      continue;
    out[name] = typeof value === 'string' ? value : [...value];
  }
  return out;
}
