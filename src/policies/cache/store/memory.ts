// The embedded response cache (the default): items live in this process's heap, bounded in bytes by evicting
// the least recently used, each gone at its TTL — dropped when next touched, or by a sweep a slice at a time
// so dead items do not hold memory until the bound pushes them out. One process's cache only.
import type { CacheEntry, CacheStoreStats, ResponseCacheStore } from './store.js';

interface MemoryResponseCacheOptions {
  /**
   * Most bytes held, counted per item as body + serialized meta + key + tags + ITEM_OVERHEAD_BYTES (UTF-8
   * lengths); beyond it the least recently used items are evicted.
   */
  readonly maxBytes: number;
  /** Monotonic milliseconds; default `performance.now()` (a wall-clock step must not expire everything). */
  readonly now?: () => number;
  /** How often a sweep pass drops expired items; 0 disables the timer (call `sweep()`). Default 30,000. */
  readonly sweepIntervalMs?: number;
}

export interface MemoryResponseCacheStore extends ResponseCacheStore {
  /** Drops every expired item now (the timer does the same in slices); returns how many. */
  sweep(): number;
  /** Tags in the index now (each names at least one held item). */
  readonly indexedTags: number;
}

/**
 * Bookkeeping counted per item on top of its payload: the item record, its Map entry and the tag index's
 * Set entries — an estimate, so that a flood of tiny items is still bounded by `maxBytes`.
 */
export const ITEM_OVERHEAD_BYTES = 200;
/** Items a sweep tick visits (well under a millisecond), and the pause before the next tick of a pass. */
const SWEEP_SLICE = 4096;
const SLICE_PAUSE_MS = 1;

interface Item {
  readonly entry: CacheEntry;
  readonly bytes: number;
  /** On the `now` clock; the item is gone from this instant on. */
  readonly expiresAt: number;
}

const monotonicNow = (): number => performance.now();

export function createMemoryResponseCache(options: MemoryResponseCacheOptions): MemoryResponseCacheStore {
  const { maxBytes } = options;
  const sweepIntervalMs = options.sweepIntervalMs ?? 30_000;
  if (!(maxBytes > 0 && Number.isFinite(maxBytes)))
    throw new RangeError('maxBytes must be a positive number');
  if (!(sweepIntervalMs >= 0 && Number.isFinite(sweepIntervalMs)))
    throw new RangeError('sweepIntervalMs must be a finite number >= 0');
  return new MemoryResponseCache(maxBytes, options.now ?? monotonicNow, sweepIntervalMs);
}

/** What an item counts against `maxBytes`; NaN when its meta cannot be serialized (it is not stored). */
function itemBytes(key: string, entry: CacheEntry): number {
  let metaBytes: number;
  try {
    metaBytes = Buffer.byteLength(JSON.stringify(entry.meta));
  } catch {
    return NaN; // BigInt, a cycle: breaks the contract, and the Redis store could not store it either
  }
  let tagBytes = 0;
  for (const tag of entry.tags) tagBytes += Buffer.byteLength(tag);
  const bodyBytes = entry.body === null ? 0 : entry.body.length;
  return bodyBytes + metaBytes + Buffer.byteLength(key) + tagBytes + ITEM_OVERHEAD_BYTES;
}

