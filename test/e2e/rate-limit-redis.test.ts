// Rate limiting with the Redis store through real gateways: two gateway instances sharing one Redis share
// one budget exactly; when Redis stops answering, on_store_error decides (allow lets requests through,
// deny answers 503) without any request waiting past the store timeout; when Redis is back, limits apply
// again without a restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { redisServerSkip, startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

const skip = redisServerSkip();

describe('rate limiting with Redis', { skip }, () => {
  let redis: TestRedisServer;
  let up: TestUpstream;
  let a: TestGateway;
  let b: TestGateway;
  const config = (url: string) => `
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  store: { type: redis, url: "${url}", timeout_ms: 50 }
routes:
  - name: shared
    path: /shared
    upstream: ${up.url}
    rate_limit: { capacity: 10, refill: 0.001, key: global }
  - name: open
    path: /open
    upstream: ${up.url}
    rate_limit: { capacity: 1000, refill: 100, on_store_error: allow }
  - name: strict
    path: /strict
    upstream: ${up.url}
    rate_limit: { capacity: 1000, refill: 100, on_store_error: deny }
`;
  before(async () => {
    redis = await startRedisServer();
    up = await startUpstream();
    a = await startTestGateway(config(redis.url));
    b = await startTestGateway(config(redis.url));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await up?.close();
    await redis?.stop();
  });

  const status = async (gw: TestGateway, path: string) => {
    const res = await fetch(`${gw.url}${path}`);
    await res.text();
    return res.status;
  };

  it('two gateways share one budget exactly', async () => {
    // Give the clients a moment to connect (checks before that fail fast and are allowed).
    for (let i = 0; i < 50 && (await status(a, '/open')) !== 200; i++)
      await new Promise((r) => setTimeout(r, 20));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => status(i % 2 === 0 ? a : b, '/shared')),
    );
    assert.equal(results.filter((s) => s === 200).length, 10, JSON.stringify(results));
    assert.equal(results.filter((s) => s === 429).length, 20);
  });

  it('Redis paused: allow lets requests through, deny answers 503, none waits past the timeout', async () => {
    redis.pause();
    try {
      const t0 = performance.now();
      assert.equal(await status(a, '/open'), 200);
      assert.equal(await status(a, '/strict'), 503);
      const each = (performance.now() - t0) / 2;
      assert.ok(each < 500, `a request waited ${each.toFixed(0)} ms`);
      await new Promise((r) => setTimeout(r, 20));
      const warning = a.logs.find((l) => l.event === 'rate_limit_store_error');
      assert.ok(warning, 'the store failure is logged');
      assert.equal(warning.level, 'warn');
      const metrics = await (await fetch(`${a.adminUrl}/metrics`)).text();
      const m = /^portico_rate_limit_store_errors_total\{store="redis"\} (\d+)$/m.exec(metrics);
      assert.ok(m && Number(m[1]) >= 2, 'store errors are counted');
      assert.match(metrics, /^portico_rate_limit_store_duration_seconds_count\{store="redis"\} [1-9]/m);
    } finally {
      redis.resume();
    }
    // Back: the limits apply again without a restart.
    let back = 0;
    for (let i = 0; i < 100 && back !== 200; i++) {
      back = await status(a, '/strict');
      if (back !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(back, 200);
  });
});
