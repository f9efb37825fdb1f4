// The SQLite store in a worker thread: the store contract (conformance.ts), then what the thread adds: group
// commit, errors rebuilt across the thread, open failures, close and a dying thread, bodies byte-exact, and
// a thread that keeps the process alive only while a call is pending.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventStoreConformance } from './conformance.js';
import { StoreWriteError, type NewEvent } from './event-store.js';
import { makeReadOnly } from './test-fixture.js';
import { fromWire, toWire } from './thread-protocol.js';
import { ThreadedEventStore, type ThreadedEventStoreOptions } from './thread-store.js';

const root = mkdtempSync(join(tmpdir(), 'portico-webhook-thread-'));
after(() => rmSync(root, { recursive: true, force: true }));

const T0 = 4_000_000_000_000;
const DEFAULTS = { retentionMs: 3_600_000, deliveredRetentionMs: 86_400_000, leaseMs: 30_000 };
let files = 0;
const newFile = (): string => join(root, `thread-${++files}.db`);

const event = (over: Partial<NewEvent> = {}): NewEvent => ({
  route: 'orders',
  method: 'POST',
  path: '/h',
  headers: [['content-type', 'application/octet-stream']],
  body: Buffer.from('x'),
  ...over,
});

/** Runs `body` with a store on a new file, closed afterwards whatever happens. */
async function withStore(
  body: (s: ThreadedEventStore) => Promise<void>,
  extra: Partial<ThreadedEventStoreOptions> = {},
): Promise<void> {
  const s = await ThreadedEventStore.open({ file: newFile(), ...DEFAULTS, ...extra });
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

const isCode = (code: RegExp) => (err: unknown) => err instanceof StoreWriteError && code.test(err.code);

eventStoreConformance('ThreadedEventStore', async (options) => {
  const store = await ThreadedEventStore.open({ file: newFile(), ...options });
  return { store, close: () => store.close() };
});

describe('group commit', () => {
  it('200 accepts in flight are stored in far fewer transactions, each answered', async () => {
    await withStore(async (s) => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => s.accept(event({ dedupeKey: `k${i % 150}` }))),
      );
      assert.equal(results.filter((r) => r.accepted).length, 150);
      for (const [i, r] of results.entries()) {
        if (i >= 150) assert.deepEqual(r, { duplicate: true, id: results[i - 150]?.id });
      }
      const stats = await s.stats();
      assert.equal(stats.accepts, 200);
      assert.ok(stats.commits < 200, `${stats.commits} commits for 200 accepts`);
      assert.equal((await s.list({ limit: 1000 })).events.length, 150);
    });
  });

  it('accepts spread over many ticks are all answered, at most one commit each', async () => {
    await withStore(async (s) => {
      const pending: Array<Promise<unknown>> = [];
      for (let i = 0; i < 50; i++) {
        pending.push(s.accept(event({ dedupeKey: `k${i}` })));
        await new Promise<void>((resolveTick) => setImmediate(resolveTick));
      }
      await Promise.all(pending);
      const stats = await s.stats();
      assert.equal(stats.accepts, 50);
      assert.ok(stats.commits >= 1 && stats.commits <= 50, `${stats.commits} commits`);
      assert.equal((await s.list()).events.length, 50);
    });
  });

  it('calls keep their order: an accept then a claim sees the accept, a claim then an accept does not', async () => {
    await withStore(async (s) => {
      const [a, claimed] = await Promise.all([s.accept(event()), s.claimDue(T0, 10)]);
      assert.deepEqual(
        claimed.map((e) => e.id),
        [a.id],
      );
      const [none, b] = await Promise.all([s.claimDue(T0, 10), s.accept(event())]);
      assert.deepEqual(none, []);
      assert.equal((await s.get(b.id))?.state, 'pending');
    });
  });

  it('a batch that hits the size cap stores every event it can and answers SQLITE_FULL for the rest', async () => {
    const file = newFile();
    const s = await ThreadedEventStore.open({ file, ...DEFAULTS, maxBytes: 256 * 1024 });
    let kept: string[];
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 400 }, (_, i) => s.accept(event({ body: Buffer.alloc(1024, i) }))),
      );
      kept = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      assert.ok(kept.length > 50, `only ${kept.length} stored`);
      assert.ok(errors.length > 0, 'the cap was reached');
      for (const err of errors) {
        assert.ok(isCode(/^SQLITE_FULL/)(err), String(err));
        assert.equal((err as StoreWriteError).file, file);
      }
    } finally {
      await s.close();
    }
    const r = await ThreadedEventStore.open({ file, ...DEFAULTS });
    try {
      const stored = (await r.list({ limit: 1000 })).events.map((e) => e.id);
      assert.deepEqual(stored.sort(), [...kept].sort(), 'every acknowledged event, nothing else');
    } finally {
      await r.close();
    }
  });
});

