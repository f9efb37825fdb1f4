// The opt-in per-consumer counter must stay bounded whatever identities arrive: the first `limit`
// consumers get their own series, every other one lands in consumer="(other)".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayMetrics, OTHER_CONSUMER } from './metrics.js';
import { testExchange } from '../pipeline/testing.js';

function requestOf(consumer: string, status: number) {
  const ex = testExchange([]);
  ex.consumerId = consumer;
  ex.status = status;
  return ex;
}

async function series(metrics: ReturnType<typeof createGatewayMetrics>) {
  const all = await metrics.registry.getMetricsAsJSON();
  const m = all.find((x) => x.name === 'portico_consumer_requests_total')!;
  return m.values.map((v) => {
    const labels = v.labels as Record<string, string>;
    return { consumer: labels.consumer!, status_class: labels.status_class!, value: v.value };
  });
}

describe('per-consumer request counter', () => {
  it('counts by consumer and status class, caps distinct consumers, skips anonymous requests', async () => {
    const metrics = createGatewayMetrics({ inflight: () => 0, defaultMetrics: false });
    const record = metrics.consumerRecorder(2);
    record(requestOf('alice', 200));
    record(requestOf('alice', 201));
    record(requestOf('alice', 404));
    record(requestOf('bob', 500));
    record(requestOf('', 200));
    for (let i = 0; i < 50; i++) record(requestOf(`intruder-${i}`, 200));
    record(requestOf('bob', 200));
    const got = await series(metrics);
    const find = (consumer: string, cls: string) =>
      got.find((s) => s.consumer === consumer && s.status_class === cls)?.value;
    assert.equal(find('alice', '2xx'), 2);
    assert.equal(find('alice', '4xx'), 1);
    assert.equal(find('bob', '5xx'), 1);
    assert.equal(find('bob', '2xx'), 1, 'a known consumer keeps its series after the cap is reached');
    assert.equal(find(OTHER_CONSUMER, '2xx'), 50);
    assert.equal(new Set(got.map((s) => s.consumer)).size, 3, 'two consumers plus (other)');
    assert.equal(
      got.reduce((n, s) => n + s.value, 0),
      55,
      'every authenticated request is counted once',
    );
  });

  it('the cap holds across recorders (routes, reloads)', async () => {
    const metrics = createGatewayMetrics({ inflight: () => 0, defaultMetrics: false });
    metrics.consumerRecorder(1)(requestOf('alice', 200));
    metrics.consumerRecorder(1)(requestOf('bob', 200));
    const got = await series(metrics);
    assert.deepEqual(got.map((s) => s.consumer).sort(), [OTHER_CONSUMER, 'alice'].sort());
  });
});
