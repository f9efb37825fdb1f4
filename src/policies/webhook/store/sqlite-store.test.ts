// The SQLite event store on real files in a temp dir, with an injected clock: accept and deduplication,
// batches, durability across reopen, claim order, leases after a simulated crash, per-key ordering, dead
// letters, the caps of a route across instances; and the store contract (conformance.ts), promised.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventStoreConformance } from './conformance.js';
import type { AsyncEventStore, AttemptRecord, NewEvent, StoredEvent } from './event-store.js';
import { SqliteEventStore } from './sqlite-store.js';
import { storeFixture } from './test-fixture.js';

const MIN = 60_000;
const fx = storeFixture('store', {
  retentionMs: 60 * MIN,
  deliveredRetentionMs: 24 * 60 * MIN,
  leaseMs: 30_000,
});
const { clock } = fx;
const store = fx.store.bind(fx);

function event(over: Partial<NewEvent> = {}): NewEvent {
  return {
    route: 'orders',
    method: 'POST',
    path: '/hooks/orders?x=1',
    headers: [
      ['Content-Type', 'application/json'],
      ['X-Dup', 'a'],
      ['x-dup', 'b'],
    ],
    body: Buffer.from('{"n":1}'),
    ...over,
  };
}

const ok = (at: number): AttemptRecord => ({ at, status: 200, durationMs: 12 });
const fail = (at: number, status = 500): AttemptRecord => ({
  at,
  status,
  durationMs: 5,
  error: `HTTP ${status}`,
});

function accepted(s: SqliteEventStore, e: NewEvent): string {
  const r = s.accept(e);
  assert.equal(r.accepted, true);
  return r.id;
}

describe('accept and deduplication', () => {
  it('stores the event as sent: headers in raw order, body bytes, path with query, due now', () => {
    const s = store();
    const body = Buffer.from([0, 1, 2, 255, 254]);
    const id = accepted(s, event({ body, dedupeKey: 'd1', orderKey: 'k' }));
    assert.match(id, /^[0-9a-f]{32}$/);
    const got = s.get(id) as StoredEvent;
    assert.deepEqual(got.headers, event().headers);
    assert.ok(got.body.equals(body), 'got.body.equals(body)');
    assert.equal(got.path, '/hooks/orders?x=1');
    assert.equal(got.state, 'pending');
    assert.equal(got.receivedAt, clock.t);
    assert.equal(got.nextAttemptAt, clock.t);
    assert.equal(got.attempts, 0);
    assert.equal(got.dedupeKey, 'd1');
    assert.equal(got.orderKey, 'k');
    assert.deepEqual(got.attemptLog, []);
    assert.equal(s.get('nope'), undefined);
  });

  it('a repeated dedupe key within the retention is a duplicate: nothing stored, the first id answered', () => {
    const s = store();
    const id = accepted(s, event({ dedupeKey: 'evt_1' }));
    clock.t += 59 * MIN;
    assert.deepEqual(s.accept(event({ dedupeKey: 'evt_1' })), { duplicate: true, id });
    assert.equal(s.list().events.length, 1);
    // The key is per route, and events without a key are never duplicates.
    assert.equal(s.accept(event({ dedupeKey: 'evt_1', route: 'other' })).accepted, true);
    assert.equal(s.accept(event()).accepted, true);
    assert.equal(s.accept(event()).accepted, true);
    assert.equal(s.list().events.length, 4);
  });

  it('after the retention the same key is accepted again, and a later repeat is a duplicate of the new one', () => {
    const s = store();
    const first = accepted(s, event({ dedupeKey: 'evt_1' }));
    clock.t += 60 * MIN;
    const second = accepted(s, event({ dedupeKey: 'evt_1' }));
    assert.notEqual(first, second);
    clock.t += 1;
    assert.deepEqual(s.accept(event({ dedupeKey: 'evt_1' })), { duplicate: true, id: second });
  });
});

describe('durability across close and reopen', () => {
  it('keeps events, dedupe keys, pause state and attempt logs', () => {
    const s = store();
    const a = accepted(s, event({ dedupeKey: 'k1', body: Buffer.alloc(1024, 7) }));
    s.pause('billing');
    const [claimed] = s.claimDue(clock.t, 10);
    assert.ok(claimed, 'claimed');
    assert.equal(s.markFailed(claimed, fail(clock.t, 502), clock.t + 1000), true);
    s.close();

    const r = store();
    assert.equal(r.paused('billing'), true);
    assert.deepEqual(r.accept(event({ dedupeKey: 'k1' })), { duplicate: true, id: a });
    const got = r.get(a) as StoredEvent;
    assert.equal(got.state, 'pending');
    assert.equal(got.attempts, 1);
    assert.equal(got.lastError, 'HTTP 502');
    assert.deepEqual(got.attemptLog, [{ at: clock.t, status: 502, error: 'HTTP 502', durationMs: 5 }]);
    assert.ok(got.body.equals(Buffer.alloc(1024, 7)), 'body kept');
  });
});

