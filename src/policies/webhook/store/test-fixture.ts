// What the SQLite store's tests share: a temp dir removed afterwards, a fresh database file and a reset
// clock for each test, and stores opened on that file with the test's defaults, closed at the end; and a way
// to make a directory read-only, root included.
import { after, beforeEach } from 'node:test';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type SqliteEventStoreOptions } from './sqlite-store.js';

const START = 1_700_000_000_000;

export interface StoreFixture {
  /** The temp dir of the test file. */
  readonly root: string;
  /** The injected clock (ms since the epoch), reset before each test. */
  readonly clock: { t: number };
  /** This test's database file. */
  readonly file: string;
  /** A store on this test's file with the fixture's defaults (and `extra`), closed after the tests. */
  store(extra?: Partial<SqliteEventStoreOptions>): SqliteEventStore;
}

type Defaults = Pick<SqliteEventStoreOptions, 'retentionMs' | 'deliveredRetentionMs' | 'leaseMs'>;

/** Registers the hooks of a test file (call at its top level). */
export function storeFixture(prefix: string, defaults: Defaults): StoreFixture {
  const root = mkdtempSync(join(tmpdir(), `portico-webhook-${prefix}-`));
  const open: SqliteEventStore[] = [];
  let n = 0;
  const fx = {
    root,
    clock: { t: START },
    file: '',
    store(extra: Partial<SqliteEventStoreOptions> = {}): SqliteEventStore {
      const s = new SqliteEventStore({ file: fx.file, ...defaults, now: () => fx.clock.t, ...extra });
      open.push(s);
      return s;
    },
  };
  beforeEach(() => {
    fx.file = join(root, `${prefix}-${++n}.db`);
    fx.clock.t = START;
  });
  after(() => {
    for (const s of open) s.close();
    rmSync(root, { recursive: true, force: true });
  });
  return fx;
}

/**
 * Makes `dir` read-only for this process: chmod for an ordinary user; as root, whom chmod does not stop, the
 * ext4 immutable flag (chattr +i). Returns how to undo it, or undefined when neither works here.
 */
export function makeReadOnly(dir: string): (() => void) | undefined {
  if (process.getuid?.() !== 0) {
    chmodSync(dir, 0o555);
    return () => chmodSync(dir, 0o755);
  }
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return () => execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
}
