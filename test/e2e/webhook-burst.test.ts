// A burst of 1,000 signed webhook events from 50 concurrent senders into one route with
// `delivery: { concurrency: 5, order_key: "${header.X-Key}" }` and 20 keys: the handler never has more than
// 5 deliveries in flight, nor two of one key, every event is delivered exactly once, each key's events reach
// the handler in the order the store accepted them, and a key whose first event fails three times holds back
// only itself — the other keys keep flowing meanwhile, and its own events follow in order once it succeeds.
// The keys come in runs of 10 consecutive events, so that events of one key are due side by side and only
// the order key keeps them apart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import {
  adminGet,
  duplicates,
  inParallel,
  postEvent,
  SECRET,
  sleep,
  startRecordingHandler,
  waitUntil,
  type AdminList,
  type RecordingHandler,
  type Seen,
} from '../fixtures/webhook-harness.js';

const EVENTS = 1000;
const SENDERS = 50;
const CONCURRENCY = 5;
const BAD = 'k-bad';
/** 20 keys, in runs of RUN consecutive events: the very first event is k-bad's first. */
const KEYS = [BAD, ...Array.from({ length: 19 }, (_, i) => `k-${i}`)];
const RUN = 10;
const keyOf = (i: number): string => KEYS[Math.floor(i / RUN) % KEYS.length]!;
/** Failing answers k-bad's first event gets before it is delivered. */
const BAD_FAILURES = 3;
/** Other keys' deliveries that must reach the handler while a failing k-bad attempt is held. */
const OTHERS_PER_FAILURE = 3;