describe('claims', () => {
  it('claims due events oldest first, leases them, and skips events not yet due', () => {
    const s = store();
    const ids = [1, 2, 3, 4].map(() => {
      clock.t += 1;
      return accepted(s, event());
    });
    const first = s.claimDue(clock.t, 2);
    assert.deepEqual(
      first.map((e) => e.id),
      ids.slice(0, 2),
    );
    for (const e of first) {
      assert.equal(e.state, 'delivering');
      assert.equal(e.leaseUntil, clock.t + 30_000);
      assert.equal(e.claim, 1);
    }
    // Back off the first; the next claim gets 3 and 4 and not the one in backoff.
    assert.equal(s.markFailed(first[0] as StoredEvent, fail(clock.t), clock.t + 5000), true);
    assert.equal(s.markDelivered(first[1] as StoredEvent, ok(clock.t)), true);
    assert.deepEqual(
      s.claimDue(clock.t, 10).map((e) => e.id),
      ids.slice(2),
    );
    assert.deepEqual(s.claimDue(clock.t + 4999, 10), []);
    assert.deepEqual(
      s.claimDue(clock.t + 5000, 10).map((e) => e.id),
      [ids[0]],
    );
    assert.equal((s.get(ids[1] as string) as StoredEvent).state, 'delivered');
  });

  it('after a crash (no report), the event is due again once the lease expires, the lost attempt counted', () => {
    const s = store();
    const id = accepted(s, event());
    assert.equal(s.claimDue(clock.t, 10).length, 1);
    // kill -9: the instance is dropped without marking anything (close only releases the file handle).
    s.close();
    const r = store();
    assert.deepEqual(r.claimDue(clock.t + 29_999, 10), []);
    const again = r.claimDue(clock.t + 30_000, 10);
    assert.deepEqual(
      again.map((e) => e.id),
      [id],
    );
    const got = again[0] as StoredEvent;
    assert.equal(got.claim, 2);
    assert.equal(got.attempts, 1);
    assert.match(got.attemptLog[0]?.error ?? '', /lease expired/);
  });

  it('a report on a lost claim is refused and changes nothing', () => {
    const s = store();
    accepted(s, event());
    const [old] = s.claimDue(clock.t, 1);
    const [current] = s.claimDue(clock.t + 30_000, 1);
    assert.ok(old && current, 'old && current');
    assert.equal(s.markDelivered(old, ok(clock.t)), false);
    assert.equal(s.markFailed(old, fail(clock.t), 'dead'), false);
    assert.equal((s.get(current.id) as StoredEvent).state, 'delivering');
    assert.equal(s.markDelivered(current, ok(clock.t + 30_000)), true);
  });

  it('a failing event holds back only its own order key', () => {
    const s = store();
    const [a1, a2, a3] = [1, 2, 3].map((i) =>
      accepted(s, event({ orderKey: 'A', body: Buffer.from(`a${i}`) })),
    );
    const b1 = accepted(s, event({ orderKey: 'B' }));
    const free = accepted(s, event());
    // Another route's key A is a different key.
    const otherA = accepted(s, event({ route: 'other', orderKey: 'A' }));

    let claimed = s.claimDue(clock.t, 10);
    assert.deepEqual(
      claimed.map((e) => e.id),
      [a1, b1, free, otherA],
    );
    for (const e of claimed) if (e.id !== a1) s.markDelivered(e, ok(clock.t));
    for (let i = 0; i < 4; i++) {
      const a = claimed.find((e) => e.id === a1) as StoredEvent;
      assert.equal(s.markFailed(a, fail(clock.t), clock.t + 1000), true);
      assert.deepEqual(s.claimDue(clock.t + 999, 10), [], 'A2 and A3 wait while A1 is in backoff');
      clock.t += 1000;
      claimed = s.claimDue(clock.t, 10);
      assert.deepEqual(
        claimed.map((e) => e.id),
        [a1],
        'A1 leased: A2 still held',
      );
    }
    s.markDelivered(claimed[0] as StoredEvent, ok(clock.t));
    assert.deepEqual(
      s.claimDue(clock.t, 10).map((e) => e.id),
      [a2],
    );
    assert.equal((s.get(b1) as StoredEvent).state, 'delivered');
    assert.ok(a3, 'a3');
  });

  it('a dead event releases its key; replayed, it goes before the later events of its key again', () => {
    const s = store();
    const [a1, a2, a3] = [1, 2, 3].map(() => accepted(s, event({ orderKey: 'A' })));
    const [first] = s.claimDue(clock.t, 10);
    assert.equal(first?.id, a1);
    s.markFailed(first as StoredEvent, fail(clock.t), 'dead');
    const [second] = s.claimDue(clock.t, 10);
    assert.equal(second?.id, a2);
    assert.equal(s.replay(a1 as string), true);
    // a2 is in flight: neither a1 nor a3 may go until it ends.
    assert.deepEqual(s.claimDue(clock.t, 10), []);
    s.markDelivered(second as StoredEvent, ok(clock.t));
    assert.deepEqual(
      s.claimDue(clock.t, 10).map((e) => e.id),
      [a1],
    );
    assert.ok(a3, 'a3');
  });

  it('dead-letters after the attempts the caller allows, then replay resets the budget and keeps the log', () => {
    const s = store();
    const id = accepted(s, event());
    const attempts = 3;
    for (let i = 1; i <= attempts; i++) {
      const [e] = s.claimDue(clock.t, 1);
      assert.equal(e?.attempts, i - 1);
      s.markFailed(
        e as StoredEvent,
        { at: clock.t, error: 'timeout after 10000 ms', durationMs: 10_000 },
        i < attempts ? clock.t + 100 : 'dead',
      );
      clock.t += 100;
    }
    let got = s.get(id) as StoredEvent;
    assert.equal(got.state, 'dead');
    assert.equal(got.attempts, 3);
    assert.equal(got.lastError, 'timeout after 10000 ms');
    assert.equal(got.attemptLog.length, 3);
    assert.deepEqual(s.claimDue(clock.t + 10 * MIN, 10), []);
    assert.equal(s.list({ state: 'dead' }).events[0]?.id, id);

    clock.t += MIN;
    assert.equal(s.replay(id), true);
    assert.equal(s.replay(id), false, 'a pending event is not replayed');
    got = s.get(id) as StoredEvent;
    assert.equal(got.state, 'pending');
    assert.equal(got.attempts, 0);
    assert.equal(got.nextAttemptAt, clock.t);
    assert.equal(got.lastError, undefined);
    assert.equal(got.attemptLog.length, 3);
    const [e] = s.claimDue(clock.t, 1);
    assert.equal(e?.id, id);
  });

  it('markFailed without an error message records the status', () => {
    const s = store();
    const id = accepted(s, event());
    const [e] = s.claimDue(clock.t, 1);
    s.markFailed(e as StoredEvent, { at: clock.t, status: 429, durationMs: 3 }, clock.t + 1);
    assert.equal((s.get(id) as StoredEvent).lastError, 'upstream answered 429');
  });
});