describe('errors across the thread', () => {
  it('a missing directory rejects the open with SQLITE_CANTOPEN naming the file', async () => {
    const missing = join(root, 'no-such-dir', 'w.db');
    await assert.rejects(
      ThreadedEventStore.open({ file: missing, ...DEFAULTS }),
      (err: unknown) =>
        isCode(/^SQLITE_CANTOPEN$/)(err) &&
        (err as StoreWriteError).file === missing &&
        (err as Error).message.includes('does not exist'),
    );
  });

  it('a read-only directory rejects the open with a StoreWriteError', async (t) => {
    const dir = join(root, 'ro');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x'), '');
    const undo = makeReadOnly(dir);
    if (undo === undefined) {
      t.skip('neither chmod (running as root) nor chattr +i can make a directory read-only here');
      return;
    }
    try {
      await assert.rejects(
        ThreadedEventStore.open({ file: join(dir, 'w.db'), ...DEFAULTS }),
        isCode(/^SQLITE_(CANTOPEN|READONLY)/),
      );
    } finally {
      undo();
    }
  });

  it('misuse keeps its class; a StoreWriteError its code and file; anything else is an Error', async () => {
    await withStore(async (s) => {
      await assert.rejects(s.accept(event({ prefixLength: -1 })), RangeError);
      await assert.rejects(s.claimDue(T0, 1, { ratePerS: 1 }), TypeError);
      assert.equal((await s.accept(event())).accepted, true, 'still serving');
    });
    const wire = toWire(new StoreWriteError('SQLITE_IOERR_WRITE', '/x.db', 'disk I/O error'));
    const back = fromWire(structuredClone(wire), '/other.db');
    assert.ok(back instanceof StoreWriteError, 'StoreWriteError');
    assert.deepEqual([back.code, back.file, back.message], ['SQLITE_IOERR_WRITE', '/x.db', 'disk I/O error']);
    const other = fromWire(toWire(Object.assign(new Error('constraint'), { name: 'SqliteError' })), '/x');
    assert.equal(other.constructor, Error);
    assert.equal(other.message, 'constraint');
  });
});

describe('close and a dying thread', () => {
  it('close answers the calls made before it, then every call rejects with CLOSED', async () => {
    const file = newFile();
    const s = await ThreadedEventStore.open({ file, ...DEFAULTS });
    const accepts = Array.from({ length: 10 }, (_, i) => s.accept(event({ dedupeKey: `k${i}` })));
    const closing = s.close();
    assert.equal(s.close(), closing, 'close again: the same promise');
    await closing;
    for (const r of await Promise.all(accepts)) assert.equal(r.accepted, true);
    await assert.rejects(s.accept(event()), isCode(/^CLOSED$/));
    await assert.rejects(s.depth(), isCode(/^CLOSED$/));
    await s.close();
    const r = await ThreadedEventStore.open({ file, ...DEFAULTS });
    try {
      assert.equal((await r.list()).events.length, 10);
    } finally {
      await r.close();
    }
  });

  it('a thread that dies rejects the pending and later calls with THREAD_EXITED', async () => {
    const s = await ThreadedEventStore.open({ file: newFile(), ...DEFAULTS });
    try {
      assert.equal((await s.accept(event())).accepted, true);
      const inFlight = s.accept(event());
      await s.kill();
      // Posted before the thread ended, the accept was either answered or is lost with the thread.
      await inFlight.then(
        (r) => assert.equal(r.accepted, true),
        (err: unknown) => assert.ok(isCode(/^THREAD_EXITED$/)(err), String(err)),
      );
      await assert.rejects(s.accept(event()), isCode(/^THREAD_EXITED$/));
      await assert.rejects(s.list(), (err: unknown) => {
        assert.ok(isCode(/^THREAD_EXITED$/)(err));
        assert.match((err as Error).message, /store thread exited/);
        return true;
      });
    } finally {
      await s.close();
    }
    await assert.rejects(s.get('x'), isCode(/^THREAD_EXITED$/));
  });
});

describe('bodies', () => {
  it('cross the thread byte-exact, as Buffers, and the caller keeps its own', async () => {
    await withStore(async (s) => {
      const big = randomBytes(1024 * 1024);
      const bodies = [
        Buffer.alloc(0),
        Buffer.from([0]),
        Buffer.from('pooled small buffer'),
        big.subarray(1000, 70_000),
        big,
        Buffer.from(randomBytes(300)),
      ];
      const before = bodies.map((b) => Buffer.from(b));
      const results = await Promise.all(bodies.map((body) => s.accept(event({ body }))));
      bodies.forEach((b, i) => assert.ok(b.equals(before[i] as Buffer), `caller's body ${i} intact`));
      for (const [i, r] of results.entries()) {
        const got = await s.get(r.id);
        assert.ok(got && Buffer.isBuffer(got.body), 'a Buffer');
        assert.ok(got.body.equals(before[i] as Buffer), `body ${i} byte-exact`);
      }
      const claimed = await s.claimDue(T0, 10);
      assert.equal(claimed.length, bodies.length);
      for (const e of claimed) {
        const i = results.findIndex((r) => r.id === e.id);
        assert.ok(Buffer.isBuffer(e.body) && e.body.equals(before[i] as Buffer), `claimed body ${i}`);
      }
    });
  });
});

describe('the process and the thread', () => {
  it('a pending accept keeps the process alive; an idle store does not', async () => {
    const file = newFile();
    const moduleUrl = new URL('./thread-store.ts', import.meta.url).href;
    // No await and no close: the process must live until the accept is answered, then end by itself.
    const script = `
      const { ThreadedEventStore } = await import(${JSON.stringify(moduleUrl)});
      const s = await ThreadedEventStore.open({ file: ${JSON.stringify(file)}, ...${JSON.stringify(DEFAULTS)} });
      s.accept({ route: 'r', method: 'POST', path: '/', headers: [], body: Buffer.from('late') })
        .then((r) => process.stdout.write(JSON.stringify(r)));`;
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>(
      (resolveRun, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          cwd: fileURLToPath(new URL('../../../..', import.meta.url)),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (exitCode) => resolveRun({ code: exitCode, out: stdout, err: stderr }));
      },
    );
    assert.equal(code, 0, err);
    const answer = JSON.parse(out) as { accepted?: boolean; id: string };
    assert.equal(answer.accepted, true);
    const s = await ThreadedEventStore.open({ file, ...DEFAULTS });
    try {
      assert.equal((await s.get(answer.id))?.body.toString(), 'late');
    } finally {
      await s.close();
    }
  });
});
