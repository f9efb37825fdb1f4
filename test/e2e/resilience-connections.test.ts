// Connection limits per target, against a real upstream process that counts its connections: with
// `max_connections: 2`, eight concurrent slow requests open two connections and queue the rest (all
// answered), while the upstream-wide `connections` applies to targets without their own limit.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

describe('resilience: connection limits per target', () => {
  let a: FaultUpstream;
  let b: FaultUpstream;
  let gw: TestGateway;
  before(async () => {
    [a, b] = await Promise.all([startFaultUpstream({ name: 'A' }), startFaultUpstream({ name: 'B' })]);
    gw = await startTestGateway(`
upstreams:
  limited:
    targets: [{ url: "${a.url}", max_connections: 2 }]
  wide:
    targets: [{ url: "${b.url}" }]
    connections: 3
routes:
  - { name: limited, path_prefix: /limited, upstream: limited }
  - { name: wide, path_prefix: /wide, upstream: wide }
`);
  });
  after(async () => {
    await gw?.stop();
    await a?.stop();
    await b?.stop();
  });

  for (const [path, limit, upstream] of [
    ['/limited', 2, () => a],
    ['/wide', 3, () => b],
  ] as const) {
    it(`${path}: 8 concurrent slow requests use at most ${limit} connections, and all are answered`, async () => {
      const target = upstream();
      await target.setMode('slow', { delayMs: 150 });
      await target.resetStats();
      const started = performance.now();
      const statuses = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const res = await fetch(`${gw.url}${path}`);
          await res.text();
          return res.status;
        }),
      );
      const took = performance.now() - started;
      const stats = await target.stats();
      assert.deepEqual(statuses, Array(8).fill(200));
      assert.equal(stats.hits, 8);
      assert.equal(stats.connections, limit, `connections opened: ${stats.connections}`);
      // Queued behind the limit: at least ceil(8 / limit) rounds of 150 ms.
      assert.ok(took >= Math.ceil(8 / limit) * 150 - 20, `took ${took.toFixed(0)} ms`);
    });
  }
});