describe('acceptMany', () => {
  it('stores a batch in one transaction, answers in order, and knows the duplicates within it', () => {
    const s = store();
    const before = accepted(s, event({ dedupeKey: 'old' }));
    const results = s.acceptMany([
      event({ dedupeKey: 'a', prefixLength: 4 }),
      event({ dedupeKey: 'old' }),
      event({ dedupeKey: 'a' }),
      event({ dedupeKey: 'a', route: 'other' }),
      event(),
    ]);
    const [a, old, again, other, plain] = results;
    assert.equal(a?.accepted, true);
    assert.deepEqual(old, { duplicate: true, id: before });
    assert.deepEqual(again, { duplicate: true, id: a?.id });
    assert.equal(other?.accepted, true);
    assert.equal(plain?.accepted, true);
    assert.deepEqual(
      s.list().events.map((e) => e.id),
      [before, a?.id, other?.id, plain?.id],
    );
    assert.equal(s.get(a?.id as string)?.prefixLength, 4);
    assert.deepEqual(s.acceptMany([]), []);
  });

  it('is all or nothing: one bad event stores none of the batch', () => {
    const s = store();
    assert.throws(
      () => s.acceptMany([event({ dedupeKey: 'x' }), event({ prefixLength: -1 })]),
      (err: unknown) => err instanceof RangeError && /prefixLength/.test(err.message),
    );
    assert.equal(s.list().events.length, 0);
    assert.equal(s.accept(event({ dedupeKey: 'x' })).accepted, true, 'the key was not kept either');
  });

  it('keeps the prefix length across reopen (0 when not given)', () => {
    const s = store();
    const withPrefix = accepted(s, event({ prefixLength: 12 }));
    const without = accepted(s, event());
    s.close();
    const r = store();
    assert.equal(r.get(withPrefix)?.prefixLength, 12);
    assert.equal(r.get(without)?.prefixLength, 0);
    assert.equal(r.list().events[0]?.prefixLength, 12);
  });
});

