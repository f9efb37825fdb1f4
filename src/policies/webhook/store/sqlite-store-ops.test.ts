// The operations side of the SQLite event store (list, replayAll, delete, depth, pause, prune), the errors
// that must become a 503 (missing directory, read-only path, full store), and several instances and processes
// claiming from one file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreWriteError, backoffDelay, type NewEvent, type StoredEvent } from './event-store.js';
import { toStoreError } from './sqlite-errors.js';
import { SqliteEventStore } from './sqlite-store.js';
import { makeReadOnly, storeFixture } from './test-fixture.js';

const fx = storeFixture('ops', { retentionMs: 60_000, deliveredRetentionMs: 120_000, leaseMs: 30_000 });
const { root, clock } = fx;
const store = fx.store.bind(fx);

const event = (route = 'orders', over: Partial<NewEvent> = {}): NewEvent => ({
  route,
  method: 'POST',
  path: '/h',
  headers: [['content-type', 'text/plain']],
  body: Buffer.from('x'),
  ...over,
});

function deliverAll(s: SqliteEventStore): void {
  for (const e of s.claimDue(clock.t, 1000)) s.markDelivered(e, { at: clock.t, status: 204, durationMs: 1 });
}

function killAll(s: SqliteEventStore): void {
  for (const e of s.claimDue(clock.t, 1000))
    s.markFailed(e, { at: clock.t, status: 500, durationMs: 1 }, 'dead');
}

describe('operations', () => {
  it('lists by state and route, paged by cursor, without bodies', () => {
    const s = store();
    const ids = Array.from({ length: 5 }, () => s.accept(event()).id);
    s.accept(event('billing'));
    const p1 = s.list({ route: 'orders', limit: 2 });
    assert.deepEqual(
      p1.events.map((e) => e.id),
      ids.slice(0, 2),
    );
    assert.equal(p1.events[0]?.bodyBytes, 1);
    assert.equal('body' in (p1.events[0] as object), false);
    const p2 = s.list({ route: 'orders', limit: 2, after: p1.next });
    const p3 = s.list({ route: 'orders', limit: 2, after: p2.next });
    assert.deepEqual(
      [...p2.events, ...p3.events].map((e) => e.id),
      ids.slice(2),
    );
    assert.equal(p3.next, undefined);
    assert.equal(s.list({ state: 'dead' }).events.length, 0);
    assert.equal(s.list({ state: 'pending' }).events.length, 6);
  });

  it('replayAll replays the dead (or delivered) events of one route or all, and counts them', () => {
    const s = store();
    for (let i = 0; i < 3; i++) s.accept(event('orders'));
    for (let i = 0; i < 2; i++) s.accept(event('billing'));
    killAll(s);
    assert.equal(s.replayAll({ route: 'billing' }), 2);
    assert.equal(s.list({ state: 'dead' }).events.length, 3);
    assert.equal(s.replayAll(), 3);
    assert.equal(s.replayAll(), 0);
    assert.equal(s.list({ state: 'pending' }).events.length, 5);
    deliverAll(s);
    assert.equal(s.replayAll({ state: 'delivered' }), 5);
  });

  it('delete removes an event in any state with its attempt log, and keeps its dedupe key', () => {
    const s = store();
    const id = s.accept(event('orders', { dedupeKey: 'k' })).id;
    killAll(s);
    assert.equal(s.delete(id), true);
    assert.equal(s.delete(id), false);
    assert.equal(s.get(id), undefined);
    assert.deepEqual(s.accept(event('orders', { dedupeKey: 'k' })), { duplicate: true, id });
  });

  it('depth counts events by route and state', () => {
    const s = store();
    for (let i = 0; i < 3; i++) s.accept(event('orders'));
    s.accept(event('billing'));
    const [first] = s.claimDue(clock.t, 1);
    s.markFailed(first as StoredEvent, { at: clock.t, error: 'boom', durationMs: 1 }, 'dead');
    s.claimDue(clock.t, 1);
    assert.deepEqual(s.depth(), [
      { route: 'billing', state: 'pending', count: 1 },
      { route: 'orders', state: 'dead', count: 1 },
      { route: 'orders', state: 'delivering', count: 1 },
      { route: 'orders', state: 'pending', count: 1 },
    ]);
  });

  it('a paused route is not claimed, still accepts, and resumes', () => {
    const s = store();
    s.pause('orders');
    s.pause('orders');
    assert.equal(s.paused('orders'), true);
    assert.equal(s.paused('billing'), false);
    const o = s.accept(event('orders')).id;
    const b = s.accept(event('billing')).id;
    assert.deepEqual(
      s.claimDue(clock.t, 10).map((e) => e.id),
      [b],
    );
    assert.deepEqual(s.claimDue(clock.t, 10, { route: 'orders' }), []);
    assert.deepEqual(s.pausedRoutes(), ['orders']);
    s.resume('orders');
    assert.equal(s.paused('orders'), false);
    assert.deepEqual(
      s.claimDue(clock.t, 10).map((e) => e.id),
      [o],
    );
  });

  it('prune forgets old dedupe keys and old delivered events in batches, nothing else', () => {
    const s = store();
    for (let i = 0; i < 7; i++) s.accept(event('orders', { dedupeKey: `k${i}` }));
    deliverAll(s);
    const dead = s.accept(event('orders'));
    killAll(s);
    const pending = s.accept(event('orders'));
    clock.t += 60_000;
    assert.deepEqual(s.prune(clock.t, 3), { dedupeKeys: 7, deliveredEvents: 0 });
    assert.equal(s.accept(event('orders', { dedupeKey: 'k0' })).accepted, true);
    clock.t += 60_000;
    // The k0 accepted again a minute ago expires now too.
    assert.deepEqual(s.prune(clock.t, 3), { dedupeKeys: 1, deliveredEvents: 7 });
    assert.equal(s.get(dead.id)?.state, 'dead');
    assert.equal(s.get(pending.id)?.state, 'pending');
    assert.equal(s.list().events.length, 3);
  });
});

