// E2E retries and deadlines against real failing upstream processes, counting the hits each upstream saw:
// what is retried (connect failures for any method, the rest only when idempotent, bodies only when
// buffered), how often (attempts, the retry budget), and that no request outlives its route deadline —
// stalls, per-try timeouts and backoffs included — nor sends a try after it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { assertProblemBody } from '../fixtures/http-tools.js';
import { sample } from '../fixtures/metric-sample.js';

const DEADLINE_MS = 300;
const SHORT_DEADLINE_MS = 150;
/** What a loaded two-CPU machine may add to a deadline (timer lateness, scheduling); measured well below. */
const SLACK_MS = 200;

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly body: string;
  readonly ms: number;
}

describe('resilience: retries and deadlines', () => {
  let a: FaultUpstream;
  let b: FaultUpstream;
  let c: FaultUpstream;
  let gw: TestGateway;
  const internal = () => [a, b, c].map((u) => String(u.port));

  before(async () => {
    [a, b, c] = await Promise.all([
      startFaultUpstream({ name: 'A' }),
      startFaultUpstream({ name: 'B' }),
      startFaultUpstream({ name: 'C' }),
    ]);
    gw = await startTestGateway(`
upstreams:
  pair:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    retries: { attempts: 2, backoff_ms: 1, budget_min_per_second: 1000, buffer_body_bytes: 1024 }
  budgeted:
    targets: [{ url: "${c.url}" }]
    retries: { attempts: 2, backoff_ms: 1, budget_ratio: 0.2, budget_min_per_second: 0 }
  stalling:
    targets: [{ url: "${c.url}" }]
    retries: { attempts: 4, per_try_timeout_ms: 100, backoff_ms: 20, max_backoff_ms: 40, budget_min_per_second: 1000 }
  late:
    targets: [{ url: "${c.url}" }]
    retries: { attempts: 4, per_try_timeout_ms: 100, backoff_ms: 1000, max_backoff_ms: 1000, budget_min_per_second: 1000 }
routes:
  - name: pair
    path_prefix: /pair
    upstream: pair
  - name: budgeted
    path_prefix: /budgeted
    upstream: budgeted
  - name: stalling
    path_prefix: /stall
    upstream: stalling
    timeout_ms: ${DEADLINE_MS}
  - name: late
    path_prefix: /late
    upstream: late
    timeout_ms: ${SHORT_DEADLINE_MS}
`);
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([a, b, c].map((u) => u?.stop()));
  });

  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();
  const retriesOf = async (upstream: string) =>
    sample(await scrape(), 'portico_upstream_retries_total', { upstream }) ?? 0;
  const hits = async (...ups: FaultUpstream[]) =>
    (await Promise.all(ups.map((u) => u.stats()))).reduce((n, s) => n + s.hits, 0);
  const reset = async (...ups: FaultUpstream[]) => Promise.all(ups.map((u) => u.resetStats()));

  async function send(path: string, init: RequestInit = {}): Promise<Answer> {
    const started = performance.now();
    const res = await fetch(gw.url + path, init);
    const body = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body,
      ms: performance.now() - started,
    };
  }
  const serverOf = (a: Answer) => (JSON.parse(a.body) as { server?: string }).server;

  describe('what is retried', () => {
    it('a GET to a refused target is retried on the other one and succeeds', async () => {
      await a.refuse();
      await reset(b);
      const retriesBefore = await retriesOf('pair');
      for (let i = 0; i < 10; i++) {
        const r = await send(`/pair/get/${i}`);
        assert.equal(r.status, 200, r.body);
        assert.equal(serverOf(r), 'B');
      }
      assert.equal(await hits(b), 10);
      const retried = (await retriesOf('pair')) - retriesBefore;
      // Round-robin sends about every other request to the refused target first.
      assert.ok(retried >= 3 && retried <= 7, `retried ${retried} of 10`);
    });

    it('a POST to a refused target is retried (it never reached it), with its body sent again', async () => {
      await reset(b);
      const body = 'p'.repeat(100);
      for (let i = 0; i < 6; i++) {
        const r = await send(`/pair/post/${i}`, { method: 'POST', body });
        assert.equal(r.status, 200, r.body);
        assert.deepEqual(
          [serverOf(r), (JSON.parse(r.body) as { bodyLength: number }).bodyLength],
          ['B', body.length],
        );
      }
      assert.equal(await hits(b), 6);
      await a.accept();
    });

    it('a POST answered 503 is not retried: one hit per request, the 503 passes through', async () => {
      await Promise.all([a.setMode('status', { status: 503 }), b.setMode('status', { status: 503 })]);
      await reset(a, b);
      for (let i = 0; i < 4; i++) {
        const r = await send('/pair/post', { method: 'POST', body: 'x' });
        assert.equal(r.status, 503);
        assert.equal((JSON.parse(r.body) as { status: number }).status, 503, 'not the upstream’s answer');
      }
      assert.equal(await hits(a, b), 4);
    });

    it('a GET answered 503 is retried attempts (2) times: exactly 3 hits per request, on both targets', async () => {
      await reset(a, b);
      for (let i = 0; i < 4; i++) {
        const r = await send('/pair/get');
        assert.equal(r.status, 503);
        assert.ok(['A', 'B'].includes(serverOf(r) ?? ''), 'the last 5xx is the upstream’s own');
      }
      const [sa, sb] = await Promise.all([a.stats(), b.stats()]);
      assert.equal(sa.hits + sb.hits, 12);
      assert.ok(sa.hits >= 4 && sb.hits >= 4, `A ${sa.hits}, B ${sb.hits}: retries stayed on one target`);
    });

    it('a body over buffer_body_bytes (1024) or chunked streams once and is never retried', async () => {
      const cases: [string, () => RequestInit['body'], number][] = [
        ['512 bytes, buffered', () => 'b'.repeat(512), 3],
        ['4096 bytes', () => 'b'.repeat(4096), 1],
        [
          'chunked',
          () =>
            new ReadableStream({
              start(ctl) {
                ctl.enqueue(new TextEncoder().encode('c'.repeat(100)));
                ctl.close();
              },
            }),
          1,
        ],
      ];
      for (const [label, body, expected] of cases) {
        await reset(a, b);
        // PUT is idempotent: only the body can stop the retry.
        const r = await send('/pair/put', { method: 'PUT', body: body(), duplex: 'half' } as RequestInit);
        assert.equal(r.status, 503, label);
        assert.equal(await hits(a, b), expected, `${label}: hits`);
      }
    });

    it('after a retried 5xx, a later failed try hands the client that 5xx, not its own problem', async () => {
      await b.refuse();
      await reset(a);
      // Tries alternate: A (503) B (refused) A (503), or B A B — where the last try fails to connect.
      for (let i = 0; i < 4; i++) {
        const r = await send('/pair/mixed');
        assert.equal(r.status, 503, r.body);
        assert.equal(r.type, 'application/json');
        assert.equal(serverOf(r), 'A');
      }
      await b.accept();
      await Promise.all([a.setMode('ok'), b.setMode('ok')]);
    });
  });

  it('the retry budget (ratio 0.2, no floor) caps 50 failing requests at 10 retries: exactly 60 hits', async () => {
    await c.setMode('status', { status: 503 });
    await reset(c);
    for (let i = 0; i < 50; i++) assert.equal((await send('/budgeted/x')).status, 503);
    assert.equal(await hits(c), 60);
    const m = await scrape();
    assert.equal(sample(m, 'portico_upstream_retries_total', { upstream: 'budgeted' }), 10);
    // Every request ended wanting one more retry than the budget allowed.
    assert.equal(sample(m, 'portico_upstream_retry_budget_exhausted_total', { upstream: 'budgeted' }), 50);
    const view = (await (await fetch(`${gw.adminUrl}/upstreams/budgeted`)).json()) as {
      retry_budget: unknown;
    };
    assert.deepEqual(view.retry_budget, { requests: 50, retries: 10, allowed: 10 });
  });

  describe('deadlines', () => {
    it(`stalled headers: per-try timeouts are retried, and every request gets 504 by timeout_ms (${DEADLINE_MS})`, async (t) => {
      await c.setMode('stall-headers');
      await reset(c);
      const answers = await Promise.all(Array.from({ length: 5 }, () => send('/stall/x')));
      for (const r of answers) {
        assert.equal(r.status, 504, r.body);
        const p = assertProblemBody(r.type ?? undefined, r.body, 504, internal());
        assert.match(String(p.type), /\/upstream-timeout$/);
      }
      const ms = answers.map((r) => Math.round(r.ms));
      assert.ok(
        ms.every((t) => t >= DEADLINE_MS - 10 && t <= DEADLINE_MS + SLACK_MS),
        `durations ${ms.join(', ')} ms`,
      );
      // 100 ms tries with backoffs below 20 and 40 ms: three start before the deadline, a fourth cannot.
      const n = await hits(c);
      assert.ok(n >= 10 && n <= 15, `${n} hits for 5 requests`);
      t.diagnostic(`stall-headers: durations ${ms.join(', ')} ms; ${n} hits for 5 requests`);

      // A POST that timed out may have reached the upstream: its per-try timeout ends it, unretried.
      await reset(c);
      const post = await send('/stall/post', { method: 'POST', body: 'x' });
      assert.equal(post.status, 504, post.body);
      assert.ok(post.ms < DEADLINE_MS, `the POST took ${Math.round(post.ms)} ms: per_try_timeout_ms ignored`);
      assert.equal(await hits(c), 1);
    });

    it('a backoff that would pass the deadline ends at it and no try is sent after it', async (t) => {
      await c.setMode('stall-headers');
      await reset(c);
      // Try 1 times out at 100 ms; the backoff (random below 1 s) is cut at the deadline 50 ms later
      // except in about 5% of requests. Before the fix, a try then went out at the deadline.
      const answers: Answer[] = [];
      for (let wave = 0; wave < 4; wave++)
        answers.push(
          ...(await Promise.all(Array.from({ length: 5 }, (_, i) => send(`/late/${wave * 5 + i}`)))),
        );
      const ms = answers.map((r) => Math.round(r.ms));
      for (const r of answers) assert.equal(r.status, 504, r.body);
      assert.ok(
        ms.every((t) => t <= SHORT_DEADLINE_MS + SLACK_MS),
        `durations ${ms.join(', ')} ms`,
      );
      const byPath = (await c.stats()).byPath;
      const tries = answers.map((_, i) => byPath[`/late/${i}`] ?? 0);
      // About one request in 20 draws a backoff short enough for a second try; before the fix, nearly
      // every request sent a second one, at the deadline. (A first try still connecting at the deadline on
      // a loaded machine never reaches the upstream: at least half must, or this proves nothing.)
      const reached = tries.filter((n) => n >= 1).length;
      const twice = tries.filter((n) => n >= 2).length;
      assert.ok(reached >= 10, `only ${reached} of 20 requests reached the upstream`);
      assert.ok(twice <= 6, `${twice} of 20 requests were tried again with no time left: ${tries.join(' ')}`);
      t.diagnostic(
        `backoff past the deadline: durations ${ms.join(', ')} ms; tries per request ${tries.join(' ')}`,
      );
    });

    it('a body that stalls mid-way: the client connection is closed at the deadline, not a short body', async () => {
      await c.setMode('stall-body', { bytes: 10, contentLength: 1000 });
      const started = performance.now();
      const res = await fetch(`${gw.url}/stall/body`);
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer());
      const ms = performance.now() - started;
      assert.ok(ms >= DEADLINE_MS - 10 && ms <= DEADLINE_MS + SLACK_MS, `closed after ${ms} ms`);
    });

    it('a reset mid-body: the client connection is closed', async () => {
      await c.setMode('reset-mid-body', { bytes: 10, contentLength: 1000, afterMs: 20 });
      await reset(c);
      const res = await fetch(`${gw.url}/stall/reset`);
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer());
      assert.equal(await hits(c), 1, 'a started response was retried');
    });

    for (const mode of ['reset-before-headers', 'garbage'] as const) {
      it(`${mode}: 502 problem+json; a GET is retried (5 hits), a POST is not (1 hit)`, async () => {
        await c.setMode(mode);
        for (const [method, expected] of [
          ['GET', 5],
          ['POST', 1],
        ] as const) {
          await reset(c);
          const r = await send('/stall/broken', method === 'POST' ? { method, body: 'x' } : {});
          assert.equal(r.status, 502, `${method}: ${r.body}`);
          assertProblemBody(r.type ?? undefined, r.body, 502, internal());
          assert.ok(r.ms < DEADLINE_MS + SLACK_MS);
          assert.equal(await hits(c), expected, method);
        }
      });
    }
  });
});
