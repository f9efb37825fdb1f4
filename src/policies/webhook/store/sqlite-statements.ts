// The SQL of the SQLite event store, prepared once per connection. Every value is a bound parameter.
import type Database from 'better-sqlite3';
import type { DepthRow, EventState } from './event-store.js';

/** An events row as the listing reads it (no headers, body or attempts). */
export interface EventRow {
  seq: number;
  id: string;
  route: string;
  dedupe_key: string | null;
  order_key: string | null;
  method: string;
  path: string;
  prefix_length: number;
  body_bytes: number;
  received_at: number;
  attempts: number;
  next_attempt_at: number;
  state: EventState;
  lease_until: number | null;
  claim: number;
  last_error: string | null;
}

/** A full events row. */
export type FullEventRow = EventRow & { headers: string; body: Buffer };

interface AttemptRow {
  at: number;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

const SUMMARY_COLUMNS = `seq, id, route, dedupe_key, order_key, method, path, prefix_length,
  length(body) AS body_bytes, received_at, attempts, next_attempt_at, state, lease_until, claim, last_error`;
const FULL_COLUMNS = `${SUMMARY_COLUMNS}, headers, body`;

/**
 * A pending event with an order key is held back by an older pending event of its route and key, and by any
 * event of that key in flight (a replayed old event must not overtake, nor run beside, a newer one in flight).
 */
const DUE = `
SELECT e.seq FROM events e
WHERE e.state = 'pending' AND e.next_attempt_at <= @now
  AND (@route IS NULL OR e.route = @route)
  AND NOT EXISTS (SELECT 1 FROM paused_routes p WHERE p.route = e.route)
  AND (e.order_key IS NULL OR NOT EXISTS (
    SELECT 1 FROM events o
    WHERE o.route = e.route AND o.order_key = e.order_key
      AND (o.state = 'delivering' OR (o.state = 'pending' AND o.seq < e.seq))))
ORDER BY e.seq
LIMIT @limit`;

const REPLAY_SET = `SET state = 'pending', attempts = 0, next_attempt_at = @now, lease_until = NULL,
  last_error = NULL, finished_at = NULL`;

/** Prepares every statement of the store on `db`. */
export function prepareStatements(db: Database.Database) {
  return {
    dedupeGet: db.prepare<[string, string], { expires_at: number; event_id: string }>(
      'SELECT expires_at, event_id FROM dedupe WHERE route = ? AND key = ?',
    ),
    dedupePut: db.prepare<[string, string, number, number, string]>(
      `INSERT INTO dedupe (route, key, seen_at, expires_at, event_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (route, key) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at,
         event_id = excluded.event_id`,
    ),
    insertEvent: db.prepare<{
      id: string;
      route: string;
      dedupeKey: string | null;
      orderKey: string | null;
      method: string;
      path: string;
      prefixLength: number;
      headers: string;
      body: Buffer;
      now: number;
    }>(
      `INSERT INTO events (id, route, dedupe_key, order_key, method, path, prefix_length, headers, body,
         received_at, next_attempt_at, state)
       VALUES (@id, @route, @dedupeKey, @orderKey, @method, @path, @prefixLength, @headers, @body, @now, @now,
         'pending')`,
    ),
    logExpired: db.prepare<{ now: number; error: string }>(
      `INSERT INTO attempts (event_seq, at, status, error, duration_ms)
       SELECT seq, @now, NULL, @error, 0 FROM events WHERE state = 'delivering' AND lease_until <= @now`,
    ),
    releaseExpired: db.prepare<{ now: number; error: string }>(
      `UPDATE events SET state = 'pending', attempts = attempts + 1, next_attempt_at = @now, lease_until = NULL,
         last_error = @error
       WHERE state = 'delivering' AND lease_until <= @now`,
    ),
    inFlight: db.prepare<{ route: string; now: number }, { n: number }>(
      `SELECT count(*) AS n FROM events WHERE route = @route AND state = 'delivering' AND lease_until > @now`,
    ),
    bucketGet: db.prepare<[string], { tokens: number; updated_at: number }>(
      'SELECT tokens, updated_at FROM route_buckets WHERE route = ?',
    ),
    bucketPut: db.prepare<{ route: string; tokens: number; at: number }>(
      `INSERT INTO route_buckets (route, tokens, updated_at) VALUES (@route, @tokens, @at)
       ON CONFLICT (route) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at`,
    ),
    selectDue: db.prepare<{ now: number; route: string | null; limit: number }, { seq: number }>(DUE),
    claim: db.prepare<{ seq: number; until: number }, FullEventRow>(
      `UPDATE events SET state = 'delivering', lease_until = @until, claim = claim + 1
       WHERE seq = @seq AND state = 'pending'
       RETURNING ${FULL_COLUMNS}`,
    ),
    finish: db.prepare<
      {
        id: string;
        claim: number;
        state: EventState;
        next: number | null;
        error: string | null;
        finished: number | null;
      },
      { seq: number }
    >(
      `UPDATE events SET state = @state, attempts = attempts + 1, lease_until = NULL, last_error = @error,
         next_attempt_at = coalesce(@next, next_attempt_at), finished_at = @finished
       WHERE id = @id AND claim = @claim AND state = 'delivering'
       RETURNING seq`,
    ),
    logAttempt: db.prepare<{
      seq: number;
      at: number;
      status: number | null;
      error: string | null;
      durationMs: number;
    }>(
      `INSERT INTO attempts (event_seq, at, status, error, duration_ms)
       VALUES (@seq, @at, @status, @error, @durationMs)`,
    ),
    attemptsOf: db.prepare<[number], AttemptRow>(
      'SELECT at, status, error, duration_ms FROM attempts WHERE event_seq = ? ORDER BY rowid',
    ),
    getById: db.prepare<[string], FullEventRow>(`SELECT ${FULL_COLUMNS} FROM events WHERE id = ?`),
    list: db.prepare<
      { state: EventState | null; route: string | null; after: number; limit: number },
      EventRow
    >(
      `SELECT ${SUMMARY_COLUMNS} FROM events
       WHERE (@state IS NULL OR state = @state) AND (@route IS NULL OR route = @route) AND seq > @after
       ORDER BY seq LIMIT @limit`,
    ),
    replay: db.prepare<{ id: string; now: number }>(
      `UPDATE events ${REPLAY_SET} WHERE id = @id AND state IN ('dead', 'delivered')`,
    ),
    replayAll: db.prepare<{ state: 'dead' | 'delivered'; route: string | null; now: number }>(
      `UPDATE events ${REPLAY_SET} WHERE state = @state AND (@route IS NULL OR route = @route)`,
    ),
    deleteById: db.prepare<[string]>('DELETE FROM events WHERE id = ?'),
    depth: db.prepare<[], DepthRow>(
      'SELECT route, state, count(*) AS count FROM events GROUP BY route, state ORDER BY route, state',
    ),
    pause: db.prepare<[string, number]>(
      'INSERT INTO paused_routes (route, since) VALUES (?, ?) ON CONFLICT (route) DO NOTHING',
    ),
    resume: db.prepare<[string]>('DELETE FROM paused_routes WHERE route = ?'),
    isPaused: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM paused_routes WHERE route = ?'),
    pausedRoutes: db.prepare<[], { route: string }>('SELECT route FROM paused_routes ORDER BY route'),
    pruneDedupe: db.prepare<{ before: number; n: number }>(
      `DELETE FROM dedupe WHERE rowid IN (SELECT rowid FROM dedupe WHERE expires_at <= @before LIMIT @n)`,
    ),
    pruneDelivered: db.prepare<{ before: number; n: number }>(
      `DELETE FROM events WHERE seq IN (
         SELECT seq FROM events WHERE state = 'delivered' AND finished_at <= @before LIMIT @n)`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