describe('storage errors', () => {
  it('a path in a missing directory is a StoreWriteError naming the file', () => {
    const missing = join(root, 'no-such-dir', 'w.db');
    assert.throws(
      () => new SqliteEventStore({ file: missing, retentionMs: 1, deliveredRetentionMs: 1, leaseMs: 1 }),
      (err: unknown) =>
        err instanceof StoreWriteError &&
        err.code === 'SQLITE_CANTOPEN' &&
        err.file === missing &&
        err.message.includes(missing) &&
        err.message.includes('does not exist'),
    );
  });

  it('a path that is a directory is SQLITE_CANTOPEN', () => {
    const dir = join(root, 'a-dir.db');
    mkdirSync(dir);
    assert.throws(
      () => new SqliteEventStore({ file: dir, retentionMs: 1, deliveredRetentionMs: 1, leaseMs: 1 }),
      (err: unknown) => err instanceof StoreWriteError && err.code.startsWith('SQLITE_CANTOPEN'),
    );
  });

  it('a read-only directory is a StoreWriteError', (t) => {
    const dir = join(root, 'ro');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x'), '');
    const undo = makeReadOnly(dir);
    if (undo === undefined) {
      t.skip('neither chmod (running as root) nor chattr +i can make a directory read-only here');
      return;
    }
    try {
      assert.throws(
        () =>
          new SqliteEventStore({
            file: join(dir, 'w.db'),
            retentionMs: 1,
            deliveredRetentionMs: 1,
            leaseMs: 1,
          }),
        (err: unknown) => err instanceof StoreWriteError && /SQLITE_(CANTOPEN|READONLY)/.test(err.code),
      );
    } finally {
      undo();
    }
  });

  it('a full store refuses new events with SQLITE_FULL and keeps every acknowledged one', () => {
    const s = store({ maxBytes: 256 * 1024 });
    const kept: string[] = [];
    let error: unknown;
    for (let i = 0; i < 1000 && error === undefined; i++) {
      try {
        kept.push(s.accept(event('orders', { dedupeKey: `k${i}`, body: Buffer.alloc(1024, i) })).id);
      } catch (err) {
        error = err;
      }
    }
    assert.ok(error instanceof StoreWriteError, String(error));
    assert.equal(error.code, 'SQLITE_FULL');
    assert.match(error.message, /is full/);
    assert.ok(error.message.includes(fx.file), error.message);
    assert.ok(kept.length > 50, `only ${kept.length} accepted`);
    s.close();
    const r = store();
    assert.equal(r.list({ limit: 1000 }).events.length, kept.length);
    assert.equal(r.accept(event('orders', { dedupeKey: `k${kept.length}` })).accepted, true);
  });

  it('maps the write codes (extended too) and leaves other errors alone', () => {
    const err = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
    const mapped = toStoreError(err, '/x.db', 'accept');
    assert.ok(mapped instanceof StoreWriteError, 'mapped instanceof StoreWriteError');
    assert.equal(mapped.code, 'SQLITE_IOERR_WRITE');
    assert.match(mapped.message, /^webhook store \/x\.db: accept failed: an I\/O error occurred/);
    for (const code of ['SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_FULL', 'SQLITE_BUSY']) {
      assert.ok(
        toStoreError(Object.assign(new Error(code), { code }), '/x.db', 'accept') instanceof StoreWriteError,
      );
    }
    const other = Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    assert.equal(toStoreError(other, '/x.db', 'accept'), other);
    assert.equal(toStoreError(new TypeError('bug'), '/x.db', 'accept') instanceof StoreWriteError, false);
  });
});

