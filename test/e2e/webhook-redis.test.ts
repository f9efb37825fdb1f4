// Webhooks on the Redis store, shared by two `portico serve` children (a private redis-server, no
// persistence): a gateway killed with SIGKILL mid-delivery leaves its event leased, and another instance
// takes it over once the lease (2 × delivery.timeout_ms + 10 s) has run out — attempt 2, same event id;
// with both instances running, events accepted by either are delivered exactly once in total and the route's
// `delivery.concurrency` holds across them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { redisServerSkip, startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../fixtures/ops-child.js';
import type { ServeChild } from '../fixtures/ops-child.js';
import {
  adminGet,
  adminPost,
  duplicates,
  GatewayChildren,
  inParallel,
  pollAdmin,
  postEvent,
  SECRET,
  sleep,
  startRecordingHandler,
  waitUntil,
  type AdminEvent,
  type AdminList,
  type RecordingHandler,
} from '../fixtures/webhook-harness.js';

const TIMEOUT_MS = 2000;
const LEASE_MS = 2 * TIMEOUT_MS + 10_000;
const CONCURRENCY = 4;

function config(redisUrl: string, handlerUrl: string): string {
  return `gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  shutdown_timeout_ms: 5000
webhooks:
  store: { type: redis, url: "${redisUrl}", prefix: "t:" }
routes:
  - name: gh
    match: { path: /hooks/gh, methods: [POST] }
    upstream: ${handlerUrl}
    webhook:
      scheme: github
      secrets: ["${SECRET}"]
      delivery: { attempts: 10, backoff_ms: 50, max_backoff_ms: 500, timeout_ms: ${TIMEOUT_MS}, concurrency: ${CONCURRENCY} }
`;
}

