// The webhook event store on Redis, shared by several gateway instances: the same contract and semantics as
// the SQLite store (sqlite-store.ts), each step that must be atomic one Lua script on the route's slot (see
// redis-keys.ts for the keys, redis-scripts*.ts for the scripts). Delivery runs on a Redis Stream per route
// with one consumer group: a claim reads new entries (XREADGROUP) and takes over the entries of leases that
// expired (XAUTOCLAIM; an instance that died never acknowledges), counting the lost attempt; a report
// acknowledges the entry (XACK + XDEL); a retry waits in a sorted set until due. Claims are fenced by the
// event's claim number, so a late report on a lease taken over changes nothing. Needs Redis >= 7.0.
//
// Durability: accept() resolves once Redis has applied the write — the event survives a gateway crash at
// once, and a Redis crash only with `appendonly yes` and `appendfsync always` (with `everysec`, up to a
// second of acknowledged events can be lost; without AOF, everything since the last snapshot). Replication
// is asynchronous: a failover may lose the last acknowledged writes too.
//
// Failures: when Redis is down, slower than timeoutMs, out of memory, a read-only replica… every call
// rejects with StoreWriteError (code REDIS_UNAVAILABLE, REDIS_TIMEOUT, REDIS_OOM, REDIS_READONLY…, file =
// the URL without password), so the policy answers 503. Out of memory, only what adds data fails (accept,
// replay, pause): claims, reports, deletes and prune go on, which drains the queue and frees memory.
//
// Leases run on the callers' clock (\`now\`), as in the SQLite store; how XAUTOCLAIM's idle times (Redis'
// clock) are made to match is explained in redis-scripts.ts. Instances sharing a Redis must use the same
// leaseMs (it anchors those idle times) and clocks that agree within a small part of a lease.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type {
  AcceptResult,
  AsyncEventStore,
  AttemptRecord,
  ClaimOptions,
  ClaimRef,
  DepthRow,
  ListPage,
  ListQuery,
  NewEvent,
  PruneResult,
  StoredEvent,
} from './event-store.js';
import { checkClaimOptions, checkEvent, newEventId } from './event-store.js';
import { attemptJson, eventOf } from './redis-keys.js';
import { RedisConnection } from './redis-connection.js';
import { bySeq, depthOf, listEvents, pausedRoutesOf, pruneRoutes, replayAllEvents } from './redis-admin.js';

