// /metrics of a multi-process gateway: workers' registries summed, process metrics kept per worker, gauges
// combined as declared (the config hash once, circuit states by max, target health by min).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayMetrics } from '../observability/metrics.js';
import { clusterMetrics, createPrimaryMetrics } from './cluster-metrics.js';

function worker(requests: number, healthy: number) {
  const m = createGatewayMetrics({ inflight: () => 2 });
  m.configLoaded('abcdef0123456789');
  const record = m.routeRecorder('orders');
  for (let i = 0; i < requests; i++)
    record({
      method: 'GET',
      status: 200,
      startedAt: performance.now(),
      upstreamLatencyMs: 1,
      problem: undefined,
      upstreamStatus: 200,
    } as never);
  m.upstream('orders').health('http://a', healthy === 1);
  m.upstream('orders').circuit('(all)', healthy === 1 ? 'closed' : 'open');
  return m;
}

describe('cluster metrics', () => {
  it('sums request counters, keeps process metrics per worker and counts the config once', async () => {
    const w1 = worker(3, 1);
    const w2 = worker(4, 0);
    const primary = createPrimaryMetrics(() => 2);
    primary.restarted();
    const { text } = await clusterMetrics(primary.registry, [
      [1, await w1.registry.getMetricsAsJSON()],
      [2, await w2.registry.getMetricsAsJSON()],
    ]);
    assert.match(text, /^portico_requests_total\{route="orders",method="GET",status_class="2xx"\} 7$/m);
    assert.match(text, /^portico_request_duration_seconds_count\{route="orders"\} 7$/m);
    assert.match(text, /^portico_requests_in_flight 4$/m);
    assert.match(text, /^portico_config_info\{hash="abcdef012345"\} 1$/m);
    assert.match(text, /^portico_worker_restarts_total 1$/m);
    assert.match(text, /^portico_workers_ready 2$/m);
    assert.match(text, /^portico_upstream_target_healthy\{upstream="orders",target="http:\/\/a"\} 0$/m);
    assert.match(text, /^portico_circuit_state\{upstream="orders",target="\(all\)",state="open"\} 1$/m);
    assert.match(text, /^portico_circuit_state\{upstream="orders",target="\(all\)",state="closed"\} 1$/m);
    for (const w of ['primary', '1', '2'])
      assert.match(text, new RegExp(`^process_cpu_user_seconds_total\\{worker="${w}"\\} `, 'm'));
  });
});
