// Accept throughput of the SQLite webhook store with synchronous=FULL (one fsync per accepted event):
// 1 KB bodies, a dedupe key each, one process. Run: node --import tsx bench/webhook-store.ts [events]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../src/policies/webhook/store/sqlite-store.js';

const count = Number(process.argv[2] ?? 5000);
const dir = mkdtempSync(join(tmpdir(), 'portico-webhook-bench-'));
try {
  const store = new SqliteEventStore({
    file: join(dir, 'bench.db'),
    retentionMs: 86_400_000,
    deliveredRetentionMs: 86_400_000,
    leaseMs: 30_000,
  });
  const body = Buffer.alloc(1024, 'x');
  const headers: Array<[string, string]> = [
    ['content-type', 'application/json'],
    ['x-delivery-id', ''],
  ];
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    store.accept({
      route: 'bench',
      dedupeKey: `d${i}`,
      method: 'POST',
      path: '/hooks?i=' + i,
      headers,
      body,
    });
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  store.close();
  console.log(
    `${count} accepts in ${seconds.toFixed(2)} s: ${Math.round(count / seconds)} events/s ` +
      `(${((seconds / count) * 1e3).toFixed(3)} ms each, synchronous=FULL, WAL, 1 KB bodies)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