export interface RedisEventStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`; with `cluster`, a comma-separated seed list. */
  readonly url: string;
  /** Connect to a Redis Cluster (each route's keys live in one slot). */
  readonly cluster?: boolean;
  /** Prepended to every key (default `portico:`; keys are `<prefix>wh:{<route>}:…`); no braces. */
  readonly prefix?: string;
  /** How long a dedupe key (delivery id, Idempotency-Key) makes a repeat a duplicate, unless the event says. */
  readonly retentionMs: number;
  /** How long a delivered event stays for inspection and replay before prune() removes it. */
  readonly deliveredRetentionMs: number;
  /**
   * How long a claim holds an event before another worker may take it (longer than a delivery timeout).
   * Every instance sharing the Redis must use the same value (it anchors the stream's idle times).
   */
  readonly leaseMs: number;
  /** The clock (epoch ms) for receivedAt, dedupe windows, reports and replays: Date.now by default. */
  readonly now?: () => number;
  /** This instance's consumer name in the route groups (default `hostname:pid:random`): unique per instance. */
  readonly consumer?: string;
  /** How long one Redis command may take before the call fails with REDIS_TIMEOUT (default 2000). */
  readonly timeoutMs?: number;
}

const LEASE_EXPIRED = 'lease expired before the worker reported (worker stopped or too slow)';
const MAX_CLAIM = 100_000;
/** prune() drops a consumer with nothing pending once it has been idle this long (it comes back by itself). */
const CONSUMER_IDLE_MS = 3_600_000;

/** The same checks as the SQLite store's. */

/**
 * How many of each route's candidates a claim across routes takes: the `n` oldest (smallest sequence
 * numbers), each route's list taken from its front, in the order its own claim takes them.
 */
export function oldestFirst(lists: readonly (readonly number[])[], n: number): number[] {
  const take = lists.map(() => 0);
  for (let k = 0; k < n; k++) {
    let best = -1;
    let bestSeq = Number.POSITIVE_INFINITY;
    lists.forEach((list, i) => {
      const next = list[take[i]!];
      if (next !== undefined && next < bestSeq) [best, bestSeq] = [i, next];
    });
    if (best < 0) break;
    take[best]!++;
  }
  return take;
}

/** The Redis-backed {@link AsyncEventStore}: see the file comment. */
export class RedisEventStore implements AsyncEventStore {
  /** The Redis URL without password: what errors name as the store. */
  readonly file: string;
  /** This instance's consumer name. */
  readonly consumer: string;
  /** Settles when the first connection is ready (rejects if closed first); calls before it fail fast. */
  readonly ready: Promise<void>;
  private readonly conn: RedisConnection;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly deliveredRetentionMs: number;
  private readonly leaseMs: number;

  constructor(options: RedisEventStoreOptions) {
    const prefix = options.prefix ?? 'portico:';
    if (/[{}]/.test(prefix)) throw new TypeError(`redis prefix must not contain braces: ${prefix}`);
    const timeoutMs = options.timeoutMs ?? 2000;
    if (!(timeoutMs > 0)) throw new TypeError(`store timeout must be positive: ${timeoutMs}`);
    if (!(options.leaseMs > 0)) throw new TypeError(`leaseMs must be positive: ${options.leaseMs}`);
    this.consumer = options.consumer ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs;
    this.deliveredRetentionMs = options.deliveredRetentionMs;
    this.leaseMs = options.leaseMs;
    this.conn = new RedisConnection({
      url: options.url,
      cluster: options.cluster ?? false,
      prefix,
      timeoutMs,
    });
    this.file = this.conn.file;
    this.ready = this.conn.ready;
  }

  async accept(event: NewEvent): Promise<AcceptResult> {
    checkEvent(event);
    const { conn } = this;
    return conn.op('accept', async () => {
      const now = this.now();
      const { routes, seq: counter } = conn.keys;
      const seq = await conn.cmd('accept', () => conn.client.whRegister(routes, counter, event.route, '1'));
      const id = newEventId(now);
      const { dedupeKey: dk, orderKey: ok } = event;
      const reply = await conn.script('accept', event.route, (key, base) =>
        conn.client.whAccept(
          key,
          base,
          now,
          event.retentionMs ?? this.retentionMs,
          id,
          Number(seq),
          event.route,
          event.method,
          event.path,
          event.prefixLength ?? 0,
          JSON.stringify(event.headers),
          event.body,
          dk !== undefined ? '1' : '0',
          dk ?? '',
          ok !== undefined ? '1' : '0',
          ok ?? '',
        ),
      );
      if (!Array.isArray(reply) || typeof reply[1] !== 'string') throw new Error('accept: unexpected reply');
      return reply[0] === 1 ? { accepted: true, id: reply[1] } : { duplicate: true, id: reply[1] };
    });
  }

  /**
   * See {@link EventStore.claimDue}. With `route`, one script on that route. Across routes, a read-only look
   * at each route's next candidates first, so that the claims take the oldest events of all routes.
   */
  async claimDue(now: number, limit: number, options: ClaimOptions = {}): Promise<StoredEvent[]> {
    checkClaimOptions(options);
    const leaseMs = options.leaseMs ?? this.leaseMs;
    const n = Number.isFinite(limit) ? Math.max(0, Math.min(Math.floor(limit), MAX_CLAIM)) : 0;
    return this.conn.op('claim', async () => {
      if (options.route !== undefined) {
        const claimed = await this.claimRoute(options.route, now, n, leaseMs, options);
        return claimed.sort(bySeq).map((c) => c.event);
      }
      const routes = await this.conn.routes('claim');
      const peeks = await Promise.all(routes.map((route) => this.peek(route, now, Math.max(1, n))));
      const take = oldestFirst(
        peeks.map((p) => (p.paused ? [] : p.seqs)),
        n,
      );
      const batches = await Promise.all(
        routes.map((route, i) =>
          // A route with expired leases is claimed (for nothing) anyway: that counts the lost attempts.
          take[i]! > 0 || peeks[i]!.expired > 0 ? this.claimRoute(route, now, take[i]!, leaseMs, {}) : [],
        ),
      );
      return batches
        .flat()
        .sort(bySeq)
        .map((c) => c.event);
    });
  }

  markDelivered(ref: ClaimRef, attempt: AttemptRecord): Promise<boolean> {
    return this.finish(ref, attempt, 'delivered', '', undefined);
  }

  markFailed(ref: ClaimRef, attempt: AttemptRecord, nextAttemptAt: number | 'dead'): Promise<boolean> {
    const error =
      attempt.error ?? (attempt.status !== undefined ? `upstream answered ${attempt.status}` : 'failed');
    if (nextAttemptAt === 'dead') return this.finish(ref, attempt, 'dead', '', error);
    return this.finish(ref, attempt, 'pending', nextAttemptAt, error);
  }

  list(query: ListQuery = {}): Promise<ListPage> {
    return this.conn.op('list', () => listEvents(this.conn, query));
  }

  get(id: string): Promise<StoredEvent | undefined> {
    const { conn } = this;
    return conn.op('get', async () => {
      const replies = await conn.onEveryRoute('get', (key, base) => conn.client.whGetBuffer(key, base, id));
      const found = replies.find((r) => r !== null && r !== undefined);
      return found === undefined ? undefined : eventOf(found).event;
    });
  }

  replay(id: string): Promise<boolean> {
    const { conn } = this;
    return conn.op('replay', async () => {
      const now = this.now();
      const replies = await conn.onEveryRoute('replay', (key, base) =>
        conn.client.whReplay(key, base, now, 'id', id),
      );
      return replies.some((r) => r === 1);
    });
  }

  replayAll(
    options: { readonly route?: string; readonly state?: 'dead' | 'delivered' } = {},
  ): Promise<number> {
    return this.conn.op('replay', async () => {
      const routes = options.route !== undefined ? [options.route] : await this.conn.routes('replay');
      return replayAllEvents(this.conn, routes, options.state ?? 'dead', this.now());
    });
  }

  delete(id: string): Promise<boolean> {
    const { conn } = this;
    return conn.op('delete', async () => {
      const now = this.now();
      const replies = await conn.onEveryRoute('delete', (key, base) =>
        conn.client.whDelete(key, base, id, now),
      );
      return replies.some((r) => r === 1);
    });
  }

  depth(): Promise<DepthRow[]> {
    return this.conn.op('depth', () => depthOf(this.conn));
  }

  pause(route: string): Promise<void> {
    const { conn } = this;
    return conn.op('pause', async () => {
      await conn.cmd('pause', () => conn.client.whRegister(conn.keys.routes, conn.keys.seq, route, '0'));
      await conn.cmd('pause', () => conn.client.set(`${conn.base(route)}paused`, '1'));
    });
  }

  resume(route: string): Promise<void> {
    const { conn } = this;
    return conn.op('resume', async () => {
      await conn.cmd('resume', () => conn.client.del(`${conn.base(route)}paused`));
    });
  }

  paused(route: string): Promise<boolean> {
    const { conn } = this;
    return conn.op('paused', async () => {
      return (await conn.cmd('paused', () => conn.client.exists(`${conn.base(route)}paused`))) === 1;
    });
  }

  pausedRoutes(): Promise<string[]> {
    return this.conn.op('paused', () => pausedRoutesOf(this.conn));
  }

  prune(now: number, batchSize = 500): Promise<PruneResult> {
    const n = Math.max(1, Math.floor(batchSize));
    const idle = Math.max(CONSUMER_IDLE_MS, 2 * this.leaseMs);
    return this.conn.op('prune', () => pruneRoutes(this.conn, now, now - this.deliveredRetentionMs, n, idle));
  }

  /** Quits the connection (never waiting more than a second); further calls reject with REDIS_CLOSED. */
  close(): Promise<void> {
    return this.conn.close();
  }

  private async claimRoute(route: string, now: number, n: number, leaseMs: number, options: ClaimOptions) {
    const lost = attemptJson({ at: now, error: LEASE_EXPIRED, durationMs: 0 });
    const reply = await this.conn.script('claim', route, (key, base) =>
      this.conn.client.whClaimBuffer(
        key,
        base,
        now,
        n,
        leaseMs,
        this.leaseMs,
        this.consumer,
        options.maxInFlight ?? '',
        options.ratePerS ?? '',
        LEASE_EXPIRED,
        lost,
      ),
    );
    if (!Array.isArray(reply)) throw new Error('claim: unexpected reply');
    return reply.map(eventOf);
  }

  private async peek(route: string, now: number, n: number) {
    const reply = await this.conn.script('claim', route, (key, base) =>
      this.conn.client.whPeek(key, base, now, n, this.leaseMs),
    );
    if (!Array.isArray(reply)) throw new Error('claim: unexpected peek reply');
    const [paused, expired, ...seqs] = reply.map(Number);
    return { paused: paused === 1, expired: expired ?? 0, seqs };
  }

  private finish(
    ref: ClaimRef,
    attempt: AttemptRecord,
    state: 'delivered' | 'dead' | 'pending',
    next: number | '',
    error: string | undefined,
  ): Promise<boolean> {
    const { conn } = this;
    return conn.op('mark', async () => {
      const now = this.now();
      const run = (key: string, base: string) =>
        conn.client.whFinish(
          key,
          base,
          ref.id,
          ref.claim,
          state,
          next,
          error !== undefined ? '1' : '0',
          error ?? '',
          now,
          attemptJson(attempt),
        );
      // A claimed event (a StoredEvent) names its route; a bare {id, claim} is looked for on every route.
      const route = (ref as { route?: unknown }).route;
      if (typeof route === 'string') return (await conn.script('mark', route, run)) === 1;
      return (await conn.onEveryRoute('mark', run)).some((r) => r === 1);
    });
  }
}
