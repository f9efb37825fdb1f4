// E2E circuit breaker and fallback against real failing upstream processes: the breaker opens at its ratio,
// fails fast without touching the upstream (503 circuit-open + Retry-After), half-opens on schedule with
// exactly half_open_requests probes, closes on probe success and re-opens on probe failure — as the admin
// view and /metrics report it; per-target breakers steer around the open target; fallbacks stand in.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { assertProblemBody } from '../fixtures/http-tools.js';
import { sample } from '../fixtures/metric-sample.js';

// The breaker half-opens on a timer once open_ms has passed (no request needed), so every "still open"
// assertion — the fail-fast requests and the scrape after them — must land within it: 1.5 s leaves a busy
// 2-core CI machine plenty of margin, at the cost of about 1 s more in each wait for half-open below.
const OPEN_MS = 1500;

interface View {
  circuit?: { state: string; opens_for_ms: number; probes_in_flight: number };
  targets: { target: string; in_service: boolean; circuit?: { state: string } }[];
}

describe('resilience: circuit breaker', () => {
  let flaky: FaultUpstream;
  let left: FaultUpstream;
  let right: FaultUpstream;
  let fb: FaultUpstream;
  let gw: TestGateway;
  const internal = () => [flaky, left, right, fb].map((u) => String(u.port));

  before(async () => {
    [flaky, left, right, fb] = await Promise.all([
      startFaultUpstream({ name: 'flaky' }),
      startFaultUpstream({ name: 'left' }),
      startFaultUpstream({ name: 'right' }),
      startFaultUpstream({ name: 'fb' }),
    ]);
    gw = await startTestGateway(`
upstreams:
  flaky:
    targets: [{ url: "${flaky.url}" }]
    circuit_breaker: { failure_ratio: 0.5, min_requests: 4, window_ms: 10000, open_ms: ${OPEN_MS}, half_open_requests: 2 }
  split:
    targets: [{ url: "${left.url}" }, { url: "${right.url}" }]
    circuit_breaker: { consecutive_failures: 3, min_requests: 1000, open_ms: 60000, per_target: true }
  fb:
    targets: [{ url: "${fb.url}" }]
    circuit_breaker: { consecutive_failures: 4, min_requests: 1000, open_ms: 60000 }
    retries: { attempts: 1, backoff_ms: 1, budget_min_per_second: 1000 }
routes:
  - name: flaky
    path_prefix: /flaky
    upstream: flaky
  - name: split
    path_prefix: /split
    upstream: split
  - name: fb
    path_prefix: /fb
    upstream: fb
    fallback:
      status: 200
      json: { items: [], degraded: true }
      headers: { Cache-Control: "max-age=5" }
`);
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([flaky, left, right, fb].map((u) => u?.stop()));
  });

  const view = async (name: string): Promise<View> => {
    const res = await fetch(`${gw.adminUrl}/upstreams/${name}`);
    assert.equal(res.status, 200);
    return (await res.json()) as View;
  };
  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();
  const transitions = (text: string, to: string, upstream = 'flaky', target = '(all)') =>
    sample(text, 'portico_circuit_transitions_total', { upstream, target, to }) ?? 0;
  const stateIs = (text: string, state: string, upstream = 'flaky', target = '(all)') =>
    ['closed', 'open', 'half_open'].every(
      (s) => sample(text, 'portico_circuit_state', { upstream, target, state: s }) === (s === state ? 1 : 0),
    );

  /** A request that must be refused by the open breaker: 503 circuit-open, Retry-After, problem+json. */
  async function assertFailsFast(path: string): Promise<void> {
    const started = performance.now();
    const res = await fetch(gw.url + path);
    const body = await res.text();
    assert.equal(res.status, 503, body);
    const p = assertProblemBody(res.headers.get('content-type') ?? undefined, body, 503, internal());
    assert.match(String(p.type), /\/circuit-open$/);
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= Math.ceil(OPEN_MS / 1000),
      `Retry-After: ${res.headers.get('retry-after')}`,
    );
    assert.ok(performance.now() - started < 500, 'a fail-fast answer took long');
  }

  /** Polls the admin view until the breaker of `name` is in `state` (bounded). */
  async function waitForState(name: string, state: string, timeoutMs = 3000): Promise<View> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const v = await view(name);
      if (v.circuit?.state === state) return v;
      assert.ok(
        performance.now() < deadline,
        `circuit of ${name} never became ${state}: ${JSON.stringify(v)}`,
      );
      await sleep(20);
    }
  }

  it('opens once min_requests tries fail past the ratio, then fails fast without reaching the upstream', async () => {
    await flaky.setMode('status', { status: 503 });
    await flaky.resetStats();
    for (let i = 1; i <= 4; i++) {
      const res = await fetch(`${gw.url}/flaky/x`);
      // While closed the upstream's own 503 passes through.
      assert.equal(res.status, 503);
      assert.deepEqual(((await res.json()) as { server: string }).server, 'flaky');
      if (i === 3) assert.equal((await view('flaky')).circuit?.state, 'closed', 'opened before min_requests');
    }
    const all = (await (await fetch(`${gw.adminUrl}/upstreams`)).json()) as {
      upstreams: { name: string; circuit?: { state: string } }[];
    };
    assert.deepEqual(
      all.upstreams.map((u) => [u.name, u.circuit?.state]),
      [
        ['flaky', 'open'],
        ['split', undefined],
        ['fb', 'closed'],
      ],
    );
    const opened = await view('flaky');
    assert.equal(opened.circuit?.state, 'open');
    assert.ok(
      opened.circuit.opens_for_ms > 0 && opened.circuit.opens_for_ms <= OPEN_MS,
      JSON.stringify(opened),
    );
    assert.equal((await flaky.stats()).hits, 4);

    for (let i = 0; i < 5; i++) await assertFailsFast('/flaky/x');
    assert.equal((await flaky.stats()).hits, 4, 'a request reached the upstream while the circuit was open');

    const m = await scrape();
    assert.equal(transitions(m, 'open'), 1);
    assert.ok(stateIs(m, 'open'), 'portico_circuit_state does not say open');
    assert.match(m, /^portico_upstream_errors_total\{[^}]*kind="circuit_open"[^}]*\} 5$/m);
  });

  it(`half-opens after open_ms (${OPEN_MS} ms); a failed probe opens it again`, async () => {
    const v = await waitForState('flaky', 'half_open', OPEN_MS + 2000);
    assert.equal(v.circuit?.probes_in_flight, 0);
    const before = (await flaky.stats()).hits;
    const res = await fetch(`${gw.url}/flaky/probe`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { server: string }).server, 'flaky', 'the probe was not sent');
    assert.equal((await flaky.stats()).hits, before + 1);
    assert.equal((await view('flaky')).circuit?.state, 'open');
    await assertFailsFast('/flaky/x');
    assert.equal((await flaky.stats()).hits, before + 1);

    const m = await scrape();
    assert.equal(transitions(m, 'half_open'), 1);
    assert.equal(transitions(m, 'open'), 2);
    assert.ok(stateIs(m, 'open'));
    const reopened = gw.logs.filter((l) => l.event === 'circuit_open' && l.upstream === 'flaky');
    assert.deepEqual(
      reopened.map((l) => [l.level, l.reason]),
      [
        ['warn', 'failure_ratio'],
        ['warn', 'probe_failed'],
      ],
    );
  });

  it('half-open admits exactly half_open_requests probes at once; their success closes it', async () => {
    // Slow enough that every request below arrives while the probes are still in flight.
    await flaky.setMode('slow', { delayMs: 300 });
    await waitForState('flaky', 'half_open', OPEN_MS + 2000);
    const before = (await flaky.stats()).hits;
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await fetch(`${gw.url}/flaky/burst`);
        const body = await res.text();
        return { status: res.status, body, type: res.headers.get('content-type') };
      }),
    );
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    assert.equal(ok.length, 2, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(refused.length, 6);
    for (const r of refused) {
      const p = assertProblemBody(r.type ?? undefined, r.body, 503, internal());
      assert.match(String(p.type), /\/circuit-open$/);
    }
    assert.equal((await flaky.stats()).hits, before + 2, 'more probes than half_open_requests');
    assert.equal((await view('flaky')).circuit?.state, 'closed');

    // Closed: traffic flows again.
    await flaky.setMode('ok');
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/flaky/y`)).status, 200);
    assert.equal((await flaky.stats()).hits, before + 5);

    const m = await scrape();
    assert.equal(transitions(m, 'half_open'), 2);
    assert.equal(transitions(m, 'closed'), 1);
    assert.equal(transitions(m, 'open'), 2);
    assert.ok(stateIs(m, 'closed'), 'portico_circuit_state does not say closed');
  });

  it('per_target: the refused target’s breaker opens and requests go to the other target only', async () => {
    await left.refuse();
    await right.resetStats();
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await fetch(`${gw.url}/split/${i}`);
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    // Round-robin: the refused target got requests 1, 3 and 5 (502 upstream-unavailable), then its breaker
    // opened (consecutive_failures: 3) and everything went right.
    assert.deepEqual(
      statuses.map((s) => (s === 200 ? 'ok' : String(s))),
      ['502', 'ok', '502', 'ok', '502', ...Array<string>(11).fill('ok')],
    );
    assert.equal((await right.stats()).hits, 13);
    const v = await view('split');
    assert.equal(v.circuit, undefined, 'no upstream-wide breaker with per_target');
    assert.deepEqual(
      v.targets.map((t) => [t.target, t.circuit?.state]),
      [
        [left.url, 'open'],
        [right.url, 'closed'],
      ],
    );
    const m = await scrape();
    assert.equal(transitions(m, 'open', 'split', left.url), 1);
    assert.ok(stateIs(m, 'open', 'split', left.url));
    await left.accept();
  });

  describe('fallback', () => {
    it('every try failed: the fallback answers with X-Portico-Fallback: upstream-failed', async () => {
      await fb.refuse();
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${gw.url}/fb/items`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-portico-fallback'), 'upstream-failed');
        assert.equal(res.headers.get('content-type'), 'application/json');
        assert.equal(res.headers.get('cache-control'), 'max-age=5');
        assert.deepEqual(await res.json(), { items: [], degraded: true });
      }
      // Two requests × (try + one retry) = four failures in a row: the breaker is open now.
      assert.equal((await view('fb')).circuit?.state, 'open');
    });

    it('circuit open: the fallback answers with X-Portico-Fallback: circuit-open, upstream untouched', async () => {
      await fb.accept();
      await fb.resetStats();
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gw.url}/fb/items`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-portico-fallback'), 'circuit-open');
        assert.deepEqual(await res.json(), { items: [], degraded: true });
      }
      assert.equal((await fb.stats()).hits, 0);
      const m = await scrape();
      assert.equal(
        sample(m, 'portico_fallback_responses_total', { route: 'fb', reason: 'upstream_failed' }),
        2,
      );
      assert.equal(sample(m, 'portico_fallback_responses_total', { route: 'fb', reason: 'circuit_open' }), 3);
      // `problem`: the upstream failure the fallback stood in for; `fallback`: the reason, as in the header.
      const lines = gw
        .accessLines()
        .filter((l) => l.route === 'fb')
        .map((l) => [l.problem, l.fallback]);
      assert.deepEqual(lines, [
        ['upstream-unavailable', 'upstream-failed'],
        ['upstream-unavailable', 'upstream-failed'],
        ['circuit-open', 'circuit-open'],
        ['circuit-open', 'circuit-open'],
        ['circuit-open', 'circuit-open'],
      ]);
      // The fallback hides the failures from clients, not from the metric the alerts read (counted when each
      // response has closed: wait for the last one).
      const kinds = async () => {
        const text = await scrape();
        const count = (kind: string) =>
          sample(text, 'portico_upstream_errors_total', { route: 'fb', kind }) ?? 0;
        return [count('refused'), count('circuit_open')];
      };
      const deadline = performance.now() + 3000;
      while ((await kinds())[1]! < 3 && performance.now() < deadline) await sleep(20);
      assert.deepEqual(await kinds(), [2, 3]);
    });
  });
});
