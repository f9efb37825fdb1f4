// The response cache shared by every gateway instance: one Redis string per item (header and body, set with
// its TTL in the same command), surrogate tags indexed in sorted sets scored by expiry, and every command
// bounded by a deadline — a slow or absent Redis costs a request at most `timeoutMs`, as a miss or a lost
// write, never an error.
import { Cluster, type Redis } from 'ioredis';
import { StoreUnavailable } from '../../../lib/store-unavailable.js';
import type { CacheEntry, CacheStoreStats, ResponseCacheStore } from './store.js';
import { createRedisClient, onceReady, quitClient } from '../../../lib/redis-client.js';
import { createStoreErrorReporter, type StoreLog } from '../../../lib/store-error-reporter.js';

export interface RedisResponseCacheOptions {
  /** `redis://host:port` (or `rediss://`); with `cluster: true`, a comma-separated list of seed nodes. */
  readonly url: string;
  /** Prepended to every key (default `portico:cache:`): items `<prefix>e:<key>`, tags `<prefix>t:<tag>`. */
  readonly prefix?: string;
  /** How long each command may wait for Redis, in milliseconds (default 100). */
  readonly timeoutMs?: number;
  /** Connect to a Redis Cluster (ioredis Cluster) instead of one server. */
  readonly cluster?: boolean;
  /** Gets one `response_cache_store_error` warning per 10 s while operations fail. */
  readonly log?: StoreLog;
  /** Called for every failed operation (metrics). */
  readonly onError?: (err: Error) => void;
}

/**
 * get and set never reject (a failure is a miss / a lost write); delete and the purges reject with
 * StoreUnavailable, so that an admin is not told a purge succeeded when Redis did not answer. `stats()` is
 * always -1: what other instances stored and what Redis expired or evicted is unknown without a round trip.
 */
export interface RedisResponseCacheStore extends ResponseCacheStore {
  /** Settles when the first connection is ready (rejects if closed first); operations before it fail fast. */
  readonly ready: Promise<void>;
}

const DEFAULT_CACHE_PREFIX = 'portico:cache:';
const DEFAULT_CACHE_TIMEOUT_MS = 100;

/** The first byte of every stored item: another layout gets another number, and reads as a miss here. */
const FORMAT = 1;
/** Where the header JSON starts: after the format byte and the header's length (uint32, big-endian). */
const HEADER_AT = 5;
/** Keys per DEL (and members per purge step): bounded work per command, well under the deadline. */
const CHUNK = 500;
const SCAN_COUNT = 1000;
/**
 * A tag index keeps a member this long past its item's expiry: on a cluster the item and its index live on
 * different nodes, whose clocks may differ by this much without an item outliving its index entry.
 */
const REAP_GRACE_MS = 10_000;
/** About 35 years: a longer (or infinite) TTL is stored as this; Lua numbers hold expiries of it exactly. */
const MAX_TTL_MS = 2 ** 40;

/**
 * Adds ARGV[2] (a cache key) to the tag indexes KEYS[first..], scored by the item's expiry on Redis' clock.
 * Members expired more than REAP_GRACE_MS ago are dropped on the way, so an index whose tag is always in
 * use stays as large as its live items; an index lives at least as long as its newest item (never shorter).
 */
function indexLua(first: number): string {
  return `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = ${first}, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. (now - ${REAP_GRACE_MS}))
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end`;
}

/** KEYS[1] the item, KEYS[2..] its tag indexes; ARGV: TTL, cache key, value. One step: a purge sees both. */
const SET_LUA = `redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[1])${indexLua(2)}`;
/** Cluster: the indexes of one tag (a script touches one slot there). */
const INDEX_LUA = indexLua(1);
/** KEYS[1] a tag index, KEYS[2..] items; ARGV their cache keys. One step: a racing set is purged or indexed. */
const PURGE_LUA = `
redis.call('ZREM', KEYS[1], unpack(ARGV))
return redis.call('DEL', unpack(KEYS, 2))`;

type Arg = string | Buffer;
/** The client with the scripts defined on it (ioredis' defineCommand: EVALSHA, EVAL again on NOSCRIPT). */
type CacheClient = (Redis | Cluster) & {
  porticoCacheSet(numKeys: number, ...args: Arg[]): Promise<unknown>;
  porticoCacheIndex(numKeys: number, ...args: Arg[]): Promise<unknown>;
  porticoCachePurge(numKeys: number, ...args: Arg[]): Promise<number>;
};

/**
 * The stored value: a format byte, the header's byte length (uint32 BE), the header `{meta, tags, body}`
 * (body: whether there is one) as JSON, then the body bytes. A string rather than a hash of meta and body:
 * SET … PX writes value and TTL in one command and GET returns it all in one binary-safe reply, where a
 * hash needs HSET + PEXPIRE and its fields back as a map.
 */
