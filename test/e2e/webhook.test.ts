// Webhooks end to end (issue 19): real senders' signatures, the 401 that says nothing, deduplication, the
// 202 only once stored, retries with backoff against an upstream that fails N times, dead letters and the
// admin API, pause/resume, a store that cannot be written (503), and outbound callbacks verified by the
// subscriber with the `standardwebhooks` package.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../fixtures/http-tools.js';
import { signStandardWebhook } from '../../src/policies/webhook/verify/verify.js';
import { SqliteEventStore } from '../../src/policies/webhook/store/sqlite-store.js';

const GITHUB_SECRET = 'It’s a Secret to Everybody';
const SW_SECRET = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const WAIT_MS = 15_000;

function githubSign(body: string, secret = GITHUB_SECRET): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

/** What the admin API answers, as these tests read it. */
interface AdminJson {
  readonly state?: string;
  readonly attempts?: number;
  readonly attemptLog?: ReadonlyArray<{ readonly status?: number }>;
  readonly body?: string;
  readonly events?: ReadonlyArray<{ readonly id: string }>;
  readonly paused?: readonly string[];
}

async function admin(
  gw: TestGateway,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: AdminJson }> {
  const res = await fetch(gw.adminUrl! + path, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
      : {}),
  });
  return { status: res.status, json: (await res.json()) as AdminJson };
}