class MemoryResponseCache implements MemoryResponseCacheStore {
  onEvict: ((count: number) => void) | undefined = undefined;
  /** In recency order, least recently used first: a hit is deleted and set again (both O(1)). */
  private readonly items = new Map<string, Item>();
  /** Tag → keys of the held items carrying it; a tag is dropped with its last key. */
  private readonly tagIndex = new Map<string, Set<string>>();
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The sweep pass in progress: a live Map iterator (it tolerates deletes) and how many items it has left. */
  private cursor: Iterator<[string, Item]> | undefined;
  private left = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly now: () => number,
    private readonly sweepIntervalMs: number,
  ) {
    if (sweepIntervalMs > 0) this.schedule(sweepIntervalMs);
  }

  get indexedTags(): number {
    return this.tagIndex.size;
  }

  get(key: string): Promise<CacheEntry | undefined> {
    const item = this.items.get(key);
    if (item === undefined) return Promise.resolve(undefined);
    if (item.expiresAt <= this.now()) {
      this.remove(key, item);
      return Promise.resolve(undefined);
    }
    this.items.delete(key);
    this.items.set(key, item);
    return Promise.resolve(item.entry);
  }

  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    // The old item goes whatever happens next: a write that cannot be kept must not leave a stale one.
    const old = this.items.get(key);
    if (old !== undefined) this.remove(key, old);
    const bytes = itemBytes(key, entry);
    if (!(ttlMs > 0) || !(bytes <= this.maxBytes)) return Promise.resolve();
    const now = this.now();
    let evicted = 0;
    for (const [oldestKey, oldest] of this.items) {
      if (this.bytes + bytes <= this.maxBytes) break;
      this.remove(oldestKey, oldest);
      if (oldest.expiresAt > now) evicted++; // an expired item was gone already: not an eviction
    }
    this.items.set(key, { entry, bytes, expiresAt: now + ttlMs });
    this.bytes += bytes;
    for (const tag of entry.tags) {
      const keys = this.tagIndex.get(tag);
      if (keys === undefined) this.tagIndex.set(tag, new Set([key]));
      else keys.add(key);
    }
    if (evicted > 0) this.onEvict?.(evicted);
    return Promise.resolve();
  }

  delete(key: string): Promise<boolean> {
    const item = this.items.get(key);
    if (item === undefined) return Promise.resolve(false);
    this.remove(key, item);
    return Promise.resolve(item.expiresAt > this.now());
  }

  /** O(items): an admin operation, not a request's. */
  purgePrefix(prefix: string): Promise<number> {
    const now = this.now();
    let purged = 0;
    for (const [key, item] of this.items) {
      if (!key.startsWith(prefix)) continue;
      this.remove(key, item);
      if (item.expiresAt > now) purged++;
    }
    return Promise.resolve(purged);
  }

  purgeTag(tag: string): Promise<number> {
    const keys = this.tagIndex.get(tag);
    if (keys === undefined) return Promise.resolve(0);
    const now = this.now();
    let purged = 0;
    // remove() deletes from this very Set while it is iterated: a Set iterator tolerates that.
    for (const key of keys) {
      const item = this.items.get(key);
      if (item === undefined) continue;
      this.remove(key, item);
      if (item.expiresAt > now) purged++;
    }
    return Promise.resolve(purged);
  }

  stats(): CacheStoreStats {
    return { entries: this.items.size, bytes: this.bytes };
  }

  sweep(): number {
    this.cursor = undefined; // a full pass of its own, from the least recently used
    return this.sweepSlice(Infinity).dropped;
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.cursor = undefined;
    this.items.clear();
    this.tagIndex.clear();
    this.bytes = 0;
    return Promise.resolve();
  }

  private remove(key: string, item: Item): void {
    this.items.delete(key);
    this.bytes -= item.bytes;
    for (const tag of item.entry.tags) {
      const keys = this.tagIndex.get(tag);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.tagIndex.delete(tag);
    }
  }

  /**
   * Visits up to `budget` items of the current pass, dropping the expired ones. A pass visits as many items
   * as were held when it began, so hits (moved to the end, where the iterator meets them again) cannot keep
   * it going forever.
   */
  private sweepSlice(budget: number): { done: boolean; dropped: number } {
    if (this.cursor === undefined) {
      this.cursor = this.items.entries();
      this.left = this.items.size;
    }
    const now = this.now();
    let dropped = 0;
    for (; budget > 0 && this.left > 0; budget--, this.left--) {
      const next = this.cursor.next();
      if (next.done === true) {
        this.left = 0;
        break;
      }
      const [key, item] = next.value;
      if (item.expiresAt <= now) {
        this.remove(key, item);
        dropped++;
      }
    }
    const done = this.left === 0;
    if (done) this.cursor = undefined;
    return { done, dropped };
  }

  private readonly onTimer = (): void => {
    const { done } = this.sweepSlice(SWEEP_SLICE);
    this.schedule(done ? this.sweepIntervalMs : SLICE_PAUSE_MS);
  };

  private schedule(delayMs: number): void {
    this.timer = setTimeout(this.onTimer, delayMs);
    this.timer.unref();
  }
}
