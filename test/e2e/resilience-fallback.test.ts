// E2E fallbacks against a dead upstream (a closed port), an upstream answering 503 and a breaker that opens:
// the fallback hides the failure from the client only. /metrics counts the upstream error (the same kind as
// without a fallback, so PorticoUpstreamErrors still sees it) and the fallback both; the access log names the
// upstream problem and the fallback; and the reason has one spelling — the one `on:` takes — in the
// X-Portico-Fallback header and the access log, and the same words in snake_case as the metric label value.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sample } from '../fixtures/metric-sample.js';
import { FALLBACK_REASONS } from '../../src/policies/fallback/schema.js';

const ALERTS = new URL('../../deploy/prometheus/alerts.yml', import.meta.url);

describe('resilience: fallback keeps upstream failures visible', () => {
  let deadPort: number;
  let answers503: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    deadPort = await closedPort();
    answers503 = await startUpstream((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
    });
    gw = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  # Successes are never logged: fallback lines must be written anyway, like problems.
  access_log: { sample: 0 }
upstreams:
  guarded:
    targets: [{ url: "http://127.0.0.1:${deadPort}" }]
    circuit_breaker: { consecutive_failures: 2, min_requests: 1000, open_ms: 60000 }
routes:
  - name: dead
    path_prefix: /dead
    upstream: http://127.0.0.1:${deadPort}
    fallback: { status: 200, json: { degraded: true } }
  - name: plain
    path_prefix: /plain
    upstream: http://127.0.0.1:${deadPort}
  - name: guarded
    path_prefix: /guarded
    upstream: guarded
    fallback: { json: { degraded: true } }
  - name: replaced
    path_prefix: /replaced
    upstream: ${answers503.url}
    fallback: { status: 200, body: "later", statuses: [503] }
`);
  });
  after(async () => {
    await gw?.stop();
    await answers503?.close();
  });

  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();
  const errors = (m: string, route: string, kind: string) =>
    sample(m, 'portico_upstream_errors_total', { route, kind }) ?? 0;
  const fallbacks = (m: string, route: string, reason: string) =>
    sample(m, 'portico_fallback_responses_total', { route, reason }) ?? 0;
  const served = (m: string, route: string) =>
    ['1xx', '2xx', '3xx', '4xx', '5xx'].reduce(
      (n, cls) =>
        n +
        ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'OTHER'].reduce(
          (k, method) => k + (sample(m, 'portico_requests_total', { route, method, status_class: cls }) ?? 0),
          0,
        ),
      0,
    );
  /** /metrics once `route` has counted `n` requests (completion hooks run when each response has closed). */
  async function scrapeAfter(route: string, n: number): Promise<string> {
    const deadline = performance.now() + 5000;
    for (;;) {
      const m = await scrape();
      if (served(m, route) >= n) return m;
      assert.ok(performance.now() < deadline, `route ${route} never counted ${n} requests`);
      await sleep(20);
    }
  }
  const linesOf = (route: string) => gw.accessLines().filter((l) => l.route === route);

  /** GETs `path` and checks it was answered by the fallback for `reason`. */
  async function getFallback(path: string, status: number, reason: string): Promise<void> {
    const res = await fetch(gw.url + path);
    const body = await res.text();
    assert.equal(res.status, status, body);
    assert.equal(res.headers.get('x-portico-fallback'), reason);
  }

  it('dead upstream + fallback: the refused connections count in portico_upstream_errors_total, and the fallbacks', async () => {
    const m0 = await scrape();
    assert.equal(errors(m0, 'dead', 'refused'), 0);
    for (let i = 0; i < 3; i++) await getFallback('/dead/x', 200, 'upstream-failed');
    // The same dead port without a fallback, for comparison: the same kind, counted the same way.
    const plain = await fetch(`${gw.url}/plain/x`);
    assert.equal(plain.status, 502);
    await plain.text();

    await scrapeAfter('plain', 1);
    const m = await scrapeAfter('dead', 3);
    assert.equal(errors(m, 'dead', 'refused'), 3, 'the fallback hid the refused upstream from the metric');
    assert.equal(fallbacks(m, 'dead', 'upstream_failed'), 3);
    assert.equal(
      sample(m, 'portico_requests_total', { route: 'dead', method: 'GET', status_class: '2xx' }),
      3,
    );
    assert.equal(errors(m, 'plain', 'refused'), 1);

    assert.deepEqual(
      linesOf('dead').map((l) => [l.status, l.problem, l.fallback]),
      Array.from({ length: 3 }, () => [200, 'upstream-unavailable', 'upstream-failed']),
      'sample 0 dropped a fallback line, or it does not name the upstream problem and the fallback',
    );
    assert.deepEqual(
      linesOf('plain').map((l) => [l.status, l.problem, l.fallback]),
      [[502, 'upstream-unavailable', undefined]],
    );
  });

  it('breaker + fallback: refused tries, then the open circuit, each counted by kind with its fallback', async () => {
    for (let i = 0; i < 2; i++) await getFallback('/guarded/x', 503, 'upstream-failed');
    for (let i = 0; i < 3; i++) await getFallback('/guarded/x', 503, 'circuit-open');
    const m = await scrapeAfter('guarded', 5);
    assert.equal(errors(m, 'guarded', 'refused'), 2);
    assert.equal(errors(m, 'guarded', 'circuit_open'), 3);
    assert.equal(fallbacks(m, 'guarded', 'upstream_failed'), 2);
    assert.equal(fallbacks(m, 'guarded', 'circuit_open'), 3);
    assert.deepEqual(
      linesOf('guarded').map((l) => [l.problem, l.fallback]),
      [
        ['upstream-unavailable', 'upstream-failed'],
        ['upstream-unavailable', 'upstream-failed'],
        ['circuit-open', 'circuit-open'],
        ['circuit-open', 'circuit-open'],
        ['circuit-open', 'circuit-open'],
      ],
    );
  });

  it('an upstream 5xx replaced by the fallback (statuses) still counts as kind 5xx', async () => {
    await getFallback('/replaced/x', 200, 'upstream-failed');
    const m = await scrapeAfter('replaced', 1);
    assert.equal(errors(m, 'replaced', '5xx'), 1);
    assert.equal(fallbacks(m, 'replaced', 'upstream_failed'), 1);
    assert.deepEqual(
      linesOf('replaced').map((l) => [l.status, l.upstream_status, l.problem, l.fallback]),
      [[200, 503, undefined, 'upstream-failed']],
    );
  });

  it('PorticoUpstreamErrors selects the kinds a fallback route records (refused, circuit_open)', () => {
    const rules = (
      parse(readFileSync(ALERTS, 'utf8')) as {
        groups: { rules: { alert?: string; expr: string }[] }[];
      }
    ).groups.flatMap((g) => g.rules);
    const expr = rules.find((r) => r.alert === 'PorticoUpstreamErrors')?.expr ?? '';
    const selector = /portico_upstream_errors_total\{([^}]*)\}/.exec(expr);
    assert.ok(selector, `PorticoUpstreamErrors no longer reads portico_upstream_errors_total: ${expr}`);
    const matchers = [...selector[1]!.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)];
    const selects = (labels: Record<string, string>) =>
      matchers.every(([, name, op, value]) => {
        const v = labels[name!] ?? '';
        const re = new RegExp(`^(?:${value})$`);
        return op === '=' ? v === value : op === '!=' ? v !== value : op === '=~' ? re.test(v) : !re.test(v);
      });
    for (const kind of ['refused', 'timeout', 'reset', 'circuit_open'])
      assert.ok(selects({ route: 'dead', kind }), `the alert ignores kind="${kind}"`);
  });

  it('one spelling per reason: on:, header and access log alike; the metric label is the same words in snake_case', async () => {
    const m = await scrape();
    const lines = gw.accessLines().filter((l) => l.fallback !== undefined);
    assert.ok(lines.length > 0);
    const seen = new Set(lines.map((l) => l.fallback));
    // Every spelling the access log used is one `on:` accepts (and that the header carried, above).
    for (const r of seen)
      assert.ok((FALLBACK_REASONS as readonly unknown[]).includes(r), `log spelling ${r}`);
    assert.deepEqual([...seen].sort(), [...FALLBACK_REASONS].sort());
    // No other spelling in any access-log field (the old `fallback-upstream-failed` problem, for one).
    for (const l of gw.accessLines())
      for (const v of Object.values(l))
        assert.ok(typeof v !== 'string' || !/fallback-|upstream_failed|circuit_open/.test(v), v as string);
    const labels = [...m.matchAll(/^portico_fallback_responses_total\{[^}]*reason="([^"]*)"/gm)].map(
      (x) => x[1],
    );
    assert.deepEqual([...new Set(labels)].sort(), FALLBACK_REASONS.map((r) => r.replaceAll('-', '_')).sort());
  });
});
