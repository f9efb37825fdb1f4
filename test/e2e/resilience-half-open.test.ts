// E2E: a circuit half-opens when open_ms has passed, not when the next request arrives. After one refused
// request opens the breaker, nothing but /metrics scrapes reaches the gateway — no request and no admin
// /upstreams read (that one moves the breaker itself) — and still portico_circuit_state turns half_open, the
// transition is counted and `circuit_half_open` is logged, open_ms after `circuit_open`. The admin view
// agrees afterwards.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedPort } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sample } from '../fixtures/metric-sample.js';

const OPEN_MS = 300;
/** How long past open_ms the change may take to show (a busy 2-core CI machine). */
const MARGIN_MS = 4000;

describe('resilience: circuit half-opens on time', () => {
  let gw: TestGateway;

  before(async () => {
    const deadPort = await closedPort();
    gw = await startTestGateway(`
upstreams:
  down:
    targets: [{ url: "http://127.0.0.1:${deadPort}" }]
    circuit_breaker: { consecutive_failures: 1, min_requests: 1000, open_ms: ${OPEN_MS} }
routes:
  - name: down
    path_prefix: /down
    upstream: down
`);
  });
  after(async () => {
    await gw?.stop();
  });

  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();
  const state = (m: string): string | undefined =>
    ['closed', 'open', 'half_open'].find(
      (s) => sample(m, 'portico_circuit_state', { upstream: 'down', target: '(all)', state: s }) === 1,
    );
  const events = (name: string) =>
    gw.logs.filter((l) => l.event === name && l.upstream === 'down') as {
      time: string;
      level: string;
      reason: string;
    }[];

  it(`the metric and the log move to half_open ${OPEN_MS} ms after opening, with no request`, async () => {
    const started = performance.now();
    const res = await fetch(`${gw.url}/down/x`);
    assert.equal(res.status, 502);
    await res.text();
    const m0 = await scrape();
    // Only meaningful while open_ms has not passed yet (a very slow scrape may already see half_open).
    if (performance.now() - started < OPEN_MS) assert.equal(state(m0), 'open');
    assert.equal(events('circuit_open').length, 1);

    const deadline = performance.now() + OPEN_MS + MARGIN_MS;
    let m = m0;
    while (state(m) !== 'half_open') {
      assert.ok(
        performance.now() < deadline,
        `still ${state(m)} ${Math.round(performance.now() - started)} ms after opening (open_ms ${OPEN_MS})`,
      );
      await sleep(25);
      m = await scrape();
    }
    assert.equal(
      sample(m, 'portico_circuit_transitions_total', { upstream: 'down', target: '(all)', to: 'half_open' }),
      1,
    );
    // Nothing but the one request went through the route.
    assert.equal(
      sample(m, 'portico_requests_total', { route: 'down', method: 'GET', status_class: '5xx' }),
      1,
    );

    const [opened] = events('circuit_open');
    const halfOpened = events('circuit_half_open');
    assert.equal(halfOpened.length, 1, 'circuit_half_open not logged (once) without a request');
    assert.deepEqual([halfOpened[0]!.level, halfOpened[0]!.reason], ['info', 'open_elapsed']);
    const after = Date.parse(halfOpened[0]!.time) - Date.parse(opened!.time);
    // Log times are whole milliseconds: allow 2 ms of rounding below open_ms.
    assert.ok(after >= OPEN_MS - 2, `half-opened ${after} ms after opening: before open_ms`);
    assert.ok(after <= OPEN_MS + MARGIN_MS, `half-opened ${after} ms after opening`);

    // The admin view says the same, and reading it changes nothing.
    const view = (await (await fetch(`${gw.adminUrl}/upstreams/down`)).json()) as {
      circuit: { state: string; opens_for_ms: number };
    };
    assert.deepEqual([view.circuit.state, view.circuit.opens_for_ms], ['half_open', 0]);
    assert.equal(events('circuit_half_open').length, 1);
  });

  it('a failed probe opens it again, and it half-opens again on time', async () => {
    const res = await fetch(`${gw.url}/down/probe`);
    assert.equal(res.status, 502, 'the probe was not let through');
    await res.text();
    const deadline = performance.now() + OPEN_MS + MARGIN_MS;
    while (events('circuit_half_open').length < 2) {
      assert.ok(performance.now() < deadline, 'did not half-open again without a request');
      await sleep(25);
    }
    assert.deepEqual(
      events('circuit_open').map((l) => l.reason),
      ['consecutive_failures', 'probe_failed'],
    );
    const m = await scrape();
    assert.equal(state(m), 'half_open');
    assert.equal(
      sample(m, 'portico_circuit_transitions_total', { upstream: 'down', target: '(all)', to: 'half_open' }),
      2,
    );
  });
});