/** `portico_webhook_deliveries_total{route="gh",result="delivered"}` of one gateway (0 when absent). */
async function deliveredMetric(gw: ServeChild): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const m = /^portico_webhook_deliveries_total\{route="gh",result="delivered"\} (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe(
  'webhook: the Redis store shared by two gateways',
  { skip: redisServerSkip(), timeout: 170_000 },
  () => {
    const gateways = new GatewayChildren();
    const dir = tempDir();
    let redis: TestRedisServer | undefined;
    let handler: RecordingHandler | undefined;
    let file = '';
    /** The second instance, started by the first test and used by the second. */
    let b: ServeChild | undefined;

    before(async () => {
      redis = await startRedisServer();
      // Era 0 (the first gateway's connections): held, never answered. Later eras: 200 after 20 ms, so that
      // deliveries overlap and the cap on them has something to hold back.
      handler = await startRecordingHandler(async (r) => {
        if (r.era === 0) return 'hold';
        await sleep(20);
        return 200;
      });
      file = dir.path('gateway.yaml');
      writeFileSync(file, config(redis.url, handler.url));
    });
    after(async () => {
      await gateways.stopAll();
      await handler?.close();
      await redis?.stop();
      dir.remove();
    });

    it('another instance takes over the lease of a gateway killed mid-delivery', async (t) => {
      const h = handler!;
      const a = await gateways.start(file);
      const body = JSON.stringify({ taken: 'over' });
      const posted = await postEvent(a.port, '/hooks/gh', body, { 'x-github-delivery': 'takeover-1' });
      assert.equal(posted.status, 202, posted.text);
      const id = posted.id!;
      await waitUntil('the first attempt at the handler', () => h.seen.some((s) => s.eventId === id), 30_000);
      // Mid-delivery: the handler holds the request, and the delivery's timeout is TIMEOUT_MS away.
      await gateways.kill(a);
      h.era = 1;

      b = await gateways.start(file);
      const started = Date.now();
      await waitUntil(
        'the second instance to deliver the event',
        () => h.deliveredCount(id) >= 1,
        LEASE_MS + 45_000,
        () => `seen: ${JSON.stringify(h.seen.map(({ body: _b, ...s }) => s))}`,
      );
      t.diagnostic(`delivered by the second instance ${Date.now() - started} ms after it started`);
      const delivery = h.answered.find((x) => x.eventId === id && x.status === 200)!;
      assert.equal(delivery.attempt, 2, 'X-Portico-Attempt: the lost lease counted as attempt 1');
      assert.equal(delivery.era, 1, 'sent by the second instance');
      assert.equal(delivery.body, body);

      const shown = await pollAdmin<AdminEvent>(
        b.adminUrl,
        `/webhooks/event?id=${id}`,
        (e) => e.state === 'delivered',
        15_000,
      );
      assert.equal(shown.attempts, 2);
      assert.equal(shown.attemptLog?.length, 2, JSON.stringify(shown.attemptLog));
      assert.match(shown.attemptLog?.[0]?.error ?? '', /lease expired/, JSON.stringify(shown.attemptLog));
      assert.equal(shown.attemptLog?.[1]?.status, 200);

      await sleep(2000);
      assert.equal(h.deliveredCount(id), 1, 'delivered once');
      assert.equal(
        h.seen.filter((s) => s.eventId === id && s.era === 1).length,
        1,
        'the second instance sent it once',
      );
    });

    it('delivers 100 events accepted by either of two running instances exactly once in total', async (t) => {
      const h = handler!;
      h.era = 2; // every connection from now on is answered
      // The second instance of the previous test goes on; started here when this test runs alone.
      const second = b !== undefined && !b.hasExited ? b : await gateways.start(file);
      const a = await gateways.start(file);
      const before = h.answered.length;
      const metricsBefore = (await deliveredMetric(a)) + (await deliveredMetric(second));
      const deliveredBefore = await adminGet<AdminList>(
        a.adminUrl,
        '/webhooks/events?state=delivered&route=gh&limit=1000',
      );

      // Paused while the events come in; on resume both instances' loops find them all due and compete.
      assert.equal((await adminPost(a.adminUrl, '/webhooks/pause', { route: 'gh' })).status, 200);
      const gws = [a, second];
      const posted = await inParallel(
        Array.from({ length: 100 }, (_, i) => i),
        10,
        (i) =>
          postEvent(gws[i % 2]!.port, '/hooks/gh', JSON.stringify({ n: i }), {
            'x-github-delivery': `both-${i}`,
          }),
      );
      assert.deepEqual(
        posted.filter((p) => p.status !== 202),
        [],
        'every event is accepted',
      );
      const ids = posted.map((p) => p.id!);
      assert.equal(new Set(ids).size, 100);
      assert.equal(h.answered.length, before, 'nothing is delivered while the route is paused');
      assert.equal((await adminPost(second.adminUrl, '/webhooks/resume', { route: 'gh' })).status, 200);

      const pending = (): string[] => ids.filter((id) => h.deliveredCount(id) === 0);
      await waitUntil(
        'every event delivered',
        () => pending().length === 0,
        60_000,
        () => `${pending().length} not delivered yet`,
      );
      await sleep(2000);
      assert.deepEqual(duplicates(h), [], 'no event was delivered twice');
      const now = h.answered.slice(before);
      assert.equal(now.length, 100, 'one request per event, nothing else');
      assert.deepEqual(now.map((x) => x.eventId).sort(), [...ids].sort());
      assert.ok(
        h.maxInFlight <= CONCURRENCY,
        `at most ${CONCURRENCY} deliveries in flight across both instances, saw ${h.maxInFlight}`,
      );

      const [byA, byB] = [await deliveredMetric(a), await deliveredMetric(second)];
      t.diagnostic(
        `delivered by the restarted first instance: ${byA}, by the second: ${byB}; max in flight ${h.maxInFlight}`,
      );
      assert.equal(byA + byB - metricsBefore, 100, 'the instances recorded 100 deliveries between them');
      const delivered = await adminGet<AdminList>(
        a.adminUrl,
        '/webhooks/events?state=delivered&route=gh&limit=1000',
      );
      assert.equal(
        delivered.json.events?.length,
        (deliveredBefore.json.events?.length ?? 0) + 100,
        'these 100 besides those delivered before',
      );
      for (const state of ['pending', 'delivering', 'dead']) {
        const left = await adminGet<AdminList>(a.adminUrl, `/webhooks/events?state=${state}&route=gh`);
        assert.deepEqual(left.json.events, [], `no event left ${state}`);
      }
    });
  },
);