describe(
  'webhook: a burst with per-key order and a cap on deliveries in flight',
  { timeout: 120_000 },
  () => {
    let gw: TestGateway | undefined;
    let handler: RecordingHandler | undefined;
    let badAnswered = 0;
    /** Deliveries in flight at the handler per key, and the most ever seen for one key. */
    const inFlightByKey = new Map<string, number>();
    let maxInFlightOfKey = 0;

    before(async () => {
      const answer = async (r: Seen): Promise<number> => {
        // 1 to 5 ms: deliveries overlap and end in no fixed order.
        await sleep(1 + Math.floor(Math.random() * 5));
        if (r.key !== BAD || badAnswered >= BAD_FAILURES) return 200;
        badAnswered++;
        // Each failing k-bad attempt is answered once other keys' deliveries have got through beside it (a
        // condition, not a delay): a route that stalled behind the failing key never meets it, and the test
        // fails below after the 10 s this waits at most.
        const others = (): number => handler!.seen.filter((s) => s.n > r.n && s.key !== BAD).length;
        const deadline = Date.now() + 10_000;
        while (others() < OTHERS_PER_FAILURE && Date.now() < deadline) await sleep(5);
        return 500;
      };
      handler = await startRecordingHandler(async (r: Seen) => {
        const n = (inFlightByKey.get(r.key) ?? 0) + 1;
        inFlightByKey.set(r.key, n);
        maxInFlightOfKey = Math.max(maxInFlightOfKey, n);
        try {
          return await answer(r);
        } finally {
          // The answer is written right after this returns, before any other request is handled.
          inFlightByKey.set(r.key, (inFlightByKey.get(r.key) ?? 1) - 1);
        }
      });
      gw = await startTestGateway(`
webhooks:
  store: { path: ./data/hooks.db }
routes:
  - name: burst
    match: { path: /hooks/burst, methods: [POST] }
    upstream: ${handler.url}
    webhook:
      scheme: github
      secrets: ["${SECRET}"]
      delivery:
        attempts: 10
        backoff_ms: 20
        max_backoff_ms: 100
        timeout_ms: 15000
        concurrency: ${CONCURRENCY}
        order_key: "\${header.X-Key}"
`);
    });
    after(async () => {
      await gw?.stop();
      await handler?.close();
    });

    it('delivers 1,000 events once each, in order per key, at most 5 at a time; a failing key holds back only itself', async (t) => {
      const h = handler!;
      const g = gw!;
      const t0 = Date.now();
      // A logical clock over the senders: an event whose 202 came before another was sent was accepted first.
      let clock = 0;
      const sentAt = new Array<number>(EVENTS);
      const ackedAt = new Array<number>(EVENTS);
      const posted = await inParallel(
        Array.from({ length: EVENTS }, (_, i) => i),
        SENDERS,
        async (i) => {
          sentAt[i] = clock++;
          const p = await postEvent(g.port, '/hooks/burst', JSON.stringify({ n: i }), {
            'x-github-delivery': `burst-${i}`,
            'x-key': keyOf(i),
          });
          ackedAt[i] = clock++;
          return p;
        },
      );
      assert.deepEqual(
        posted.filter((p) => p.status !== 202),
        [],
        'every event is accepted',
      );
      const ids = posted.map((p) => p.id!);
      assert.equal(new Set(ids).size, EVENTS, 'each event has its own id');
      const indexOf = new Map(ids.map((id, i) => [id, i]));

      const sentIn = Date.now() - t0;
      const deliveredBySendEnd = h.answered.length;
      const pending = (): string[] => ids.filter((id) => h.deliveredCount(id) === 0);
      await waitUntil(
        'every event delivered',
        () => pending().length === 0,
        90_000,
        () => `${pending().length} not delivered yet`,
      );
      t.diagnostic(
        `sent in ${sentIn} ms (${deliveredBySendEnd} delivered by then), all delivered after ${Date.now() - t0} ms`,
      );
      await sleep(2000);

      // Exactly once, and nothing but the three failures besides.
      assert.deepEqual(duplicates(h), [], 'no event was delivered twice');
      assert.equal(h.answered.filter((a) => a.status === 200).length, EVENTS);
      assert.equal(h.seen.length, EVENTS + BAD_FAILURES, 'one request per event, plus the three failures');
      assert.ok(h.maxInFlight <= CONCURRENCY, `at most ${CONCURRENCY} in flight, saw ${h.maxInFlight}`);
      assert.equal(maxInFlightOfKey, 1, 'never two deliveries of one key at once');

      // The order the store accepted the events in (oldest first), and each event's order key.
      const accepted: Array<{ id: string; orderKey?: string; state: string }> = [];
      for (let after = ''; ;) {
        const page = await adminGet<AdminList>(
          g.adminUrl!,
          `/webhooks/events?route=burst&limit=1000${after === '' ? '' : `&after=${after}`}`,
        );
        assert.equal(page.status, 200);
        accepted.push(...(page.json.events ?? []));
        if (page.json.next === undefined) break;
        after = page.json.next;
      }
      assert.equal(accepted.length, EVENTS);
      for (const e of accepted) {
        const i = indexOf.get(e.id);
        assert.ok(i !== undefined, `an event nobody sent: ${e.id}`);
        assert.equal(e.orderKey, keyOf(i), 'the order key read from X-Key');
        assert.equal(e.state, 'delivered');
      }

      for (const key of KEYS) {
        const acceptOrder = accepted.filter((e) => e.orderKey === key).map((e) => e.id);
        assert.equal(acceptOrder.length, EVENTS / KEYS.length);
        // The store's order agrees with what the senders know: an event acknowledged before another of its
        // key was sent comes first.
        for (let x = 0; x < acceptOrder.length; x++)
          for (let y = x + 1; y < acceptOrder.length; y++) {
            const [ix, iy] = [indexOf.get(acceptOrder[x]!)!, indexOf.get(acceptOrder[y]!)!];
            assert.ok(
              !(ackedAt[iy]! < sentAt[ix]!),
              `${key}: event ${iy} was acknowledged before event ${ix} was sent, yet listed after it`,
            );
          }
        const deliveredOrder = h.answered
          .filter((a) => a.key === key && a.status === 200)
          .map((a) => a.eventId);
        assert.deepEqual(deliveredOrder, acceptOrder, `${key}: delivered in the order accepted`);
        // Every request of the key, failures included, came in that order: nothing overtook a failing event.
        const requests = h.seen.filter((s) => s.key === key).map((s) => s.eventId);
        const expected =
          key === BAD ? [...Array<string>(BAD_FAILURES).fill(acceptOrder[0]!), ...acceptOrder] : acceptOrder;
        assert.deepEqual(requests, expected, `${key}: no event of the key reached the handler out of turn`);
      }

      // k-bad's first event: attempts 1-3 failed, attempt 4 delivered.
      const bad = h.seen.filter((s) => s.key === BAD);
      assert.deepEqual(
        bad.slice(0, BAD_FAILURES + 1).map((s) => s.attempt),
        [1, 2, 3, 4],
        'X-Portico-Attempt of k-bad first event',
      );
      const badFirst = h.answered.filter((a) => a.key === BAD).slice(0, BAD_FAILURES + 1);
      assert.deepEqual(
        badFirst.map((a) => a.status),
        [500, 500, 500, 200],
      );
      // While it was failing — from its first attempt's arrival to its delivery — other keys were delivered.
      const [from, to] = [bad[0]!.n, bad[BAD_FAILURES]!.n];
      const meanwhile = h.seen.filter((s) => s.n > from && s.n < to && s.key !== BAD);
      assert.ok(
        meanwhile.length >= BAD_FAILURES * OTHERS_PER_FAILURE,
        `other keys kept flowing while ${BAD} failed: ${meanwhile.length} deliveries`,
      );
      // Informative only (the backoff has full jitter): other keys' requests between each pair of k-bad
      // attempts, i.e. while an attempt was held and then while the event waited out its backoff.
      const gaps = [0, 1, 2].map(
        (k) => h.seen.filter((s) => s.key !== BAD && s.n > bad[k]!.n && s.n < bad[k + 1]!.n).length,
      );
      t.diagnostic(`other-key deliveries between k-bad's attempts 1-2, 2-3, 3-4: ${gaps.join(', ')}`);
    });
  },
);