describe('webhook: verified ingress and durable delivery', () => {
  let gw: TestGateway;
  let handler: TestUpstream;
  /** Statuses the handler answers, in turn, before it answers 200. */
  const failFirst = new Map<string, number>();
  let down = false;

  before(async () => {
    handler = await startUpstream((req, res, body) => {
      const key = req.headers['x-test-key'] as string | undefined;
      const left = key === undefined ? 0 : (failFirst.get(key) ?? 0);
      if (down || left > 0) {
        if (key !== undefined) failFirst.set(key, left - 1);
        res.writeHead(500).end('not now');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok ' + body.length);
    });
    gw = await startTestGateway(`
webhooks:
  store: { path: ./data/hooks.db }
routes:
  - name: github
    match: { path: /hooks/github, methods: [POST] }
    upstream: ${handler.url}/internal
    strip_prefix: true
    webhook:
      scheme: github
      secrets: ["old-secret", "${GITHUB_SECRET}"]
      max_body_bytes: 2048
      delivery: { attempts: 3, backoff_ms: 20, max_backoff_ms: 50, timeout_ms: 2000 }
  - name: sw
    match: { path: /hooks/sw, methods: [POST] }
    upstream: ${handler.url}
    webhook:
      scheme: standard-webhooks
      secrets: ["${SW_SECRET}"]
      delivery: { attempts: 2, backoff_ms: 20, max_backoff_ms: 40, timeout_ms: 2000 }
`);
  });
  after(async () => {
    await gw?.stop();
    await handler?.close();
  });

  it('accepts a signed event with 202 and delivers its body byte for byte', async () => {
    const body = JSON.stringify({ action: 'opened', text: 'naïve — ü' });
    const res = await post(gw.url + '/hooks/github', body, {
      'x-hub-signature-256': githubSign(body),
      'x-github-delivery': 'd-1',
      'x-test-key': 'one',
    });
    assert.equal(res.status, 202);
    const ack = (await res.json()) as { id: string; status: string };
    assert.equal(ack.status, 'accepted');
    assert.match(ack.id, /^[0-9a-f]{32}$/);
    const got = await waitFor(
      () => handler.received.find((r) => r.headers['x-portico-event-id'] === ack.id),
      WAIT_MS,
      'the delivery',
    );
    assert.deepEqual(got.body, Buffer.from(body));
    assert.equal(got.url, '/internal', 'strip_prefix applies as for a proxied request');
    assert.equal(got.headers['x-hub-signature-256'], githubSign(body));
    assert.equal(got.headers['x-portico-attempt'], '1');
    const line = await waitFor(
      () => gw.accessLines().find((l) => l.webhook_event === ack.id),
      WAIT_MS,
      'the access line',
    );
    assert.equal(line.webhook, 'accepted');
    assert.equal(line.status, 202);
  });

  it('refuses a tampered body, a wrong secret, a missing header with the same 401', async () => {
    const body = '{"a":1}';
    const cases: Record<string, string>[] = [
      { 'x-hub-signature-256': githubSign('{"a":2}') },
      { 'x-hub-signature-256': githubSign(body, 'wrong') },
      { 'x-hub-signature-256': 'sha256=zz' },
      {},
    ];
    const details = new Set<string>();
    for (const headers of cases) {
      const res = await post(gw.url + '/hooks/github', body, headers);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('content-type')!, /application\/problem\+json/);
      const p = (await res.json()) as { type: string; detail: string; trace_id?: string };
      assert.match(p.type, /webhook-signature-invalid/);
      details.add(p.detail);
    }
    assert.equal(details.size, 1, 'every refusal reads the same');
    const reasons = gw
      .accessLines()
      .filter((l) => l.webhook === 'rejected')
      .map((l) => l.webhook_reason);
    assert.ok(reasons.includes('mismatch') && reasons.includes('missing'), String(reasons));
  });

  it('refuses stale and future standard-webhooks timestamps, accepts one within the tolerance', async () => {
    const body = '{"type":"invoice.paid"}';
    const now = Math.floor(Date.now() / 1000);
    for (const ts of [now - 301, now + 301]) {
      const res = await post(gw.url + '/hooks/sw', body, signStandardWebhook(SW_SECRET, 'msg_x', ts, body));
      assert.equal(res.status, 401);
    }
    const ok = await post(
      gw.url + '/hooks/sw',
      body,
      signStandardWebhook(SW_SECRET, 'msg_ok', now - 250, body),
    );
    assert.equal(ok.status, 202);
  });

  it('acknowledges a duplicate delivery id with 200 and delivers it once', async () => {
    const body = '{"dup":true}';
    const headers = {
      'x-hub-signature-256': githubSign(body),
      'x-github-delivery': 'dup-1',
      'x-test-key': 'dup',
    };
    const first = await post(gw.url + '/hooks/github', body, headers);
    assert.equal(first.status, 202);
    const { id } = (await first.json()) as { id: string };
    const again = await post(gw.url + '/hooks/github', body, headers);
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { id, status: 'duplicate' });
    await waitFor(() => handler.received.find((r) => r.headers['x-portico-event-id'] === id), WAIT_MS);
    // A later claim round would have sent a second copy by now if there were one.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(handler.received.filter((r) => r.headers['x-test-key'] === 'dup').length, 1);
  });

  it('retries an upstream that fails twice, then records three attempts', async () => {
    failFirst.set('flaky', 2);
    const body = '{"flaky":1}';
    const res = await post(gw.url + '/hooks/github', body, {
      'x-hub-signature-256': githubSign(body),
      'x-github-delivery': 'flaky-1',
      'x-test-key': 'flaky',
    });
    const { id } = (await res.json()) as { id: string };
    const shown = await pollAdmin(gw, `/webhooks/event?id=${id}`, (j) => j.state === 'delivered');
    assert.equal(shown.attempts, 3);
    assert.deepEqual(
      shown.attemptLog?.map((a) => a.status),
      [500, 500, 200],
    );
    assert.equal(shown.body, body);
    const attempts = handler.received.filter((r) => r.headers['x-test-key'] === 'flaky');
    assert.deepEqual(
      attempts.map((r) => r.headers['x-portico-attempt']),
      ['1', '2', '3'],
    );
  });

  it('dead-letters after the last attempt; the admin lists, replays and deletes', async () => {
    down = true;
    try {
      const body = '{"dead":1}';
      const now = Math.floor(Date.now() / 1000);
      const res = await post(gw.url + '/hooks/sw', body, {
        ...signStandardWebhook(SW_SECRET, 'msg_dead', now, body),
        'x-test-key': 'dead',
      });
      const { id } = (await res.json()) as { id: string };
      await pollAdmin(gw, `/webhooks/event?id=${id}`, (j) => j.state === 'dead');
      const dead = await admin(gw, '/webhooks/events?state=dead&route=sw');
      assert.ok(dead.json.events?.some((e) => e.id === id));
      down = false;
      const replay = await admin(gw, '/webhooks/replay', { id });
      assert.equal(replay.status, 200);
      await pollAdmin(gw, `/webhooks/event?id=${id}`, (j) => j.state === 'delivered');
      const del = await admin(gw, '/webhooks/delete', { id });
      assert.equal(del.status, 200);
      assert.equal((await admin(gw, `/webhooks/event?id=${id}`)).status, 404);
    } finally {
      down = false;
    }
  });

  it('keeps accepting while a route is paused and delivers once resumed', async () => {
    assert.equal((await admin(gw, '/webhooks/pause', { route: 'github' })).status, 200);
    const body = '{"paused":1}';
    const res = await post(gw.url + '/hooks/github', body, {
      'x-hub-signature-256': githubSign(body),
      'x-github-delivery': 'paused-1',
      'x-test-key': 'paused',
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(handler.received.filter((r) => r.headers['x-test-key'] === 'paused').length, 0);
    const status = await admin(gw, '/webhooks');
    assert.deepEqual(status.json.paused, ['github']);
    assert.equal((await admin(gw, '/webhooks/resume', { route: 'github' })).status, 200);
    await pollAdmin(gw, `/webhooks/event?id=${id}`, (j) => j.state === 'delivered');
  });

  it('refuses a body over max_body_bytes with 413', async () => {
    const body = 'x'.repeat(4096);
    const res = await post(gw.url + '/hooks/github', body, { 'x-hub-signature-256': githubSign(body) });
    assert.equal(res.status, 413);
  });

  it('counts what it received, refused and delivered', async () => {
    const text = await (await fetch(gw.adminUrl + '/metrics')).text();
    assert.match(text, /portico_webhook_events_received_total\{route="github"\} \d+/);
    assert.match(text, /portico_webhook_rejected_total\{route="github",reason="mismatch"\} \d+/);
    assert.match(text, /portico_webhook_deliveries_total\{route="github",result="retried"\} 2/);
    assert.match(text, /portico_webhook_deliveries_total\{route="sw",result="dead_lettered"\} 1/);
    assert.match(text, /portico_webhook_delivery_duration_seconds_count\{route="github"\} \d+/);
  });
});

/** Polls an admin GET until `done(json)`; returns that json. */
async function pollAdmin(
  gw: TestGateway,
  path: string,
  done: (json: AdminJson) => boolean,
): Promise<AdminJson> {
  const deadline = Date.now() + WAIT_MS;
  let last: unknown;
  for (;;) {
    const { status, json } = await admin(gw, path);
    last = json;
    if (status === 200 && done(json)) return json;
    if (Date.now() > deadline) throw new Error(`timed out on ${path}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('webhook: duplicates across a restart', () => {
  it('acknowledges a delivery id the previous process stored, and does not deliver it again', async () => {
    const handler = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'portico-webhook-restart-'));
    const config = `
webhooks:
  store: { path: ${join(dir, 'hooks.db')} }
routes:
  - name: gh
    match: { path: /gh, methods: [POST] }
    upstream: ${handler.url}
    webhook: { scheme: github, secrets: ["s"] }
`;
    const body = '{"restart":1}';
    const headers = { 'x-hub-signature-256': githubSign(body, 's'), 'x-github-delivery': 'restart-1' };
    try {
      const first = await startTestGateway(config);
      let id: string;
      try {
        const res = await post(first.url + '/gh', body, headers);
        assert.equal(res.status, 202);
        ({ id } = (await res.json()) as { id: string });
        await waitFor(() => (handler.received.length === 1 ? true : undefined), WAIT_MS, 'the delivery');
      } finally {
        await first.stop();
      }
      const second = await startTestGateway(config);
      try {
        const again = await post(second.url + '/gh', body, headers);
        assert.equal(again.status, 200);
        assert.deepEqual(await again.json(), { id, status: 'duplicate' });
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(handler.received.length, 1);
      } finally {
        await second.stop();
      }
    } finally {
      await handler.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('webhook: a reload that moves the handler', () => {
  it('delivers events accepted after the reload to the new targets', async () => {
    const a = await startUpstream();
    const b = await startUpstream();
    const config = (target: string) => `
webhooks:
  store: { path: ./data/hooks.db }
upstreams:
  handler: { targets: [{ url: "${target}" }] }
routes:
  - name: gh
    match: { path: /gh, methods: [POST] }
    upstream: handler
    webhook: { scheme: github, secrets: ["s"] }
`;
    const gw = await startTestGateway(config(a.url));
    const send = async (n: number): Promise<void> => {
      const body = `{"n":${n}}`;
      const res = await post(gw.url + '/gh', body, {
        'x-hub-signature-256': githubSign(body, 's'),
        'x-github-delivery': `move-${n}`,
      });
      assert.equal(res.status, 202);
    };
    try {
      await send(1);
      await waitFor(() => (a.received.length === 1 ? true : undefined), WAIT_MS, 'delivery to a');
      gw.writeConfig(config(b.url));
      assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
      await send(2);
      await waitFor(() => (b.received.length === 1 ? true : undefined), WAIT_MS, 'delivery to b');
      assert.equal(b.received[0]!.body.toString(), '{"n":2}');
      assert.equal(a.received.length, 1);
    } finally {
      await gw.stop();
      await a.close();
      await b.close();
    }
  });
});

describe('webhook: shutdown during a delivery', () => {
  it('records the outcome of the delivery in flight before the store closes', async () => {
    const handler = await startUpstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 300));
      res.writeHead(200).end('ok');
    });
    const dir = mkdtempSync(join(tmpdir(), 'portico-webhook-shutdown-'));
    const file = join(dir, 'hooks.db');
    try {
      const gw = await startTestGateway(`
webhooks:
  store: { path: ${file} }
routes:
  - name: gh
    match: { path: /gh, methods: [POST] }
    upstream: ${handler.url}
    webhook: { scheme: github, secrets: ["s"] }
`);
      let id: string;
      try {
        const body = '{"bye":1}';
        const res = await post(gw.url + '/gh', body, {
          'x-hub-signature-256': githubSign(body, 's'),
          'x-github-delivery': 'shutdown-1',
        });
        ({ id } = (await res.json()) as { id: string });
        await waitFor(() => (handler.received.length === 1 ? true : undefined), WAIT_MS, 'the delivery');
      } finally {
        await gw.stop();
      }
      const store = new SqliteEventStore({ file, retentionMs: 1, deliveredRetentionMs: 1, leaseMs: 1 });
      try {
        assert.equal(store.get(id)?.state, 'delivered');
      } finally {
        store.close();
      }
    } finally {
      await handler.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('webhook: a store that cannot be written', () => {
  it('answers 503 with Retry-After and accepts nothing', async () => {
    const handler = await startUpstream();
    const gw = await startTestGateway(`
webhooks:
  store: { path: /proc/portico-cannot-write/hooks.db }
routes:
  - name: gh
    match: { path: /gh, methods: [POST] }
    upstream: ${handler.url}
    webhook: { scheme: github, secrets: ["s"] }
`);
    try {
      const body = '{}';
      const res = await post(gw.url + '/gh', body, { 'x-hub-signature-256': githubSign(body, 's') });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '5');
      const p = (await res.json()) as { type: string };
      assert.match(p.type, /webhook-store-unavailable/);
      assert.equal(handler.received.length, 0);
    } finally {
      await gw.stop();
      await handler.close();
    }
  });
});

describe('callbacks: signed outbound delivery', () => {
  it('signs each event for each subscriber the way the standardwebhooks package verifies', async () => {
    const secretA = SW_SECRET;
    const secretB = 'whsec_' + Buffer.from('another secret of thirty-two byt').toString('base64');
    const verified: Array<{ sub: string; payload: unknown; id: string }> = [];
    const failures: string[] = [];
    const subscriber = await startUpstream((req, res, body) => {
      const sub = req.url!.startsWith('/a') ? 'a' : 'b';
      try {
        const payload = new Webhook(sub === 'a' ? secretA : secretB).verify(body.toString('utf8'), {
          'webhook-id': req.headers['webhook-id'] as string,
          'webhook-timestamp': req.headers['webhook-timestamp'] as string,
          'webhook-signature': req.headers['webhook-signature'] as string,
        });
        verified.push({ sub, payload, id: req.headers['webhook-id'] as string });
        res.writeHead(204).end();
      } catch (err) {
        failures.push(String(err));
        res.writeHead(400).end();
      }
    });
    const gw = await startTestGateway(`
webhooks:
  store: { path: ./data/hooks.db }
routes:
  - name: events
    match: { path: /internal/events, methods: [POST] }
    callbacks:
      subscribers:
        - { name: a, url: "${subscriber.url}/a/hooks", secrets: ["${secretA}"] }
        - { name: b, url: "${subscriber.url}/b", secrets: ["${secretB}"] }
      delivery: { backoff_ms: 20, max_backoff_ms: 40 }
`);
    try {
      const res = await post(gw.url + '/internal/events', '{"order":42}', { 'idempotency-key': 'order-42' });
      assert.equal(res.status, 202);
      const ack = (await res.json()) as { events: Record<string, string> };
      assert.deepEqual(Object.keys(ack.events).sort(), ['a', 'b']);
      const again = await post(gw.url + '/internal/events', '{"order":42}', {
        'idempotency-key': 'order-42',
      });
      assert.equal(again.status, 200);
      await waitFor(() => (verified.length >= 2 ? true : undefined), WAIT_MS, 'both deliveries');
      assert.deepEqual(failures, []);
      assert.deepEqual(verified.map((v) => v.sub).sort(), ['a', 'b']);
      for (const v of verified) {
        assert.deepEqual(v.payload, { order: 42 });
        assert.equal(v.id, ack.events[v.sub]);
      }
      const paths = subscriber.received.map((r) => r.url).sort();
      assert.deepEqual(paths, ['/a/hooks', '/b']);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(subscriber.received.length, 2, 'the duplicate was not delivered');
    } finally {
      await gw.stop();
      await subscriber.close();
    }
  });
});
