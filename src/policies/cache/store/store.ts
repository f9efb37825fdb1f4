// The contract between the cache policy and where cached responses live: the embedded memory store (an LRU
// bounded in bytes, the default) or Redis (shared by every gateway instance, TTL on every key). The store
// keeps opaque entries — HTTP semantics (freshness, Vary, validators) are the policy's — and answers
// purges by exact key, by key prefix and by surrogate tag.

/** One stored item: JSON-serializable metadata, an optional body, and the surrogate tags it carries. */
export interface CacheEntry {
  /** What the policy needs to rebuild and judge the response; must survive JSON.stringify / parse. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** The response body (null for items without one, such as a Vary record). */
  readonly body: Buffer | null;
  /** Surrogate tags (from Surrogate-Key / Cache-Tag) for purge by tag; may be empty. */
  readonly tags: readonly string[];
}

export interface CacheStoreStats {
  /** Items held now (memory store; the Redis store reports -1 when it does not know). */
  readonly entries: number;
  /** Bytes held now: body + serialized meta + key + tags + a fixed overhead per item (memory; -1 unknown). */
  readonly bytes: number;
}

export interface ResponseCacheStore {
  /** The item under `key`, or undefined (absent, expired, or the store failed: a miss, never an error). */
  get(key: string): Promise<CacheEntry | undefined>;
  /**
   * Stores `entry` under `key` for `ttlMs` (after which it is gone), replacing any item there. Never
   * rejects: a store failure loses the write (the next request is a miss).
   */
  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  /**
   * Removes the item under `key`; resolves whether there was one. This and the purges reject when the store
   * cannot answer (Redis down), so an admin is never told a purge worked when it did not: callers that do
   * not wait for the result must catch.
   */
  delete(key: string): Promise<boolean>;
  /** Removes every item whose key starts with `prefix`; resolves how many. */
  purgePrefix(prefix: string): Promise<number>;
  /** Removes every item carrying `tag`; resolves how many. */
  purgeTag(tag: string): Promise<number>;
  stats(): CacheStoreStats;
  /** Called with the number of items evicted to stay within the byte bound (memory store). */
  onEvict?: ((count: number) => void) | undefined;
  close(): Promise<void>;
}
