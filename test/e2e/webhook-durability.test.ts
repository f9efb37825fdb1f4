// Webhook durability with the SQLite store, against real `portico serve` children: an event answered 202 is
// delivered after the gateway is killed with SIGKILL and started again on the same store file — exactly
// once, whether the kill caught it pending, failed or mid-delivery (its lease runs out first); and with
// `gateway.workers: 2` sharing one file, every event is delivered exactly once and the route's
// `delivery.concurrency` caps the deliveries in flight across both workers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tempDir } from '../fixtures/ops-child.js';
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

const gateways = new GatewayChildren();

/** A gateway with one GitHub webhook route `gh` delivering to `handlerUrl`, its store in ./data/hooks.db. */
function config(handlerUrl: string, delivery: string, gateway = ''): string {
  return `gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  shutdown_timeout_ms: 5000
${gateway}webhooks:
  store: { type: sqlite, path: ./data/hooks.db }
routes:
  - name: gh
    match: { path: /hooks/gh, methods: [POST] }
    upstream: ${handlerUrl}
    webhook:
      scheme: github
      secrets: ["${SECRET}"]
      delivery: ${delivery}
`;
}

/** How long a delivery may take in the kill test: the lease of a claim is 2 × this + 10 s (16 s). */
const TIMEOUT_MS = 3000;
const LEASE_MS = 2 * TIMEOUT_MS + 10_000;

describe('webhook: an accepted event survives kill -9 (SQLite)', { timeout: 150_000 }, () => {
  let handler: RecordingHandler | undefined;
  const dir = tempDir();
  after(async () => {
    await gateways.stopAll();
    await handler?.close();
    dir.remove();
  });

  it('is delivered exactly once after a restart on the same store, pending, failed or mid-delivery', async (t) => {
    // Era 0 (the first gateway's connections): the handler is "down" — it never answers the event marked
    // "hold" (so the kill catches that one mid-delivery, leased) and answers 503 to anything else. Era 1
    // (connections of the restarted gateway): 200. Eras go by connection, so a request the killed gateway
    // wrote just before it died, read by the handler later, is never counted as a delivery.
    handler = await startRecordingHandler((r) =>
      r.era === 0 ? (r.body.includes('"hold"') ? 'hold' : 503) : 200,
    );
    const h = handler;
    const file = dir.path('gateway.yaml');
    writeFileSync(
      file,
      config(
        h.url,
        `{ attempts: 50, backoff_ms: 100, max_backoff_ms: 1000, timeout_ms: ${TIMEOUT_MS}, concurrency: 4 }`,
      ),
    );
    const first = await gateways.start(file);

    const holdBody = JSON.stringify({ case: 'hold', text: 'naïve — ü' });
    const held = await postEvent(first.port, '/hooks/gh', holdBody, { 'x-github-delivery': 'hold-1' });
    assert.equal(held.status, 202, held.text);
    const holdId = held.id!;
    await waitUntil(
      'the first attempt of the held event at the handler',
      () => h.seen.some((s) => s.eventId === holdId),
      30_000,
    );

    // Accepted, then killed at once: the claim may not have happened yet, may be in flight, or may have
    // failed (503) already. Whichever it is, the event must come back.
    const heldAt = Date.now();
    const failBody = JSON.stringify({ case: 'fail', n: 42 });
    const failed = await postEvent(first.port, '/hooks/gh', failBody, { 'x-github-delivery': 'fail-1' });
    assert.equal(failed.status, 202, failed.text);
    const failId = failed.id!;
    await gateways.kill(first);
    t.diagnostic(
      `killed ${Date.now() - heldAt} ms after the held attempt arrived (its timeout: ${TIMEOUT_MS} ms)`,
    );
    assert.equal((await first.exited).signal, 'SIGKILL');
    h.era = 1;

    const second = await gateways.start(file);
    // The held event's lease (LEASE_MS from the first gateway's claim) must run out before it is claimed
    // again; the rest of the time is the restart on a busy machine.
    await waitUntil(
      'both events delivered by the restarted gateway',
      () => h.deliveredCount(holdId) >= 1 && h.deliveredCount(failId) >= 1,
      LEASE_MS + 45_000,
      () => `seen: ${JSON.stringify(h.seen.map(({ body: _b, ...s }) => s))}`,
    );
    // A second copy (another claim round, a lease wrongly taken over) would arrive within this.
    await sleep(2000);
    assert.equal(h.deliveredCount(holdId), 1, 'the held event was delivered once');
    assert.equal(h.deliveredCount(failId), 1, 'the failed event was delivered once');
    const era1 = h.seen.filter((s) => s.era === 1);
    assert.deepEqual(
      era1.map((s) => s.eventId).sort(),
      [holdId, failId].sort(),
      'the restarted gateway sent each event once and nothing else',
    );

    // The held one: its first claim ran out (counted as an attempt), the second attempt was delivered.
    const holdDelivery = era1.find((s) => s.eventId === holdId)!;
    assert.equal(holdDelivery.attempt, 2, 'X-Portico-Attempt of the delivery after the lost lease');
    assert.equal(holdDelivery.body, holdBody, 'the body survived byte for byte');
    const holdShown = await pollAdmin<AdminEvent>(
      second.adminUrl,
      `/webhooks/event?id=${holdId}`,
      (e) => e.state === 'delivered',
      15_000,
    );
    assert.equal(holdShown.attempts, 2);
    assert.equal(holdShown.attemptLog?.length, 2, JSON.stringify(holdShown.attemptLog));
    assert.match(
      holdShown.attemptLog?.[0]?.error ?? '',
      /lease expired/,
      `the kill caught the held event mid-delivery: ${JSON.stringify(holdShown.attemptLog)}`,
    );
    assert.equal(holdShown.attemptLog?.[1]?.status, 200);

    // The one killed at once: however many attempts the first gateway made or lost, the last is the 200.
    const failDelivery = era1.find((s) => s.eventId === failId)!;
    assert.equal(failDelivery.body, failBody);
    const failShown = await pollAdmin<AdminEvent>(
      second.adminUrl,
      `/webhooks/event?id=${failId}`,
      (e) => e.state === 'delivered',
      15_000,
    );
    const log = failShown.attemptLog ?? [];
    t.diagnostic(
      `the event killed at once had, before its delivery: ${JSON.stringify(log.slice(0, -1)) || '[]'} ` +
        '([] = not yet claimed; "lease expired" = in flight; 503 = failed and due again)',
    );
    assert.equal(failShown.attempts, log.length, JSON.stringify(failShown));
    assert.equal(failDelivery.attempt, log.length, 'X-Portico-Attempt counts every earlier attempt');
    assert.equal(log[log.length - 1]?.status, 200);
    for (const a of log.slice(0, -1))
      assert.ok(
        a.status === 503 || /lease expired/.test(a.error ?? ''),
        `an earlier attempt: ${JSON.stringify(a)}`,
      );

    const delivered = await adminGet<AdminList>(second.adminUrl, '/webhooks/events?state=delivered&route=gh');
    assert.deepEqual(delivered.json.events?.map((e) => e.id).sort(), [holdId, failId].sort());
    await gateways.stop(second);
  });
});