describe('several instances on one file', () => {
  it('two instances claiming in turn never get the same event', () => {
    const a = store();
    const b = store();
    const all = new Set(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).accept(event(`r${i % 3}`)).id));
    const seen = new Map<string, string>();
    for (let turn = 0; turn < 100; turn++) {
      const who = turn % 2 ? a : b;
      for (const e of who.claimDue(clock.t, 7)) {
        assert.equal(seen.has(e.id), false, `claimed twice: ${e.id}`);
        seen.set(e.id, turn % 2 ? 'a' : 'b');
        if (turn % 3) who.markDelivered(e, { at: clock.t, status: 200, durationMs: 1 });
      }
    }
    assert.equal(seen.size, all.size);
    assert.deepEqual(new Set(seen.values()), new Set(['a', 'b']));
  });

  it('processes claiming at the same time never get the same event', async () => {
    const s = store();
    for (let i = 0; i < 300; i++) s.accept(event(`r${i % 4}`));
    const moduleUrl = new URL('./sqlite-store.ts', import.meta.url).href;
    const script = `
      const { SqliteEventStore } = await import(${JSON.stringify(moduleUrl)});
      const s = new SqliteEventStore({ file: ${JSON.stringify(fx.file)}, retentionMs: 1, deliveredRetentionMs: 1, leaseMs: 600000, now: () => ${clock.t} });
      const ids = [];
      for (let batch = s.claimDue(${clock.t}, 5); batch.length > 0; batch = s.claimDue(${clock.t}, 5)) {
        for (const e of batch) { ids.push(e.id); s.markDelivered(e, { at: 0, status: 200, durationMs: 0 }); }
      }
      s.close();
      process.stdout.write(JSON.stringify(ids));`;
    const run = (): Promise<string[]> =>
      new Promise((resolveIds, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          cwd: fileURLToPath(new URL('../../../..', import.meta.url)),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let errText = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0
            ? resolveIds(JSON.parse(out) as string[])
            : reject(new Error(`child ${code}: ${errText}`)),
        );
      });
    const results = await Promise.all([run(), run(), run()]);
    const ids = results.flat();
    assert.equal(new Set(ids).size, ids.length, 'an event was claimed twice');
    assert.equal(ids.length, 300);
    assert.equal(s.list({ state: 'delivered', limit: 1000 }).events.length, 300);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter in [0, cap)', () => {
    assert.equal(
      backoffDelay(1, 1000, 60_000, () => 0.999999),
      999,
    );
    assert.equal(
      backoffDelay(2, 1000, 60_000, () => 0.5),
      1000,
    );
    assert.equal(
      backoffDelay(4, 1000, 60_000, () => 0.5),
      4000,
    );
    assert.equal(
      backoffDelay(10, 1000, 60_000, () => 0.5),
      30_000,
    );
    assert.equal(
      backoffDelay(1000, 1000, 60_000, () => 0.5),
      30_000,
    );
    assert.equal(
      backoffDelay(3, 1000, 60_000, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(0, 1000, 60_000, () => 0.5),
      500,
    );
    for (let attempt = 1; attempt <= 40; attempt++) {
      const d = backoffDelay(attempt, 250, 10_000);
      assert.ok(d >= 0 && d < Math.min(10_000, 250 * 2 ** (attempt - 1)), `attempt ${attempt}: ${d}`);
      assert.ok(Number.isInteger(d), 'Number.isInteger(d)');
    }
  });
});
