// Finding the stored response for a request: the entry at its primary key, or, when that entry is a Vary
// record, the variant the request's values of the recorded headers select.
import type { Exchange } from '../../pipeline/exchange.js';
import { variantKey } from './cache-key.js';
import type { ResponseCacheStore } from './store/store.js';
import { EMPTY, type Found, type StoredResponse, type VaryRecord } from './stored-entry.js';

/** The stored response for the request, and the Vary record's headers when the primary key holds one. */
export async function lookup(
  store: ResponseCacheStore,
  primary: string,
  ex: Exchange,
): Promise<{ found?: Found; vary?: readonly string[] }> {
  const first = await store.get(primary);
  if (first === undefined) return {};
  const meta = first.meta as unknown as StoredResponse | VaryRecord;
  if (meta.kind === 'response')
    return { found: { key: primary, meta, body: first.body ?? EMPTY, tags: first.tags } };
  const key = variantKey(primary, meta.headers, ex);
  const variant = await store.get(key);
  const vmeta = variant?.meta as unknown as StoredResponse | VaryRecord | undefined;
  if (variant === undefined || vmeta?.kind !== 'response') return { vary: meta.headers };
  return {
    found: { key, meta: vmeta, body: variant.body ?? EMPTY, tags: variant.tags },
    vary: meta.headers,
  };
}
