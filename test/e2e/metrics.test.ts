// /metrics after known traffic: exact counter values by route, method and status class, upstream error
// kinds, reload counters and the config hash — and the exposition passes `promtool check metrics`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sample } from '../fixtures/metric-sample.js';

function config(upstream: string, refusedPort: number, extraHeader = 'a'): string {
  return `
routes:
  - name: ok
    path: /ok
    upstream: ${upstream}
    headers: { response: { set: { X-Extra: ${extraHeader} } } }
  - name: fail
    path: /fail
    upstream: ${upstream}
  - name: refused
    path: /refused
    upstream: http://127.0.0.1:${refusedPort}
`;
}

describe('metrics', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let refusedPort: number;
  before(async () => {
    up = await startUpstream((req, res) => {
      res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'text/plain' });
      res.end('x');
    });
    refusedPort = await closedPort();
    gw = await startTestGateway(config(up.url, refusedPort));
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  async function scrape(): Promise<string> {
    await new Promise((r) => setTimeout(r, 50)); // completion hooks run when each response has closed
    const res = await fetch(`${gw.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  }

  it('counts requests exactly by route, method and status class, and upstream failures by kind', async () => {
    for (let i = 0; i < 3; i++) await (await fetch(`${gw.url}/ok`)).text();
    for (let i = 0; i < 2; i++) await (await fetch(`${gw.url}/ok`, { method: 'POST', body: 'b' })).text();
    await (await fetch(`${gw.url}/nowhere`)).text();
    await (await fetch(`${gw.url}/fail`)).text();
    await (await fetch(`${gw.url}/refused`)).text();
    const text = await scrape();
    const req = (route: string, method: string, cls: string) =>
      sample(text, 'portico_requests_total', { route, method, status_class: cls });
    assert.equal(req('ok', 'GET', '2xx'), 3);
    assert.equal(req('ok', 'POST', '2xx'), 2);
    assert.equal(req('(none)', 'GET', '4xx'), 1);
    assert.equal(req('fail', 'GET', '5xx'), 1);
    assert.equal(req('refused', 'GET', '5xx'), 1);
    assert.equal(sample(text, 'portico_request_duration_seconds_count', { route: 'ok' }), 5);
    assert.equal(sample(text, 'portico_upstream_duration_seconds_count', { route: 'ok' }), 5);
    assert.equal(sample(text, 'portico_upstream_errors_total', { route: 'fail', kind: '5xx' }), 1);
    assert.equal(sample(text, 'portico_upstream_errors_total', { route: 'refused', kind: 'refused' }), 1);
    assert.equal(sample(text, 'portico_upstream_errors_total', { route: 'ok', kind: '5xx' }), undefined);
    assert.equal(sample(text, 'portico_requests_in_flight'), 0);
    assert.ok((sample(text, 'process_cpu_seconds_total') ?? -1) >= 0, 'default process metrics are included');
    assert.doesNotMatch(text, /nowhere/, 'raw paths never become labels');
  });

  it('counts reloads by result and exposes the serving config hash', async () => {
    const before = await scrape();
    assert.equal(sample(before, 'portico_config_reloads_total', { result: 'ok' }), 0);
    const hash = ((await (await fetch(`${gw.adminUrl}/readyz`)).json()) as { config_hash: string })
      .config_hash;
    assert.equal(sample(before, 'portico_config_info', { hash }), 1);

    gw.writeConfig(config(up.url, refusedPort, 'b'));
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    gw.writeConfig('routes: [');
    assert.equal((await gw.portico.gateway.reload('test')).status, 'failed');
    const afterText = await scrape();
    assert.equal(sample(afterText, 'portico_config_reloads_total', { result: 'ok' }), 1);
    assert.equal(sample(afterText, 'portico_config_reloads_total', { result: 'failed' }), 1);
    const newHash = ((await (await fetch(`${gw.adminUrl}/readyz`)).json()) as { config_hash: string })
      .config_hash;
    assert.notEqual(newHash, hash);
    assert.equal(sample(afterText, 'portico_config_info', { hash: newHash }), 1);
    assert.equal(sample(afterText, 'portico_config_info', { hash }), undefined, 'the old hash is gone');
  });

  it('passes promtool check metrics', async (t) => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      if (process.env.CI === 'true' || process.env.PORTICO_REQUIRE_PROMTOOL === '1')
        assert.fail('promtool is required here (Debian package prometheus; .ci/run installs it)');
      t.skip('promtool not installed (apt-get install prometheus)');
      return;
    }
    const text = await scrape();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  });
});

describe('metrics: request recording off', () => {
  it('gateway.metrics.enabled: false records no request series; process metrics stay', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(
      `gateway:\n  listen: "127.0.0.1:0"\n  admin: { listen: "127.0.0.1:0" }\n  metrics: { enabled: false }\nroutes:\n  - name: ok\n    path: /ok\n    upstream: ${up.url}\n`,
    );
    try {
      for (let i = 0; i < 3; i++) await (await fetch(`${gw.url}/ok`)).text();
      await new Promise((r) => setTimeout(r, 50));
      const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      assert.equal(
        sample(text, 'portico_requests_total', { route: 'ok', method: 'GET', status_class: '2xx' }),
        undefined,
      );
      assert.match(text, /^process_cpu_seconds_total /m);
      assert.match(text, /^portico_config_info\{/m);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});
