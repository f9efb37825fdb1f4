// The durable event store of the webhook policy (issue 19): the interface that the delivery loop, the admin
// operations and the metrics use, whatever the backend. EventStore is synchronous (the embedded SQLite file
// of sqlite-store.ts answers from the local file); AsyncEventStore is the same contract answering with
// Promises, as the policy uses it (thread-store.ts runs the SQLite store in a worker thread; Redis is remote).
// conformance.ts holds the contract as tests for every backend. Times are epoch milliseconds from the
// caller's (injected) clock.
import { randomBytes } from 'node:crypto';

/** Where an event is in its life: waiting (possibly in backoff), leased to a worker, done, or given up. */
export type EventState = 'pending' | 'delivering' | 'delivered' | 'dead';

/** One delivery attempt, as the delivery loop reports it. */
export interface AttemptRecord {
  /** When the attempt started. */
  readonly at: number;
  /** The upstream's status code, when it answered. */
  readonly status?: number;
  /** Why the attempt failed (timeout, connection error, non-2xx…), when it did. */
  readonly error?: string;
  /** How long the attempt took. */
  readonly durationMs: number;
}

/** What the gateway received and must deliver: the input of {@link EventStore.accept}. */
export interface NewEvent {
  /** The route (its id) that received the event: pause, ordering and deduplication are per route. */
  readonly route: string;
  /** The delivery id or Idempotency-Key: an event whose key this route saw within the retention is a duplicate. */
  readonly dedupeKey?: string;
  /**
   * How long this event's dedupe key is remembered (the route's `idempotency.retention_h`); default the
   * store's retentionMs. Stored with the key as its expiry, so prune() forgets each key at its own time.
   */
  readonly retentionMs?: number;
  /** Events of one route with one order key are delivered one at a time, in the order they were accepted. */
  readonly orderKey?: string;
  readonly method: string;
  /** The path with its query string, as the client sent it (the route's path mapping applies at delivery). */
  readonly path: string;
  /** Length of the path prefix the route matched (for its strip_prefix at delivery); default 0. */
  readonly prefixLength?: number;
  /** The headers in their raw order, repeated names kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

/** An event as the store holds it. */
export interface StoredEvent extends NewEvent {
  /** Assigned by the gateway: 32 hex digits, a 48-bit millisecond time then 80 random bits (sorts by time). */
  readonly id: string;
  readonly receivedAt: number;
  /** Attempts counted against the retry budget (reset by a replay; a lease that expired counts as one). */
  readonly attempts: number;
  /** When the event is due (pending), or was last due. */
  readonly nextAttemptAt: number;
  readonly state: EventState;
  /** Until when a worker holds the event (state 'delivering'). */
  readonly leaseUntil?: number;
  /** The claim number: increased by each claim; {@link EventStore.markDelivered} and markFailed must quote it. */
  readonly claim: number;
  readonly lastError?: string;
  /** Every attempt ever made, oldest first (a replay keeps the history). */
  readonly attemptLog: readonly AttemptRecord[];
}

/** An event in a listing: no headers, body or attempt log. */
export type EventSummary = Omit<StoredEvent, 'headers' | 'body' | 'attemptLog'> & {
  readonly bodyBytes: number;
};

/** The answer of {@link EventStore.accept}. */
export type AcceptResult =
  | { readonly accepted: true; readonly duplicate?: undefined; readonly id: string }
  | { readonly duplicate: true; readonly accepted?: undefined; readonly id: string };

/** Which claim of an event a worker reports on: a claimed {@link StoredEvent} fits. */
export interface ClaimRef {
  readonly id: string;
  readonly claim: number;
}

export interface ClaimOptions {
  /** How long the claimed events stay leased (default: the store's leaseMs). */
  readonly leaseMs?: number;
  /** Claim only this route's events. */
  readonly route?: string;
  /**
   * With `route`: at most this many of the route's events leased at once (unexpired leases of every process
   * count), so the cap on concurrent deliveries holds across workers and instances.
   */
  readonly maxInFlight?: number;
  /**
   * With `route`: at most this many claims per second for the route, a token bucket kept in the store
   * (capacity max(1, ratePerS)), shared by every process claiming from it. A claimed event takes one token;
   * the bucket refills by the time elapsed on the callers' clock. maxInFlight or ratePerS without `route` is
   * a TypeError.
   */
  readonly ratePerS?: number;
}

export interface ListQuery {
  /** Only events in this state (default: any). */
  readonly state?: EventState;
  readonly route?: string;
  /** At most this many (default 100, at most 1000). */
  readonly limit?: number;
  /** The `next` cursor of the previous page. */
  readonly after?: string;
}

export interface ListPage {
  /** Oldest accepted first. */
  readonly events: readonly EventSummary[];
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: string;
}

/** One line of the queue-depth gauge. */
export interface DepthRow {
  readonly route: string;
  readonly state: EventState;
  readonly count: number;
}

export interface PruneResult {
  /** Dedupe keys forgotten (older than the retention). */
  readonly dedupeKeys: number;
  /** Delivered events removed (delivered before the delivered retention). */
  readonly deliveredEvents: number;
}

/**
 * The durable store of webhook events. Every method may throw {@link StoreWriteError} when the storage
 * cannot be written (full disk, read-only path, I/O error, lock held too long): the caller answers 503.
 */
export interface EventStore {
  /**
   * Stores a received event, durably when it returns (the caller may then answer 202), due now. In one
   * transaction: when the route saw `dedupeKey` within the retention, nothing is stored and the answer is the
   * first event's id with `duplicate: true`; otherwise the event and its dedupe key are stored.
   */
  accept(event: NewEvent): AcceptResult;
  /**
   * Leases up to `limit` due events to the caller, oldest accepted first, and returns them in state
   * 'delivering' with `leaseUntil = now + leaseMs`. First returns to 'pending' (due now) the events whose lease
   * expired, counting the lost attempt. Skips paused routes, and for each (route, orderKey) offers only the
   * oldest event that is pending or delivering, so a failing event holds back only its own key; a dead event
   * does not hold its key. Atomic across processes: no event is leased to two callers at once.
   */
  claimDue(now: number, limit: number, options?: ClaimOptions): StoredEvent[];
  /** Records a successful attempt: the event becomes 'delivered'. False when that claim is no longer held. */
  markDelivered(ref: ClaimRef, attempt: AttemptRecord): boolean;
  /**
   * Records a failed attempt: the event is due again at `nextAttemptAt` (the caller computed the backoff,
   * see backoffDelay), or becomes 'dead'. False when that claim is no longer held (the lease expired).
   */
  markFailed(ref: ClaimRef, attempt: AttemptRecord, nextAttemptAt: number | 'dead'): boolean;
  /** A page of events, oldest accepted first. */
  list(query?: ListQuery): ListPage;
  /** One event with its headers, body and attempt log, or undefined. */
  get(id: string): StoredEvent | undefined;
  /** Makes a dead or delivered event pending again, due now, its attempt budget reset. False otherwise. */
  replay(id: string): boolean;
  /** Replays every event in `state` (default 'dead'), of one route or all; returns how many. */
  replayAll(options?: { readonly route?: string; readonly state?: 'dead' | 'delivered' }): number;
  /** Removes an event in any state, with its attempt log (its dedupe key stays). False when absent. */
  delete(id: string): boolean;
  /** Event counts by route and state, for the queue-depth gauge (only non-zero counts). */
  depth(): DepthRow[];
  /** Stops claims of a route's events (persisted); accept goes on. */
  pause(route: string): void;
  /** Lets a paused route's events be claimed again. */
  resume(route: string): void;
  /** Whether the route is paused. */
  paused(route: string): boolean;
  /** The paused routes, sorted. */
  pausedRoutes(): string[];
  /** Forgets expired dedupe keys and old delivered events, in batches of `batchSize` transactions. */
  prune(now: number, batchSize?: number): PruneResult;
  /** Closes the store; further calls throw. */
  close(): void;
}

/**
 * The event store as the policy uses it: every method of {@link EventStore}, answering with a Promise (the
 * SQLite store runs in a worker thread, so no fsync blocks the event loop; Redis is remote anyway). Errors
 * are the same: StoreWriteError when the storage cannot be written.
 */
export type AsyncEventStore = {
  readonly [K in keyof EventStore]: (
    ...args: Parameters<EventStore[K]>
  ) => Promise<Awaited<ReturnType<EventStore[K]>>>;
};

/** The SQLite result codes (primary, before any `_EXTENDED` suffix) that mean "cannot store now: answer 503". */
export const WRITE_ERROR_CODES = Object.freeze([
  'SQLITE_FULL',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_PERM',
]);

/** The storage cannot be written: the event was not stored and the sender should retry (503). */
export class StoreWriteError extends Error {
  override readonly name = 'StoreWriteError';
  constructor(
    /** The SQLite code, e.g. SQLITE_FULL or SQLITE_READONLY_DBMOVED. */
    readonly code: string,
    /** The database file. */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The delay before retry number `attempt` (1 for the first retry) with full jitter: a uniform draw in
 * [0, min(maxMs, baseMs * 2^(attempt - 1))), `random` returning [0, 1) like Math.random.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const cap = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.floor(random() * cap);
}

/** The values of a new event make sense (both stores check them alike). */
export function checkEvent(event: NewEvent): void {
  const { prefixLength: n, retentionMs: r } = event;
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) {
    throw new RangeError(`prefixLength must be a non-negative integer, got ${n}`);
  }
  if (r !== undefined && !(Number.isFinite(r) && r >= 0)) {
    throw new RangeError(`retentionMs must be a non-negative number of milliseconds, got ${r}`);
  }
}

/** The caps of a claim need its route; their values must make sense. */
export function checkClaimOptions(options: ClaimOptions): void {
  const { maxInFlight, ratePerS } = options;
  if ((maxInFlight !== undefined || ratePerS !== undefined) && options.route === undefined) {
    throw new TypeError('claimDue: maxInFlight and ratePerS apply to one route: pass options.route');
  }
  if (maxInFlight !== undefined && !(Number.isSafeInteger(maxInFlight) && maxInFlight >= 0)) {
    throw new RangeError(`claimDue: maxInFlight must be a non-negative integer, got ${maxInFlight}`);
  }
  if (ratePerS !== undefined && !(Number.isFinite(ratePerS) && ratePerS > 0)) {
    throw new RangeError(`claimDue: ratePerS must be a positive number, got ${ratePerS}`);
  }
}

/** A new event id: 48-bit millisecond time then 80 random bits, 32 hex digits (sorts by time). */
export function newEventId(now: number): string {
  const time = Math.max(0, Math.min(Math.floor(now), 2 ** 48 - 1));
  return time.toString(16).padStart(12, '0') + randomBytes(10).toString('hex');
}
