// The embedded webhook event store: one SQLite file (better-sqlite3), WAL journal, synchronous=FULL so that a
// commit is on disk (fsync) before accept() returns. Several gateway processes may open one file: every write
// runs in a BEGIN IMMEDIATE transaction (one writer at a time, waiting up to the busy timeout), so a claim is
// atomic across processes. Statements are prepared once, values always bound.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  StoreWriteError,
  type AcceptResult,
  type AttemptRecord,
  type ClaimOptions,
  type ClaimRef,
  type DepthRow,
  type EventState,
  type EventStore,
  type EventSummary,
  type ListPage,
  type ListQuery,
  type NewEvent,
  type PruneResult,
  type StoredEvent,
  checkClaimOptions,
  checkEvent,
  newEventId,
} from './event-store.js';
import { guarded } from './sqlite-errors.js';
import { migrate } from './sqlite-schema.js';
import { prepareStatements, type EventRow, type FullEventRow, type Statements } from './sqlite-statements.js';

export interface SqliteEventStoreOptions {
  /** The database file; its directory must exist (the caller resolves the default path). */
  readonly file: string;
  /** How long a dedupe key (delivery id, Idempotency-Key) makes a repeat a duplicate, unless the event says. */
  readonly retentionMs: number;
  /** How long a delivered event stays for inspection and replay before prune() removes it. */
  readonly deliveredRetentionMs: number;
  /** How long a claim holds an event before another worker may take it (longer than a delivery timeout). */
  readonly leaseMs: number;
  /** The clock (epoch ms) for receivedAt, dedupe windows and replays: Date.now by default. */
  readonly now?: () => number;
  /** How long a write waits for another process's write lock (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** A cap on the file size: past it accept() fails with StoreWriteError (SQLITE_FULL). Default: none. */
  readonly maxBytes?: number;
}

const LEASE_EXPIRED = 'lease expired before the worker reported (worker stopped or too slow)';
const MAX_LIST = 1000;
/** Absorbs the rounding of the bucket's refill arithmetic (0.1 * 3 * 10 is 2.9999999999999996). */
const TOKEN_EPSILON = 1e-9;

function headersOf(json: string): Array<[string, string]> {
  return JSON.parse(json) as Array<[string, string]>;
}

function summaryOf(row: EventRow): EventSummary {
  return {
    id: row.id,
    route: row.route,
    ...(row.dedupe_key !== null ? { dedupeKey: row.dedupe_key } : {}),
    ...(row.order_key !== null ? { orderKey: row.order_key } : {}),
    method: row.method,
    path: row.path,
    prefixLength: row.prefix_length,
    bodyBytes: row.body_bytes,
    receivedAt: row.received_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    state: row.state,
    ...(row.lease_until !== null ? { leaseUntil: row.lease_until } : {}),
    claim: row.claim,
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
  };
}

