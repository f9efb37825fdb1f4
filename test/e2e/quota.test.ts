// Quotas end to end: per-consumer daily and monthly budgets (UTC calendar), shared by every route that names
// the same quota, reported in X-Quota-* header fields, refused with a 429 `quota-exceeded` problem whose
// Retry-After and reset_at point at the next period; with Redis, two gateways draw on one quota.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { redisServerSkip, startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { calendarPeriod } from '../../src/policies/rate-limit/store/calendar.js';

const sha = (k: string) => 'sha256:' + createHash('sha256').update(k).digest('hex');
const KEY_FREE = 'pk_quota_free_0001';
const KEY_FREE_2 = 'pk_quota_free_0002';
const KEY_PRO = 'pk_quota_pro_0003';
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

const config = (upstream: string, store = '') => `
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
${store}
auth:
  api_key: { header: X-Api-Key }
consumers:
  - { id: free-1, tier: free, api_keys: ["${sha(KEY_FREE)}"] }
  - { id: free-2, tier: free, api_keys: ["${sha(KEY_FREE_2)}"] }
  - { id: pro-1, tier: pro, api_keys: ["${sha(KEY_PRO)}"] }
tiers:
  free:
    - { name: burst, capacity: 100, refill: 100 }
    - { quota: 3, per: day }
  pro:
    - { name: burst, capacity: 100, refill: 100 }
    - { quota: 5, per: day }
    - { quota: 8, per: month }
routes:
  - name: orders
    path: /orders
    upstream: ${upstream}
    auth: api_key
    rate_limit: { tiered: true, key: consumer }
  - name: users
    path: /users
    upstream: ${upstream}
    auth: api_key
    rate_limit: { tiered: true, key: consumer }
  - name: reports
    path: /reports
    upstream: ${upstream}
    auth: api_key
    rate_limit: { quota: 2, per: month, name: reports, key: consumer }
`;

async function get(gw: TestGateway, path: string, key: string) {
  const res = await fetch(`${gw.url}${path}`, { headers: { 'x-api-key': key } });
  const text = await res.text();
  return { res, text };
}

describe('quotas (memory store)', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(config(up.url));
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('a daily quota per consumer, shared across routes, counted down in X-Quota-* fields', async () => {
    const seen: string[] = [];
    for (const path of ['/orders', '/users', '/orders']) {
      const { res } = await get(gw, path, KEY_FREE);
      seen.push(`${res.status} ${res.headers.get('x-quota-limit')} ${res.headers.get('x-quota-remaining')}`);
      assert.equal(res.headers.get('x-quota-reset'), iso(calendarPeriod(Date.now(), 'day').end));
      // The rate limit keeps its RateLimit fields; the quota is not one of their policies.
      assert.equal(res.headers.get('ratelimit-policy'), '"burst";q=100;w=1');
      assert.match(res.headers.get('ratelimit') ?? '', /^"burst";r=9\d;t=1$/);
    }
    assert.deepEqual(seen, ['200 3 2', '200 3 1', '200 3 0']);
    const { res, text } = await get(gw, '/users', KEY_FREE);
    const body = JSON.parse(text) as Record<string, unknown>;
    const midnight = calendarPeriod(Date.now(), 'day').end;
    assert.equal(res.status, 429);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(body.type, 'https://portico.dev/problems/quota-exceeded');
    assert.equal(body.reset_at, iso(midnight));
    assert.equal(body.quota, 'daily');
    assert.equal(body.quota_limit, 3);
    assert.ok(typeof body.trace_id === 'string' && body.trace_id !== '');
    assert.match(String(body.detail), /daily quota "daily" of 3 requests is used up; it resets at /);
    const retry = Number(res.headers.get('retry-after'));
    assert.ok(Math.abs(retry - (midnight - Date.now()) / 1000) <= 2, `Retry-After ${retry}`);
    assert.equal(res.headers.get('x-quota-remaining'), '0');
    assert.equal(up.received.filter((r) => r.headers['x-consumer-id'] === 'free-1').length, 3);
  });

  it('another consumer of the same tier has its own quota', async () => {
    assert.equal((await get(gw, '/orders', KEY_FREE_2)).res.status, 200);
    assert.equal((await get(gw, '/orders', KEY_FREE_2)).res.headers.get('x-quota-remaining'), '1');
  });

  it('daily and monthly together: the fields show the tightest; the request both allow is charged to both', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { res } = await get(gw, '/orders', KEY_PRO);
      remaining.push(
        `${res.status}:${res.headers.get('x-quota-limit')}/${res.headers.get('x-quota-remaining')}`,
      );
    }
    // Daily 5 is tighter than monthly 8 all along; the 6th request is refused by the daily quota.
    assert.deepEqual(remaining, ['200:5/4', '200:5/3', '200:5/2', '200:5/1', '200:5/0', '429:5/0']);
  });

  it('a route quota alone: X-Quota-* fields without RateLimit fields, a monthly reset', async () => {
    const first = await get(gw, '/reports', KEY_FREE_2);
    assert.equal(first.res.status, 200);
    assert.equal(first.res.headers.get('ratelimit-policy'), null);
    assert.equal(first.res.headers.get('x-quota-limit'), '2');
    assert.equal(first.res.headers.get('x-quota-reset'), iso(calendarPeriod(Date.now(), 'month').end));
    assert.equal((await get(gw, '/reports', KEY_FREE_2)).res.status, 200);
    const { res, text } = await get(gw, '/reports', KEY_FREE_2);
    assert.equal(res.status, 429);
    assert.match(text, /monthly quota \\"reports\\" of 2 requests/);
  });

  it('a quota without its period is a config error naming the key', async () => {
    await assert.rejects(
      startTestGateway(`
routes:
  - name: r
    path: /r
    upstream: ${up.url}
    rate_limit: { quota: 10 }
`),
      /gateway\.yaml:\d+:\d+ routes\[0\]\.rate_limit: a quota needs both quota \(requests\) and per \(day or month\)/,
    );
  });
});

describe('quotas with Redis: two gateways draw on one quota', { skip: redisServerSkip() }, () => {
  let redis: TestRedisServer;
  let up: TestUpstream;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    redis = await startRedisServer();
    up = await startUpstream();
    const store = `  store: { type: redis, url: "${redis.url}", timeout_ms: 500 }`;
    a = await startTestGateway(config(up.url, store));
    b = await startTestGateway(config(up.url, store));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await up?.close();
    await redis?.stop();
  });

  it('3 a day across gateways and routes; the key in Redis expires at the next UTC midnight', async () => {
    // Wait until both are connected (before that, checks fail fast and are allowed).
    for (const gw of [a, b])
      for (let i = 0; i < 100; i++) {
        const r = await fetch(`${gw.url}/reports`, { headers: { 'x-api-key': KEY_PRO } });
        await r.text();
        if (r.headers.get('x-quota-limit') !== null) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    const statuses: number[] = [];
    for (const [gw, path] of [
      [a, '/orders'],
      [b, '/users'],
      [a, '/users'],
      [b, '/orders'],
      [a, '/orders'],
    ] as const)
      statuses.push((await get(gw, path, KEY_FREE)).res.status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const ttl = await import('../helpers/redis-server.js').then((m) =>
      m.redisCommand(redis.port, ['PEXPIRETIME', 'portico:rl:{c:free-1}:quota|daily|c:free-1']),
    );
    assert.equal(Number(ttl.replace(/^:/, '')), calendarPeriod(Date.now(), 'day').end);
  });
});
