// The contract of AsyncEventStore as node:test cases, for every backend: a test file calls
// eventStoreConformance(name, open) at its top level. Each case opens a fresh, empty store and closes it
// after. Every time a case passes is explicit and after T0 (year 2096), so whatever clock the store stamps
// accepts, finishes and replays with (its own, before T0), every event is due at T0 and no case waits.
// Nothing here depends on the backend: dedupe keys are checked within their retention only (whether prune
// or an expiry forgets them is the backend's business), depth rows are compared sorted, and a field that
// is empty may be absent or undefined.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AsyncEventStore, AttemptRecord, NewEvent, StoredEvent } from './event-store.js';

/** The settings every case opens its store with. */
export interface ConformanceStoreOptions {
  readonly retentionMs: number;
  readonly deliveredRetentionMs: number;
  readonly leaseMs: number;
}

/** An opened store and how to close it and remove what it left (its file, its keys). */
export interface ConformanceStore {
  readonly store: AsyncEventStore;
  close(): Promise<void>;
}

/** Opens a new, empty store (a new file, a new key prefix…) with these settings. */
export type OpenConformanceStore = (options: ConformanceStoreOptions) => Promise<ConformanceStore>;

const T0 = 4_000_000_000_000;
const LEASE = 30_000;
const OPTIONS = { retentionMs: 3_600_000, deliveredRetentionMs: 86_400_000, leaseMs: LEASE };
const HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Type', 'application/json'],
  ['X-Dup', 'a'],
  ['x-dup', 'b'],
];

const event = (over: Partial<NewEvent> = {}): NewEvent => ({
  ...{ route: 'orders', method: 'POST', path: '/hooks/orders?x=1', headers: HEADERS },
  ...{ body: Buffer.from('{"n":1}'), ...over },
});
const ok = (at: number): AttemptRecord => ({ at, status: 200, durationMs: 7 });
const fail = (at: number, status = 500): AttemptRecord => ({
  at,
  status,
  error: `E${status}`,
  durationMs: 1,
});
const ids = (events: readonly { id: string }[]): string[] => events.map((e) => e.id);
const attempt = (a: AttemptRecord | undefined) => [a?.at, a?.status, a?.error, a?.durationMs];
/** The state, attempts, claim and last error of an event. */
const status = (e: StoredEvent | undefined) => [e?.state, e?.attempts, e?.claim, e?.lastError];

async function accepted(s: AsyncEventStore, e: NewEvent = event()): Promise<string> {
  const r = await s.accept(e);
  assert.equal(r.accepted, true, 'accepted');
  return r.id;
}

/** Accepts the events one after the other (so their order is the order of acceptance). */
async function acceptedInTurn(s: AsyncEventStore, events: readonly NewEvent[]): Promise<string[]> {
  const out: string[] = [];
  for (const e of events) out.push(await accepted(s, e));
  return out;
}

const acceptN = (s: AsyncEventStore, n: number, over: Partial<NewEvent> = {}): Promise<string[]> =>
  acceptedInTurn(
    s,
    Array.from({ length: n }, () => event(over)),
  );

async function one(s: AsyncEventStore, now: number): Promise<StoredEvent> {
  const [e] = await s.claimDue(now, 1);
  assert.ok(e, `an event is due at ${now}`);
  return e;
}

async function state(s: AsyncEventStore, id: string | undefined): Promise<StoredEvent> {
  const got = await s.get(id as string);
  assert.ok(got, `event ${id} exists`);
  return got;
}

const count = async (claimed: Promise<readonly StoredEvent[]>): Promise<number> => (await claimed).length;

