// One ioredis client (standalone or Cluster) set up for a store on the request path: fail fast while
// disconnected, never resend a command after a reconnect, reconnect by itself with capped backoff.
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { StoreUnavailable } from './store-unavailable.js';

export interface RedisClientOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`; with `cluster`, a comma-separated seed list. */
  readonly url: string;
  readonly cluster?: boolean;
  /** How long a connection may owe replies before it is considered dead and replaced. */
  readonly socketTimeoutMs: number;
  readonly autoPipelining: boolean;
}

/** Reconnect delay: 50 ms doubling to 1 s, plus jitter so a fleet of gateways does not reconnect in step. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 1000) + Math.floor(Math.random() * 50);
}

function commonOptions(opts: RedisClientOptions): RedisOptions {
  return {
    // A command issued while disconnected fails at once instead of waiting in a queue past its deadline.
    enableOfflineQueue: false,
    // Replies lost with a connection are not retried: the check's deadline has passed, and a resent script
    // could charge twice.
    maxRetriesPerRequest: 0,
    retryStrategy: reconnectDelayMs,
    // A server that accepts but stops answering (stopped, swapping) would otherwise keep the socket, and
    // every pending command, forever.
    socketTimeout: opts.socketTimeoutMs,
    connectTimeout: Math.max(1000, opts.socketTimeoutMs),
    lazyConnect: false,
    enableAutoPipelining: opts.autoPipelining,
  };
}

/** Seed nodes of a Cluster URL list, and the credentials / TLS of its first entry. */
export function parseClusterUrl(url: string): { nodes: ClusterNode[]; redisOptions: RedisOptions } {
  const entries = url
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (entries.length === 0) throw new TypeError('redis cluster url: no node given');
  const parsed = entries.map((entry) => new URL(entry.includes('://') ? entry : `redis://${entry}`));
  for (const u of parsed) {
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
      throw new TypeError(`redis cluster url: unsupported scheme ${u.protocol}`);
    }
  }
  const first = parsed[0]!;
  const redisOptions: RedisOptions = {};
  if (first.username !== '') redisOptions.username = decodeURIComponent(first.username);
  if (first.password !== '') redisOptions.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') redisOptions.tls = {};
  const nodes = parsed.map((u) => ({
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 6379 : Number(u.port),
  }));
  return { nodes, redisOptions };
}

export function createRedisClient(opts: RedisClientOptions): Redis | Cluster {
  const common = commonOptions(opts);
  if (!opts.cluster) return new Redis(opts.url, common);
  const { nodes, redisOptions } = parseClusterUrl(opts.url);
  return new Cluster(nodes, {
    enableOfflineQueue: false,
    enableAutoPipelining: opts.autoPipelining,
    lazyConnect: false,
    clusterRetryStrategy: reconnectDelayMs,
    redisOptions: { ...common, ...redisOptions },
  });
}

/**
 * Settles when the client's first connection is ready; rejects (with `StoreUnavailable`, naming `what`) when
 * it is closed first. Operations before that fail fast, so only callers that await it care about it.
 */
export function onceReady(client: Redis | Cluster, what: string): Promise<void> {
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new StoreUnavailable(`${what} closed before ready`)));
  });
  ready.catch(() => {}); // only those who await it care
  return ready;
}

/** Says goodbye to Redis (QUIT), but never waits more than a second: a stopped server must not hold up shutdown. */
export async function quitClient(client: Redis | Cluster): Promise<void> {
  const timer = setTimeout(() => client.disconnect(), 1000);
  try {
    await client.quit();
  } catch {
    client.disconnect(); // not connected: nothing to say goodbye to
  } finally {
    clearTimeout(timer);
  }
}