describe('caps of a route', () => {
  it('maxInFlight and the token bucket are shared by every instance on the file', () => {
    const a = store();
    const b = store();
    for (let i = 0; i < 10; i++) a.accept(event({ route: 'r' }));
    const t = clock.t;
    assert.equal(a.claimDue(t, 10, { route: 'r', maxInFlight: 3 }).length, 3);
    assert.equal(b.claimDue(t, 10, { route: 'r', maxInFlight: 3 }).length, 0, "b sees a's leases");
    assert.equal(b.claimDue(t, 10, { route: 'r', maxInFlight: 4 }).length, 1);
    assert.equal(a.claimDue(t + 1, 10, { route: 'r', ratePerS: 2 }).length, 2);
    assert.equal(b.claimDue(t + 1, 10, { route: 'r', ratePerS: 2 }).length, 0, "b sees a's bucket");
    assert.equal(b.claimDue(t + 501, 10, { route: 'r', ratePerS: 2 }).length, 1);
  });

  it('a caller clock behind the stored one adds no token, and bad caps are refused', () => {
    const s = store();
    for (let i = 0; i < 5; i++) s.accept(event({ route: 'r' }));
    const t = clock.t + 10_000;
    assert.equal(s.claimDue(t, 10, { route: 'r', ratePerS: 1 }).length, 1);
    assert.equal(s.claimDue(t - 5000, 10, { route: 'r', ratePerS: 1 }).length, 0);
    assert.equal(s.claimDue(t + 999, 10, { route: 'r', ratePerS: 1 }).length, 0);
    assert.equal(s.claimDue(t + 1000, 10, { route: 'r', ratePerS: 1 }).length, 1);
    assert.throws(() => s.claimDue(t, 1, { route: 'r', ratePerS: 0 }), RangeError);
    assert.throws(() => s.claimDue(t, 1, { route: 'r', maxInFlight: 1.5 }), RangeError);
    assert.throws(() => s.claimDue(t, 1, { maxInFlight: 1 }), TypeError);
  });
});

/** The synchronous store behind the asynchronous interface, to run the contract on it without a thread. */
function promised(s: SqliteEventStore): AsyncEventStore {
  return {
    accept: async (e) => s.accept(e),
    claimDue: async (now, limit, options) => s.claimDue(now, limit, options),
    markDelivered: async (ref, attempt) => s.markDelivered(ref, attempt),
    markFailed: async (ref, attempt, next) => s.markFailed(ref, attempt, next),
    list: async (query) => s.list(query),
    get: async (id) => s.get(id),
    replay: async (id) => s.replay(id),
    replayAll: async (options) => s.replayAll(options),
    delete: async (id) => s.delete(id),
    depth: async () => s.depth(),
    pause: async (route) => s.pause(route),
    resume: async (route) => s.resume(route),
    paused: async (route) => s.paused(route),
    pausedRoutes: async () => s.pausedRoutes(),
    prune: async (now, batchSize) => s.prune(now, batchSize),
    close: async () => s.close(),
  };
}

let conformanceFiles = 0;
eventStoreConformance('SqliteEventStore', async (options) => {
  const s = new SqliteEventStore({ file: join(fx.root, `contract-${++conformanceFiles}.db`), ...options });
  return { store: promised(s), close: async () => s.close() };
});

describe('retention of each event', () => {
  it("an event's own retentionMs decides when its key expires, for accept and for prune", () => {
    const s = store();
    const short = accepted(s, event({ dedupeKey: 'short', retentionMs: MIN }));
    const long = accepted(s, event({ dedupeKey: 'long', retentionMs: 120 * MIN }));
    accepted(s, event({ dedupeKey: 'default' }));
    clock.t += MIN - 1;
    assert.deepEqual(s.accept(event({ dedupeKey: 'short' })), { duplicate: true, id: short });
    clock.t += 1;
    assert.equal(s.accept(event({ dedupeKey: 'short', retentionMs: MIN })).accepted, true);
    clock.t += 60 * MIN;
    // The store's 60 minutes are over for 'default' only; the new 'short' is over too.
    assert.deepEqual(s.prune(clock.t), { dedupeKeys: 2, deliveredEvents: 0 });
    assert.deepEqual(s.accept(event({ dedupeKey: 'long' })), { duplicate: true, id: long });
    assert.equal(s.accept(event({ dedupeKey: 'default' })).accepted, true);
    assert.throws(() => s.accept(event({ retentionMs: -1 })), RangeError);
  });
});