export function encodeCacheEntry(entry: CacheEntry): Buffer {
  const header = Buffer.from(
    JSON.stringify({ meta: entry.meta, tags: entry.tags, body: entry.body !== null }),
  );
  const head = Buffer.allocUnsafe(HEADER_AT);
  head[0] = FORMAT;
  head.writeUInt32BE(header.length, 1);
  return Buffer.concat(entry.body === null ? [head, header] : [head, header, entry.body]);
}

interface Header {
  meta: Record<string, unknown>;
  tags: string[];
  body: boolean;
}

function isHeader(value: unknown): value is Header {
  if (typeof value !== 'object' || value === null) return false;
  const { meta, tags, body } = value as Record<string, unknown>;
  return (
    typeof meta === 'object' &&
    meta !== null &&
    !Array.isArray(meta) &&
    Array.isArray(tags) &&
    tags.every((t) => typeof t === 'string') &&
    typeof body === 'boolean'
  );
}

/** The entry in `raw` (its body a view of `raw`); throws when `raw` is not a value encodeCacheEntry made. */
export function decodeCacheEntry(raw: Buffer): CacheEntry {
  if (raw.length < HEADER_AT || raw[0] !== FORMAT) throw new Error('cache entry: unknown format');
  const end = HEADER_AT + raw.readUInt32BE(1);
  if (end > raw.length) throw new Error('cache entry: truncated header');
  const header: unknown = JSON.parse(raw.toString('utf8', HEADER_AT, end));
  if (!isHeader(header)) throw new Error('cache entry: malformed header');
  if (!header.body && end !== raw.length) throw new Error('cache entry: body bytes without a body');
  return { meta: header.meta, tags: header.tags, body: header.body ? raw.subarray(end) : null };
}

/** `text` matched literally by SCAN MATCH (Redis glob: `*`, `?`, `[…]`, and `\` escapes). */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** The reply, or StoreUnavailable when it takes longer than `timeoutMs`. */
function within<T>(reply: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // The rejection waits one more loop turn: after a pause of the gateway itself (GC, a starved CPU) timers
    // run before sockets are read, and a reply that is already waiting must win over the timeout.
    const timer = setTimeout(
      () =>
        setImmediate(() =>
          reject(new StoreUnavailable(`redis response cache: no answer within ${timeoutMs} ms`)),
        ),
      timeoutMs,
    );
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(asError(err));
      },
    );
  });
}

