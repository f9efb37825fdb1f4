// The schema of the SQLite event store, versioned with PRAGMA user_version: version 0 is an empty file, and
// each entry of MIGRATIONS takes the file one version up, in one transaction.
import type Database from 'better-sqlite3';

const V1 = `
CREATE TABLE events (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT    NOT NULL UNIQUE,
  route           TEXT    NOT NULL,
  dedupe_key      TEXT,
  order_key       TEXT,
  method          TEXT    NOT NULL,
  path            TEXT    NOT NULL,
  prefix_length   INTEGER NOT NULL DEFAULT 0,
  headers         TEXT    NOT NULL,
  body            BLOB    NOT NULL,
  received_at     INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'dead')),
  lease_until     INTEGER,
  claim           INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  finished_at     INTEGER
);
CREATE INDEX events_due ON events (state, next_attempt_at);
CREATE INDEX events_order ON events (route, order_key, seq) WHERE order_key IS NOT NULL;
CREATE INDEX events_finished ON events (state, finished_at);
CREATE TABLE attempts (
  event_seq   INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
  at          INTEGER NOT NULL,
  status      INTEGER,
  error       TEXT,
  duration_ms INTEGER NOT NULL
);
CREATE INDEX attempts_event ON attempts (event_seq);
CREATE TABLE dedupe (
  route      TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  seen_at    INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  event_id   TEXT    NOT NULL,
  PRIMARY KEY (route, key)
);
CREATE INDEX dedupe_expires ON dedupe (expires_at);
CREATE TABLE paused_routes (
  route TEXT PRIMARY KEY,
  since INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE route_buckets (
  route      TEXT    PRIMARY KEY,
  tokens     REAL    NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** MIGRATIONS[n] takes the schema from version n to n + 1. */
const MIGRATIONS: readonly string[] = [V1];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the file's schema to {@link SCHEMA_VERSION}. A file of a newer version (written by a newer gateway)
 * is refused rather than guessed at. Safe when several processes open the file at once: the check and the
 * migration run under one write lock.
 */
export function migrate(db: Database.Database, file: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `webhook store ${file}: schema version ${version} is newer than this gateway's (${SCHEMA_VERSION})`,
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    if (version !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
