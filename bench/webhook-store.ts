// Accept throughput of the SQLite webhook store with synchronous=FULL (each commit fsynced before the answer):
// 1 KB bodies, a dedupe key each, one process. Three lines: the synchronous store called in a loop (one fsync
// per event, on the event loop), then the store in its worker thread with 1 and with 64 accepts in flight
// (group commit: the accepts that queue up while the thread is busy share one transaction).
// Run: node --import tsx bench/webhook-store.ts [events]   (or node dist/bench/webhook-store.js after a build)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewEvent } from '../src/policies/webhook/store/event-store.js';
import { SqliteEventStore } from '../src/policies/webhook/store/sqlite-store.js';
import { ThreadedEventStore } from '../src/policies/webhook/store/thread-store.js';

const count = Number(process.argv[2] ?? 5000);
const settings = { retentionMs: 86_400_000, deliveredRetentionMs: 86_400_000, leaseMs: 30_000 };
const body = Buffer.alloc(1024, 'x');
const headers: Array<[string, string]> = [
  ['content-type', 'application/json'],
  ['x-delivery-id', ''],
];
const newEvent = (run: string, i: number): NewEvent => ({
  route: 'bench',
  dedupeKey: `${run}-${i}`,
  method: 'POST',
  path: '/hooks?i=' + i,
  headers,
  body,
});

function report(label: string, seconds: number, commits?: number): void {
  const perCommit =
    commits !== undefined ? `, ${commits} commits (${(count / commits).toFixed(1)} per fsync)` : '';
  console.log(
    `${label.padEnd(30)} ${count} accepts in ${seconds.toFixed(2)} s: ` +
      `${Math.round(count / seconds)} events/s${perCommit}`,
  );
}

const elapsed = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

function synchronous(file: string): void {
  const store = new SqliteEventStore({ file, ...settings });
  try {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) store.accept(newEvent('sync', i));
    report('synchronous store', elapsed(start));
  } finally {
    store.close();
  }
}

async function threaded(file: string, inFlight: number): Promise<void> {
  const store = await ThreadedEventStore.open({ file, ...settings });
  try {
    const before = await store.stats();
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) await store.accept(newEvent(`thread${inFlight}`, i));
    };
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, lane));
    const seconds = elapsed(start);
    const after = await store.stats();
    report(`thread, ${inFlight} in flight`, seconds, after.commits - before.commits);
  } finally {
    await store.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'portico-webhook-bench-'));
try {
  console.log(`webhook store accepts: synchronous=FULL, WAL, 1 KB bodies, ${count} events per line`);
  synchronous(join(dir, 'sync.db'));
  await threaded(join(dir, 'thread-1.db'), 1);
  await threaded(join(dir, 'thread-64.db'), 64);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
