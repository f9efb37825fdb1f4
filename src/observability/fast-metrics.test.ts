// The request-path counters and histograms expose exactly what prom-client's would: cumulative buckets
// ending in +Inf, _sum and _count, one series per label set.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';

it('histogram buckets are cumulative, with +Inf, _sum and _count', async () => {
  const registry = new Registry();
  const h = new FastHistogram('t_seconds', 'test', registry, [0.1, 1]);
  const a = h.series({ route: 'a' });
  for (const v of [0.05, 0.1, 0.5, 2]) a.observe(v);
  h.series({ route: 'b' }).observe(0.2);
  const text = await registry.metrics();
  for (const line of [
    '# TYPE t_seconds histogram',
    't_seconds_bucket{route="a",le="0.1"} 2',
    't_seconds_bucket{route="a",le="1"} 3',
    't_seconds_bucket{route="a",le="+Inf"} 4',
    't_seconds_sum{route="a"} 2.65',
    't_seconds_count{route="a"} 4',
    't_seconds_bucket{route="b",le="0.1"} 0',
    't_seconds_count{route="b"} 1',
  ])
    assert.ok(text.includes(line), `missing: ${line}\n${text}`);
});

it('counter series are shared per label set and exposed as a counter', async () => {
  const registry = new Registry();
  const c = new FastCounter('t_total', 'test', registry);
  c.series({ route: 'a', method: 'GET' }).inc();
  c.series({ route: 'a', method: 'GET' }).inc(2);
  c.series({ route: 'a', method: 'POST' }).inc();
  const text = await registry.metrics();
  assert.match(text, /# TYPE t_total counter/);
  assert.match(text, /t_total\{route="a",method="GET"\} 3/);
  assert.match(text, /t_total\{route="a",method="POST"\} 1/);
});