export function createRedisResponseCache(opts: RedisResponseCacheOptions): RedisResponseCacheStore {
  const prefix = opts.prefix ?? DEFAULT_CACHE_PREFIX;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CACHE_TIMEOUT_MS;
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs)))
    throw new TypeError(`cache timeout must be positive: ${timeoutMs}`);
  const log = opts.log;
  const reporter = createStoreErrorReporter({
    store: 'redis_response_cache',
    // The reporter names its line after the rate limiter, its first user; the cache's line is its own.
    log: log && { warn: (fields) => log.warn(fields, 'response_cache_store_error') },
    onError: opts.onError,
  });
  const client = createRedisClient({
    url: opts.url,
    cluster: opts.cluster ?? false,
    socketTimeoutMs: Math.max(1000, timeoutMs * 20),
    autoPipelining: false,
  }) as CacheClient;
  client.defineCommand('porticoCacheSet', { lua: SET_LUA });
  client.defineCommand('porticoCacheIndex', { lua: INDEX_LUA });
  client.defineCommand('porticoCachePurge', { lua: PURGE_LUA });
  client.on('error', (err: Error) => reporter.connectionError(err));
  const ready = onceReady(client, 'redis response cache');
  const itemPrefix = Buffer.from(`${prefix}e:`);
  const itemKey = (key: string): string => `${prefix}e:${key}`;
  const tagKey = (tag: string): string => `${prefix}t:${tag}`;
  let closed = false;

  /** One command, failing fast while disconnected and bounded by the deadline otherwise. */
  function command<T>(send: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new StoreUnavailable('redis response cache is closed'));
    if (client.status !== 'ready') {
      return Promise.reject(new StoreUnavailable(`redis response cache: not connected (${client.status})`));
    }
    let reply: Promise<T>;
    try {
      reply = send();
    } catch (err) {
      reply = Promise.reject(asError(err));
    }
    return within(reply, timeoutMs);
  }

  /** Counts and logs a failed operation (not one refused after close()); the error to reject it with. */
  function failed(cause: unknown): StoreUnavailable {
    const err =
      cause instanceof StoreUnavailable
        ? cause
        : new StoreUnavailable(`redis response cache: ${asError(cause).message}`, { cause });
    if (!closed) reporter.failedCheck(err);
    return err;
  }

  async function deleteKeys(keys: readonly Buffer[]): Promise<number> {
    let deleted = 0;
    if (client instanceof Cluster) {
      // A multi-key DEL must stay within one slot on a cluster: one command per key, all sent at once.
      const counts = await Promise.all(keys.map((key) => command(() => client.del(key))));
      for (const n of counts) deleted += n;
      return deleted;
    }
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      deleted += await command(() => client.del(...chunk));
    }
    return deleted;
  }

  /** Removes up to CHUNK members of a tag index and their items; how many items there were. */
  async function purgeMembers(index: string, members: readonly Buffer[]): Promise<number> {
    const keys = members.map((member) => Buffer.concat([itemPrefix, member]));
    if (!(client instanceof Cluster)) {
      return command(() => client.porticoCachePurge(1 + keys.length, index, ...keys, ...members));
    }
    // Index entries before items, while a set writes its item before its index entries: however the two
    // interleave, an item left standing is still indexed (a stale entry without an item is harmless). The
    // price: when the DELs fail after the ZREM, the purge rejects and those items live out their TTL.
    await command(() => client.zrem(index, ...members));
    return deleteKeys(keys);
  }

  /** Cluster: no transaction spans slots, so the item goes first and its index entries after it. */
  async function setOnCluster(key: string, value: Buffer, ttl: string, tags: readonly string[]) {
    await command(() => client.set(itemKey(key), value, 'PX', ttl));
    try {
      await Promise.all(tags.map((tag) => command(() => client.porticoCacheIndex(1, tagKey(tag), ttl, key))));
    } catch (err) {
      // An item its tags cannot purge must not stay: take it back (if this fails too, its TTL ends it).
      command(() => client.del(itemKey(key))).catch(() => {});
      throw err;
    }
  }

  return {
    ready,
    onEvict: undefined, // Redis evicts under maxmemory by itself, unseen by its clients
    get: async function get(key) {
      try {
        const raw = await command(() => client.getBuffer(itemKey(key)));
        return raw === null ? undefined : decodeCacheEntry(raw);
      } catch (err) {
        failed(err);
        return undefined;
      }
    },
    set: async function set(key, entry, ttlMs) {
      let value: Buffer | undefined;
      try {
        if (ttlMs > 0) value = encodeCacheEntry(entry);
      } catch (err) {
        failed(err); // a meta JSON cannot carry: the caller's bug, counted like a store failure
      }
      try {
        // A write that cannot be kept (expired at once, not encodable) still removes the item it replaces.
        if (value === undefined) await command(() => client.del(itemKey(key)));
        else {
          const ttl = String(Math.ceil(Math.min(ttlMs, MAX_TTL_MS)));
          const tags = entry.tags;
          if (client instanceof Cluster) await setOnCluster(key, value, ttl, tags);
          else {
            const keys = [itemKey(key), ...tags.map(tagKey)];
            await command(() => client.porticoCacheSet(keys.length, ...keys, ttl, key, value));
          }
        }
      } catch (err) {
        failed(err);
      }
    },
    delete: async function del(key) {
      try {
        return (await command(() => client.del(itemKey(key)))) > 0;
      } catch (err) {
        throw failed(err);
      }
    },
    purgePrefix: async function purgePrefix(keyPrefix) {
      const pattern = `${escapeGlob(`${prefix}e:${keyPrefix}`)}*`;
      let purged = 0;
      try {
        // Each master of a cluster holds a share of the keys, and SCAN walks one node's.
        const nodes = client instanceof Cluster ? client.nodes('master') : [client];
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, keys] = await command(() =>
              node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
            );
            cursor = next.toString();
            purged += await deleteKeys(keys);
          } while (cursor !== '0');
        }
      } catch (err) {
        throw failed(err);
      }
      return purged;
    },
    purgeTag: async function purgeTag(tag) {
      const index = tagKey(tag);
      let purged = 0;
      try {
        // ZSCAN, not ZRANGE of everything: each reply stays small. Members removed behind the cursor do not
        // make it skip any; members added meanwhile belong to items stored after the purge began.
        let cursor = '0';
        do {
          const [next, flat] = await command(() => client.zscanBuffer(index, cursor, 'COUNT', CHUNK));
          cursor = next.toString();
          const members = flat.filter((_, i) => i % 2 === 0); // member, score, member, score…
          for (let i = 0; i < members.length; i += CHUNK) {
            purged += await purgeMembers(index, members.slice(i, i + CHUNK));
          }
        } while (cursor !== '0');
      } catch (err) {
        throw failed(err);
      }
      return purged;
    },
    stats: function stats(): CacheStoreStats {
      return { entries: -1, bytes: -1 };
    },
    close: async function close() {
      if (closed) return;
      closed = true;
      await quitClient(client);
    },
  };
}