describe('webhook: gateway.workers 2 sharing one SQLite store', { timeout: 180_000 }, () => {
  const EVENTS = 200;
  const CONCURRENCY = 4;
  let handler: RecordingHandler | undefined;
  const dir = tempDir();
  before(async () => {
    // 20 ms per delivery, so that deliveries overlap and the cap has something to hold back.
    handler = await startRecordingHandler(async () => {
      await sleep(20);
      return 200;
    });
  });
  after(async () => {
    await gateways.stopAll();
    await handler?.close();
    dir.remove();
  });

  it('delivers each of 200 events exactly once, never more than `concurrency` at a time', async () => {
    const h = handler!;
    const file = dir.path('gateway.yaml');
    writeFileSync(
      file,
      config(
        h.url,
        `{ attempts: 5, backoff_ms: 50, max_backoff_ms: 500, timeout_ms: 5000, concurrency: ${CONCURRENCY} }`,
        '  workers: 2\n',
      ),
    );
    const gw = await gateways.start(file);
    assert.equal(gateways.noteWorkers(gw).length, 2, 'two workers');

    // Paused while the events come in, so that on resume both workers' delivery loops find 200 events due
    // at once and compete for them: the cap and the exactly-once claim are both under pressure.
    assert.equal((await adminPost(gw.adminUrl, '/webhooks/pause', { route: 'gh' })).status, 200);
    // Ten senders, one connection per event: the primary hands the connections to both workers.
    const posted = await inParallel(
      Array.from({ length: EVENTS }, (_, i) => i),
      10,
      (i) => postEvent(gw.port, '/hooks/gh', JSON.stringify({ n: i }), { 'x-github-delivery': `w-${i}` }),
    );
    const refused = posted.filter((p) => p.status !== 202);
    assert.deepEqual(refused, [], 'every event is accepted');
    const ids = posted.map((p) => p.id!);
    assert.equal(new Set(ids).size, EVENTS, 'each event has its own id');

    await waitUntil(
      'both workers to log their accepts',
      () => gw.logs.filter((l) => l.webhook === 'accepted').length === EVENTS,
      15_000,
    );
    const acceptedBy = new Set(gw.logs.filter((l) => l.webhook === 'accepted').map((l) => l.worker));
    assert.deepEqual([...acceptedBy].sort(), [1, 2], 'both workers accepted events');

    assert.equal(h.seen.length, 0, 'nothing is delivered while the route is paused');
    assert.equal((await adminPost(gw.adminUrl, '/webhooks/resume', { route: 'gh' })).status, 200);

    const pending = (): string[] => ids.filter((id) => h.deliveredCount(id) === 0);
    await waitUntil(
      'every event delivered',
      () => pending().length === 0,
      90_000,
      () => `${pending().length} not delivered yet`,
    );
    await sleep(2000);
    assert.deepEqual(duplicates(h), [], 'no event was delivered twice');
    assert.equal(h.answered.length, EVENTS, 'one request per event, nothing else');
    const unknown = h.answered.filter((a) => !ids.includes(a.eventId));
    assert.deepEqual(unknown, [], 'only the events sent were delivered');
    assert.ok(
      h.maxInFlight <= CONCURRENCY,
      `at most ${CONCURRENCY} deliveries in flight across both workers, saw ${h.maxInFlight}`,
    );
    assert.ok(h.maxInFlight >= 2, `deliveries overlapped (saw at most ${h.maxInFlight} at once)`);

    const delivered = await adminGet<AdminList>(
      gw.adminUrl,
      '/webhooks/events?state=delivered&route=gh&limit=1000',
    );
    assert.equal(delivered.json.events?.length, EVENTS);
    for (const state of ['pending', 'delivering', 'dead']) {
      const left = await adminGet<AdminList>(gw.adminUrl, `/webhooks/events?state=${state}&route=gh`);
      assert.deepEqual(left.json.events, [], `no event left ${state}`);
    }
    await gateways.stop(gw);
    assert.equal((await gw.exited).code, 0);
  });
});