/** The embedded {@link EventStore}: see the file comment. */
export class SqliteEventStore implements EventStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly deliveredRetentionMs: number;
  private readonly leaseMs: number;

  /** Opens (creating when absent) the file; throws StoreWriteError when it cannot be opened for writing. */
  constructor(options: SqliteEventStoreOptions) {
    this.file = resolve(options.file);
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs;
    this.deliveredRetentionMs = options.deliveredRetentionMs;
    this.leaseMs = options.leaseMs;
    const dir = dirname(this.file);
    if (!existsSync(dir)) {
      throw new StoreWriteError(
        'SQLITE_CANTOPEN',
        this.file,
        `webhook store ${this.file}: open failed: the directory ${dir} does not exist (SQLITE_CANTOPEN)`,
      );
    }
    this.db = guarded(
      this.file,
      'open',
      () => new Database(this.file, { timeout: options.busyTimeoutMs ?? 5000 }),
    );
    try {
      this.st = guarded(this.file, 'open', () => {
        const mode = this.db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal')
          throw new Error(`webhook store ${this.file}: WAL journal refused (got ${String(mode)})`);
        this.db.pragma('synchronous = FULL');
        this.db.pragma('foreign_keys = ON');
        if (options.maxBytes !== undefined) {
          const pageSize = this.db.pragma('page_size', { simple: true }) as number;
          const pages = Math.max(1, Math.floor(options.maxBytes / pageSize));
          this.db.pragma(`max_page_count = ${pages}`);
        }
        migrate(this.db, this.file);
        return prepareStatements(this.db);
      });
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  accept(event: NewEvent): AcceptResult {
    return this.acceptMany([event])[0] as AcceptResult;
  }

  /**
   * Stores several events in one transaction (one fsync), answering for each in order; an event that repeats
   * the route and dedupe key of an earlier one in the batch is a duplicate of it. All or nothing: when it
   * throws, none of the events is stored.
   */
  acceptMany(events: readonly NewEvent[]): AcceptResult[] {
    for (const event of events) checkEvent(event);
    if (events.length === 0) return [];
    return guarded(this.file, 'accept', () =>
      this.db
        .transaction(() => {
          const now = this.now();
          return events.map((event) => this.insert(event, now));
        })
        .immediate(),
    );
  }

  private insert(event: NewEvent, now: number): AcceptResult {
    if (event.dedupeKey !== undefined) {
      const seen = this.st.dedupeGet.get(event.route, event.dedupeKey);
      if (seen !== undefined && now < seen.expires_at) {
        return { duplicate: true, id: seen.event_id };
      }
    }
    const id = newEventId(now);
    this.st.insertEvent.run({
      id,
      route: event.route,
      dedupeKey: event.dedupeKey ?? null,
      orderKey: event.orderKey ?? null,
      method: event.method,
      path: event.path,
      prefixLength: event.prefixLength ?? 0,
      headers: JSON.stringify(event.headers),
      body: event.body,
      now,
    });
    if (event.dedupeKey !== undefined) {
      const expires = now + (event.retentionMs ?? this.retentionMs);
      this.st.dedupePut.run(event.route, event.dedupeKey, now, expires, id);
    }
    return { accepted: true, id };
  }

  /**
   * See {@link EventStore.claimDue}. With `maxInFlight` and `ratePerS` (which need `route`: a TypeError
   * otherwise), the in-flight count and the route's token bucket are read and updated in the claim's own
   * immediate transaction, so the caps hold across processes sharing the file.
   */
  claimDue(now: number, limit: number, options: ClaimOptions = {}): StoredEvent[] {
    checkClaimOptions(options);
    const until = now + (options.leaseMs ?? this.leaseMs);
    const route = options.route ?? null;
    return guarded(this.file, 'claim', () =>
      this.db
        .transaction(() => {
          this.st.logExpired.run({ now, error: LEASE_EXPIRED });
          this.st.releaseExpired.run({ now, error: LEASE_EXPIRED });
          let n = Math.max(0, Math.floor(limit));
          if (route !== null && options.maxInFlight !== undefined) {
            const inFlight = this.st.inFlight.get({ route, now })?.n ?? 0;
            n = Math.min(n, Math.max(0, options.maxInFlight - inFlight));
          }
          const bucket =
            route !== null && options.ratePerS !== undefined
              ? this.bucket(route, options.ratePerS, now)
              : undefined;
          if (bucket !== undefined) n = Math.min(n, Math.floor(bucket.tokens + TOKEN_EPSILON));
          const due = n > 0 ? this.st.selectDue.all({ now, route, limit: n }) : [];
          const claimed: StoredEvent[] = [];
          for (const { seq } of due) {
            const row = this.st.claim.get({ seq, until });
            if (row !== undefined) claimed.push(this.hydrate(row));
          }
          if (bucket !== undefined && route !== null) {
            this.st.bucketPut.run({ route, tokens: bucket.tokens - claimed.length, at: bucket.at });
          }
          return claimed;
        })
        .immediate(),
    );
  }

  /** The route's token bucket refilled up to `now` (full when new); a clock behind the stored one adds none. */
  private bucket(route: string, ratePerS: number, now: number): { tokens: number; at: number } {
    const capacity = Math.max(1, ratePerS);
    const row = this.st.bucketGet.get(route);
    if (row === undefined) return { tokens: capacity, at: now };
    const elapsed = Math.max(0, now - row.updated_at);
    return {
      tokens: Math.min(capacity, row.tokens + (elapsed * ratePerS) / 1000),
      at: Math.max(now, row.updated_at),
    };
  }

  markDelivered(ref: ClaimRef, attempt: AttemptRecord): boolean {
    return this.finish(ref, attempt, 'delivered', null, null);
  }

  markFailed(ref: ClaimRef, attempt: AttemptRecord, nextAttemptAt: number | 'dead'): boolean {
    const error =
      attempt.error ?? (attempt.status !== undefined ? `upstream answered ${attempt.status}` : 'failed');
    if (nextAttemptAt === 'dead') return this.finish(ref, attempt, 'dead', null, error);
    return this.finish(ref, attempt, 'pending', nextAttemptAt, error);
  }

  private finish(
    ref: ClaimRef,
    attempt: AttemptRecord,
    state: EventState,
    next: number | null,
    error: string | null,
  ): boolean {
    return guarded(this.file, 'mark', () =>
      this.db
        .transaction(() => {
          const finished = state === 'pending' ? null : this.now();
          const hit = this.st.finish.get({ id: ref.id, claim: ref.claim, state, next, error, finished });
          if (hit === undefined) return false;
          this.st.logAttempt.run({
            seq: hit.seq,
            at: attempt.at,
            status: attempt.status ?? null,
            error: attempt.error ?? null,
            durationMs: Math.round(attempt.durationMs),
          });
          return true;
        })
        .immediate(),
    );
  }

  list(query: ListQuery = {}): ListPage {
    const limit = Math.max(1, Math.min(query.limit ?? 100, MAX_LIST));
    const after = query.after !== undefined ? Number.parseInt(query.after, 10) : 0;
    const rows = guarded(this.file, 'list', () =>
      this.st.list.all({
        state: query.state ?? null,
        route: query.route ?? null,
        after: Number.isFinite(after) ? after : 0,
        limit: limit + 1,
      }),
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      events: page.map(summaryOf),
      ...(rows.length > limit && last !== undefined ? { next: String(last.seq) } : {}),
    };
  }

  get(id: string): StoredEvent | undefined {
    return guarded(this.file, 'get', () => {
      const row = this.st.getById.get(id);
      return row === undefined ? undefined : this.hydrate(row);
    });
  }

  replay(id: string): boolean {
    return guarded(this.file, 'replay', () => this.st.replay.run({ id, now: this.now() }).changes > 0);
  }

  replayAll(options: { readonly route?: string; readonly state?: 'dead' | 'delivered' } = {}): number {
    return guarded(
      this.file,
      'replay',
      () =>
        this.st.replayAll.run({
          state: options.state ?? 'dead',
          route: options.route ?? null,
          now: this.now(),
        }).changes,
    );
  }

  delete(id: string): boolean {
    return guarded(this.file, 'delete', () => this.st.deleteById.run(id).changes > 0);
  }

  depth(): DepthRow[] {
    return guarded(this.file, 'depth', () => this.st.depth.all());
  }

  pause(route: string): void {
    guarded(this.file, 'pause', () => this.st.pause.run(route, this.now()));
  }

  resume(route: string): void {
    guarded(this.file, 'resume', () => this.st.resume.run(route));
  }

  paused(route: string): boolean {
    return guarded(this.file, 'paused', () => this.st.isPaused.get(route) !== undefined);
  }

  pausedRoutes(): string[] {
    return guarded(this.file, 'paused', () => this.st.pausedRoutes.all().map((r) => r.route));
  }

  prune(now: number, batchSize = 500): PruneResult {
    const n = Math.max(1, Math.floor(batchSize));
    const batches = (stmt: Statements['pruneDedupe'], before: number): number => {
      let total = 0;
      for (;;) {
        const removed = this.db.transaction(() => stmt.run({ before, n }).changes).immediate();
        total += removed;
        if (removed < n) return total;
      }
    };
    return guarded(this.file, 'prune', () => ({
      dedupeKeys: batches(this.st.pruneDedupe, now),
      deliveredEvents: batches(this.st.pruneDelivered, now - this.deliveredRetentionMs),
    }));
  }

  /**
   * Runs `fn` in one write transaction (one fsync): the store's own calls inside it become savepoints, so a
   * call that throws is undone alone while the rest commit together.
   */
  group<T>(fn: () => T): T {
    return guarded(this.file, 'group', () => this.db.transaction(fn).immediate());
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private hydrate(row: FullEventRow): StoredEvent {
    const attemptLog: AttemptRecord[] = this.st.attemptsOf.all(row.seq).map((a) => ({
      at: a.at,
      ...(a.status !== null ? { status: a.status } : {}),
      ...(a.error !== null ? { error: a.error } : {}),
      durationMs: a.duration_ms,
    }));
    const { bodyBytes: _bodyBytes, ...summary } = summaryOf(row);
    return { ...summary, headers: headersOf(row.headers), body: row.body, attemptLog };
  }
}