/** Registers the cases (describe/it) of the contract for the store that `open` makes. */
export function eventStoreConformance(name: string, open: OpenConformanceStore): void {
  const test = (title: string, body: (s: AsyncEventStore) => Promise<void>): void => {
    it(title, async () => {
      const opened = await open(OPTIONS);
      try {
        await body(opened.store);
      } finally {
        await opened.close();
      }
    });
  };

  describe(`${name}: the event store contract`, () => {
    test('accept stores the event as sent, due now, and get returns it whole', async (s) => {
      const body = Buffer.from([0, 1, 2, 255, 254, 0]);
      const id = await accepted(s, event({ body, dedupeKey: 'd1', orderKey: 'k', prefixLength: 6 }));
      assert.match(id, /^[0-9a-f]{32}$/);
      const got = await state(s, id);
      const { route, method, path, prefixLength, dedupeKey, orderKey } = got;
      assert.deepEqual(
        [got.id, route, method, path, prefixLength, dedupeKey, orderKey],
        [id, 'orders', 'POST', '/hooks/orders?x=1', 6, 'd1', 'k'],
      );
      assert.deepEqual([...status(got), got.attemptLog], ['pending', 0, 0, undefined, []]);
      assert.deepEqual(got.headers, HEADERS);
      assert.ok(Buffer.isBuffer(got.body) && got.body.equals(body), 'body bytes kept');
      assert.ok(got.receivedAt < T0 && got.nextAttemptAt === got.receivedAt, 'due when received');
      const plain = await state(s, await accepted(s, event({ body: Buffer.alloc(0) })));
      assert.deepEqual([plain.prefixLength ?? 0, plain.body.length], [0, 0]);
      assert.equal(await s.get('0'.repeat(32)), undefined);
    });

    test('a repeated dedupe key of the route is a duplicate: nothing stored, the first id', async (s) => {
      const id = await accepted(s, event({ dedupeKey: 'evt_1' }));
      assert.deepEqual(await s.accept(event({ dedupeKey: 'evt_1' })), { duplicate: true, id });
      await acceptedInTurn(s, [event({ dedupeKey: 'evt_1', route: 'other' }), event(), event()]);
      assert.equal((await s.list()).events.length, 4);
    });

    test("an event's own retentionMs keeps its key past the store's retention (prune at T0)", async (s) => {
      const id = await accepted(s, event({ dedupeKey: 'long', retentionMs: 200 * 365 * 86_400_000 }));
      await s.prune(T0);
      assert.deepEqual(await s.accept(event({ dedupeKey: 'long' })), { duplicate: true, id });
    });

    test('concurrent accepts: one of a key is stored, every other is its duplicate', async (s) => {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => s.accept(event(i % 2 ? { dedupeKey: 'same' } : {}))),
      );
      const stored = results.filter((r, i) => i % 2 === 1 && r.accepted);
      assert.equal(stored.length, 1);
      for (const [i, r] of results.entries()) {
        if (i % 2 === 0) assert.equal(r.accepted, true);
        else if (!r.accepted) assert.deepEqual(r, { duplicate: true, id: stored[0]?.id });
      }
      assert.equal(new Set(ids(results)).size, 4);
      assert.equal((await s.list()).events.length, 4);
    });

    test('claims due events oldest first, leased until now + leaseMs, whole', async (s) => {
      const all = await acceptedInTurn(
        s,
        [1, 2, 3, 4].map((i) => event({ body: Buffer.from(`b${i}`), prefixLength: i })),
      );
      const first = await s.claimDue(T0, 2);
      assert.deepEqual(ids(first), all.slice(0, 2));
      for (const [i, e] of first.entries()) {
        assert.deepEqual(
          [...status(e), e.leaseUntil, e.prefixLength],
          ['delivering', 0, 1, undefined, T0 + LEASE, i + 1],
        );
        assert.deepEqual(e.headers, HEADERS);
        assert.ok(Buffer.isBuffer(e.body) && e.body.equals(Buffer.from(`b${i + 1}`)), 'body');
      }
      const [third] = await s.claimDue(T0, 1, { leaseMs: 5000 });
      assert.deepEqual([third?.id, third?.leaseUntil], [all[2], T0 + 5000]);
      assert.deepEqual(ids(await s.claimDue(T0, 10)), all.slice(3));
      assert.deepEqual(await s.claimDue(T0, 10), []);
      assert.equal((await state(s, all[0])).state, 'delivering');
    });

    test('an expired lease makes the event due again, the lost attempt counted', async (s) => {
      const id = await accepted(s);
      await one(s, T0);
      assert.deepEqual(await s.claimDue(T0 + LEASE - 1, 10), []);
      const again = await one(s, T0 + LEASE);
      assert.deepEqual([again.id, again.claim, again.attempts, again.leaseUntil], [id, 2, 1, T0 + 2 * LEASE]);
      assert.equal(again.attemptLog.length, 1);
      assert.equal(typeof again.attemptLog[0]?.error, 'string', 'the lost attempt logged with a reason');
    });

    test('a report quoting a lost claim is refused and changes nothing', async (s) => {
      const id = await accepted(s);
      const old = await one(s, T0);
      const current = await one(s, T0 + LEASE);
      assert.equal(await s.markDelivered(old, ok(T0)), false);
      assert.equal(await s.markFailed(old, fail(T0), 'dead'), false);
      assert.equal(await s.markFailed(old, fail(T0), T0 + 1), false);
      assert.equal((await state(s, id)).state, 'delivering');
      assert.equal(await s.markDelivered(current, ok(T0 + LEASE)), true);
      assert.equal(await s.markDelivered(current, ok(T0 + LEASE)), false, 'reported once');
      const got = await state(s, id);
      assert.deepEqual([got.state, got.attempts], ['delivered', 2]);
      assert.deepEqual(attempt(got.attemptLog[1]), attempt(ok(T0 + LEASE)));
      assert.deepEqual(await s.claimDue(T0 + 10 * LEASE, 10), []);
    });

    test('markFailed: due again at nextAttemptAt, or dead and never claimed', async (s) => {
      const id = await accepted(s);
      assert.equal(await s.markFailed(await one(s, T0), fail(T0, 502), T0 + 5000), true);
      let got = await state(s, id);
      assert.deepEqual([...status(got), got.nextAttemptAt], ['pending', 1, 1, 'E502', T0 + 5000]);
      assert.deepEqual(got.attemptLog.map(attempt), [attempt(fail(T0, 502))]);
      assert.deepEqual(await s.claimDue(T0 + 4999, 10), []);
      const retry = await one(s, T0 + 5000);
      assert.equal(retry.claim, 2);
      assert.equal(await s.markFailed(retry, { at: T0 + 5000, status: 429, durationMs: 3 }, 'dead'), true);
      got = await state(s, id);
      assert.deepEqual([got.state, got.attempts], ['dead', 2]);
      assert.match(got.lastError ?? '', /429/, 'without an error message, the status');
      assert.deepEqual(await s.claimDue(T0 + 100 * LEASE, 10), []);
    });

    test('replay makes a dead or delivered event due again, budget reset, log kept', async (s) => {
      const [dead, done, waiting] = (await acceptN(s, 3)) as [string, string, string];
      await s.markFailed(await one(s, T0), fail(T0), 'dead');
      await s.markDelivered(await one(s, T0), ok(T0));
      assert.equal(await s.replay(waiting), false, 'a pending event is not replayed');
      assert.equal(await s.replay('0'.repeat(32)), false);
      assert.deepEqual(
        [await s.replay(dead), await s.replay(dead), await s.replay(done)],
        [true, false, true],
      );
      const got = await state(s, dead);
      assert.deepEqual(
        [got.state, got.attempts, got.lastError, got.attemptLog.length],
        ['pending', 0, undefined, 1],
      );
      assert.ok(got.nextAttemptAt <= T0, 'due now');
      assert.deepEqual(ids(await s.claimDue(T0, 10)).sort(), [dead, done, waiting].sort());
    });

    test('order keys: a failing event holds back only its own key (of its route)', async (s) => {
      const [a1, a2, b1, free, otherA] = await acceptedInTurn(s, [
        ...[1, 2].map(() => event({ orderKey: 'A' })),
        ...[event({ orderKey: 'B' }), event(), event({ route: 'other', orderKey: 'A' })],
        event({ orderKey: 'A' }),
      ]);
      let claimed = await s.claimDue(T0, 10);
      assert.deepEqual(ids(claimed), [a1, b1, free, otherA]);
      for (const e of claimed) if (e.id !== a1) await s.markDelivered(e, ok(T0));
      let t = T0;
      for (let i = 0; i < 3; i++) {
        assert.equal(await s.markFailed(claimed[0] as StoredEvent, fail(t), t + 1000), true);
        assert.deepEqual(await s.claimDue(t + 999, 10), [], 'the rest of A waits while A1 backs off');
        t += 1000;
        claimed = await s.claimDue(t, 10);
        assert.deepEqual(ids(claimed), [a1], 'A1 again, A2 still held');
      }
      await s.markDelivered(claimed[0] as StoredEvent, ok(t));
      assert.deepEqual(ids(await s.claimDue(t, 10)), [a2]);
    });

    test('order keys: a dead head releases its key; replayed, it waits for the one in flight', async (s) => {
      const [a1, a2] = await acceptN(s, 3, { orderKey: 'A' });
      const first = await one(s, T0);
      assert.equal(first.id, a1);
      await s.markFailed(first, fail(T0), 'dead');
      const second = await one(s, T0);
      assert.equal(second.id, a2);
      assert.equal(await s.replay(a1 as string), true);
      assert.deepEqual(await s.claimDue(T0, 10), [], 'nothing of A beside the one in flight');
      await s.markDelivered(second, ok(T0));
      assert.deepEqual(ids(await s.claimDue(T0, 10)), [a1], 'then the replayed head first');
    });

    test('maxInFlight counts the unexpired leases of the route', async (s) => {
      const r = await acceptN(s, 5, { route: 'r' });
      await acceptN(s, 2, { route: 'other' });
      const cap = (now: number, maxInFlight: number, route = 'r') =>
        s.claimDue(now, 10, { route, maxInFlight });
      const firstTwo = await cap(T0, 2);
      assert.deepEqual(ids(firstTwo), r.slice(0, 2));
      assert.deepEqual(await cap(T0, 2), []);
      assert.equal(await count(cap(T0, 2, 'other')), 2, 'another route has its own count');
      assert.deepEqual(await cap(T0, 0), []);
      await s.markDelivered(firstTwo[0] as StoredEvent, ok(T0));
      assert.deepEqual(ids(await cap(T0, 2)), [r[2]]);
      // At T0 + LEASE the two leases in flight expire: released, they count no more.
      assert.deepEqual(ids(await cap(T0 + LEASE, 3)), [r[1], r[2], r[3]]);
    });

    test('ratePerS is a token bucket of capacity max(1, rate) refilled by the caller clock', async (s) => {
      await acceptN(s, 12, { route: 'r' });
      await acceptN(s, 3, { route: 'slow' });
      const rate = (now: number, ratePerS: number, route = 'r', limit = 10) =>
        count(s.claimDue(now, limit, { route, ratePerS }));
      assert.equal(await rate(T0, 2), 2, 'a new bucket is full');
      assert.deepEqual([await rate(T0, 2), await rate(T0 + 499, 2)], [0, 0]);
      assert.deepEqual([await rate(T0 + 500, 2), await rate(T0 + 500, 2)], [1, 0]);
      assert.equal(await rate(T0 + 60_000, 2), 2, 'refilled up to the capacity only');
      assert.equal(await rate(T0 + 62_000, 2, 'r', 1), 1, 'one token per event claimed');
      assert.equal(await rate(T0 + 62_000, 2), 1);
      assert.equal(await rate(T0, 0.5, 'slow'), 1, 'capacity 1 below one per second');
      assert.deepEqual([await rate(T0 + 1999, 0.5, 'slow'), await rate(T0 + 2000, 0.5, 'slow')], [0, 1]);
    });

    test('a claim finding nothing spends no token; both caps apply together, with a route', async (s) => {
      const r = { route: 'r', ratePerS: 1 };
      assert.deepEqual(await s.claimDue(T0, 10, r), []);
      await s.pause('r');
      await accepted(s, event({ route: 'r' }));
      assert.deepEqual(await s.claimDue(T0, 10, r), [], 'paused');
      await s.resume('r');
      await acceptN(s, 2, { route: 'r' });
      assert.equal(await count(s.claimDue(T0, 10, r)), 1, 'the token was kept');
      const both = { route: 'r', ratePerS: 5, maxInFlight: 2 };
      assert.equal(await count(s.claimDue(T0 + 10_000, 10, both)), 1, 'one in flight already');
      assert.equal(await count(s.claimDue(T0 + 10_000, 10, { route: 'r', ratePerS: 5 })), 1);
      await assert.rejects(s.claimDue(T0, 1, { maxInFlight: 1 }), TypeError, 'the caps need a route');
      await assert.rejects(s.claimDue(T0, 1, { ratePerS: 1 }), TypeError);
    });

    test('a paused route is not claimed, still accepts, and resumes', async (s) => {
      for (const route of ['orders', 'orders', 'audit']) await s.pause(route);
      assert.deepEqual([await s.paused('orders'), await s.paused('billing')], [true, false]);
      assert.deepEqual(await s.pausedRoutes(), ['audit', 'orders']);
      const o = await accepted(s);
      const b = await accepted(s, event({ route: 'billing' }));
      assert.deepEqual(ids(await s.claimDue(T0, 10)), [b]);
      assert.deepEqual(await s.claimDue(T0, 10, { route: 'orders' }), []);
      await s.resume('orders');
      await s.resume('never-paused');
      assert.equal(await s.paused('orders'), false);
      assert.deepEqual(await s.pausedRoutes(), ['audit']);
      assert.deepEqual(ids(await s.claimDue(T0, 10, { route: 'orders' })), [o]);
    });

    test('list: oldest first, by state and route, paged by cursor, without bodies', async (s) => {
      const all = await acceptN(s, 5, { prefixLength: 3 });
      await accepted(s, event({ route: 'billing' }));
      const p1 = await s.list({ route: 'orders', limit: 2 });
      assert.deepEqual(ids(p1.events), all.slice(0, 2));
      const summary = p1.events[0] as NonNullable<(typeof p1.events)[0]>;
      assert.deepEqual([summary.bodyBytes, summary.prefixLength], [7, 3]);
      for (const key of ['body', 'headers', 'attemptLog']) assert.equal(key in summary, false, key);
      assert.ok(p1.next !== undefined, 'a next cursor');
      const p2 = await s.list({ route: 'orders', limit: 2, after: p1.next });
      const p3 = await s.list({ route: 'orders', limit: 2, after: p2.next });
      assert.deepEqual(ids([...p2.events, ...p3.events]), all.slice(2));
      assert.equal(p3.next, undefined);
      await s.markFailed(await one(s, T0), fail(T0), 'dead');
      assert.deepEqual(ids((await s.list({ state: 'dead' })).events), [all[0]]);
      assert.equal((await s.list({ state: 'pending' })).events.length, 5);
      assert.equal((await s.list()).events.length, 6);
    });

    test('replayAll replays the dead (or delivered) events of one route or all', async (s) => {
      await acceptN(s, 3);
      await acceptN(s, 2, { route: 'billing' });
      for (const e of await s.claimDue(T0, 100)) await s.markFailed(e, fail(T0), 'dead');
      assert.equal(await s.replayAll({ route: 'billing' }), 2);
      assert.equal((await s.list({ state: 'dead' })).events.length, 3);
      assert.deepEqual([await s.replayAll(), await s.replayAll()], [3, 0]);
      for (const e of await s.claimDue(T0, 100)) await s.markDelivered(e, ok(T0));
      assert.equal(await s.replayAll({ state: 'delivered', route: 'orders' }), 3);
      assert.equal(await s.replayAll({ state: 'delivered' }), 2);
      assert.equal((await s.list({ state: 'pending' })).events.length, 5);
    });

    test('delete removes an event in any state, and its dedupe key stays', async (s) => {
      const id = await accepted(s, event({ dedupeKey: 'k' }));
      const inFlight = await accepted(s);
      await s.markFailed(await one(s, T0), fail(T0), 'dead');
      await one(s, T0);
      assert.deepEqual([await s.delete(id), await s.delete(id), await s.get(id)], [true, false, undefined]);
      assert.equal(await s.delete(inFlight), true);
      assert.deepEqual((await s.list()).events, []);
      assert.deepEqual(await s.accept(event({ dedupeKey: 'k' })), { duplicate: true, id });
    });

    test('depth counts the events by route and state, non-zero only', async (s) => {
      await acceptN(s, 3);
      await accepted(s, event({ route: 'billing' }));
      await s.markFailed(await one(s, T0), fail(T0), 'dead');
      await one(s, T0);
      const rows = (await s.depth()).map((d) => `${d.route} ${d.state} ${d.count}`).sort();
      assert.equal(
        rows.join(', '),
        'billing pending 1, orders dead 1, orders delivering 1, orders pending 1',
      );
    });

    test('prune removes the delivered events past their retention, nothing else', async (s) => {
      const keyed = (i: number) => event({ dedupeKey: `k${i}` });
      const done = await acceptedInTurn(s, [0, 1, 2].map(keyed));
      for (const e of await s.claimDue(T0, 3)) await s.markDelivered(e, ok(T0));
      const [dead, inFlight, waiting] = await acceptedInTurn(s, [3, 4, 5].map(keyed));
      await s.markFailed(await one(s, T0), fail(T0), 'dead');
      await one(s, T0);
      assert.deepEqual(await s.prune(0), { dedupeKeys: 0, deliveredEvents: 0 }, 'nothing is old at 0');
      assert.deepEqual(await s.accept(keyed(0)), { duplicate: true, id: done[0] });
      const pruned = await s.prune(T0, 2);
      assert.equal(pruned.deliveredEvents, 3);
      assert.ok(Number.isInteger(pruned.dedupeKeys) && pruned.dedupeKeys >= 0, 'dedupeKeys counted');
      for (const id of done) assert.equal(await s.get(id), undefined);
      const states = [dead, inFlight, waiting].map(async (id) => (await state(s, id)).state);
      assert.deepEqual(await Promise.all(states), ['dead', 'delivering', 'pending']);
      assert.deepEqual(await s.prune(T0), { dedupeKeys: 0, deliveredEvents: 0 });
    });
  });
}
