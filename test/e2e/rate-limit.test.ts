// Rate limiting end to end with the memory store: the brief's two token-bucket forms, a sliding window,
// several limits on one route, keys (ip, consumer, header, global), tiers with anonymous, 429 problem+json
// with Retry-After, and the RateLimit header fields.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const sha = (k: string) => 'sha256:' + createHash('sha256').update(k).digest('hex');
const KEY_FREE = 'pk_free_client_0001';
const KEY_PRO = 'pk_pro_client_0002';
/**
 * The requests_per_minute route's rate: one token back every 10 s. Its test sends 8 requests one after the
 * other and expects the burst to stay used up; at 60/min (a token a second) that test took 0.97-1.06 s on a
 * 2-core machine busy with stress-ng, long enough for a token to come back before the last requests.
 */
const RPM = 6;

describe('rate limiting (memory store)', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`
auth:
  api_key: { header: X-Api-Key }
consumers:
  - { id: free-client, tier: free, api_keys: ["${sha(KEY_FREE)}"] }
  - { id: pro-client, tier: pro, api_keys: ["${sha(KEY_PRO)}"] }
tiers:
  anonymous: { capacity: 2, refill: 0.001 }
  free: { capacity: 3, refill: 0.001 }
  pro: { capacity: 6, refill: 0.001 }
routes:
  - name: seed-rpm
    path_prefix: /rpm
    upstream: ${up.url}
    rate_limit: { requests_per_minute: ${RPM}, burst: 5 }
  - name: seed-bucket
    path: /bucket
    upstream: ${up.url}
    rate_limit: { capacity: 4, refill: 0.001 }
  - name: window
    path: /window
    upstream: ${up.url}
    rate_limit: { limit: 3, window_s: 60, key: global }
  - name: two-limits
    path: /two
    upstream: ${up.url}
    rate_limit:
      key: header:X-Tenant
      limits:
        - { name: burst, capacity: 5, refill: 0.001 }
        - { name: hourly, limit: 3, window_s: 3600 }
  - name: tiered
    path: /tiered
    upstream: ${up.url}
    auth: { methods: [api_key], optional: true }
    rate_limit: { tiered: true, key: consumer }
  - name: quiet
    path: /quiet
    upstream: ${up.url}
    rate_limit: { capacity: 1, refill: 0.001, headers: false }
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  async function statuses(path: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${gw.url}${path}`, { headers });
      await res.text();
      out.push(res.status);
    }
    return out;
  }

  it("requests_per_minute + burst (the brief's form): the burst passes, then 429 with Retry-After", async () => {
    const started = performance.now();
    const got = await statuses('/rpm/a', 7);
    assert.deepEqual(got, [200, 200, 200, 200, 200, 429, 429]);
    const res = await fetch(`${gw.url}/rpm/a`);
    const elapsedS = (performance.now() - started) / 1000;
    const body = (await res.json()) as { type: string; status: number; trace_id: string };
    assert.equal(res.status, 429);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(body.type, /rate-limited/);
    assert.ok(body.trace_id);
    // 6/min refills one token every 10 s: the next one is at most 10 s away, less what refilled since the
    // burst began (nothing to speak of unless the machine is very busy).
    const retryAfter = Number(res.headers.get('retry-after'));
    const tokenS = 60 / RPM;
    assert.ok(
      retryAfter <= tokenS && retryAfter >= Math.ceil(tokenS - elapsedS),
      `retry-after ${retryAfter} after ${elapsedS.toFixed(2)} s`,
    );
    assert.equal(res.headers.get('ratelimit-policy'), `"default";q=5;w=${(5 * 60) / RPM}`);
    assert.match(res.headers.get('ratelimit') ?? '', /^"default";r=0;t=\d+$/);
  });

  it('capacity + refill: exactly capacity requests, RateLimit fields count down', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.url}/bucket`);
      await res.text();
      seen.push(`${res.status} ${res.headers.get('ratelimit')}`);
    }
    assert.deepEqual(
      seen.map((s) => s.replace(/;t=\d+$/, '')),
      [
        '200 "default";r=3',
        '200 "default";r=2',
        '200 "default";r=1',
        '200 "default";r=0',
        '429 "default";r=0',
      ],
    );
  });

  it('a sliding window with key: global counts every client together', async () => {
    assert.deepEqual(await statuses('/window', 4), [200, 200, 200, 429]);
    const res = await fetch(`${gw.url}/window`);
    await res.text();
    assert.ok(Number(res.headers.get('retry-after')) > 1, 'a window refuses until enough of it has passed');
  });

  it('several limits: all must allow, and a refused request charges none of them', async () => {
    const t = { 'x-tenant': 'acme' };
    assert.deepEqual(await statuses('/two', 4, t), [200, 200, 200, 429]);
    const res = await fetch(`${gw.url}/two`, { headers: t });
    await res.text();
    assert.equal(res.headers.get('ratelimit-policy'), '"burst";q=5;w=5000, "hourly";q=3;w=3600');
    // The hourly window refused the 4th: the burst bucket was not charged for it (5 − 3 = 2 left).
    assert.deepEqual(
      await statuses('/two', 1, { 'x-tenant': 'other' }),
      [200],
      'another tenant has its own budget',
    );
  });

  it('tiers: anonymous, free and pro consumers each get their tier budget', async () => {
    assert.deepEqual(await statuses('/tiered', 3), [200, 200, 429], 'anonymous: 2');
    assert.deepEqual(
      await statuses('/tiered', 4, { 'x-api-key': KEY_FREE }),
      [200, 200, 200, 429],
      'free: 3',
    );
    const pro = await statuses('/tiered', 7, { 'x-api-key': KEY_PRO });
    assert.deepEqual(pro, [200, 200, 200, 200, 200, 200, 429], 'pro: 6');
  });

  it('headers: false leaves the RateLimit fields out (Retry-After stays on 429)', async () => {
    const ok = await fetch(`${gw.url}/quiet`);
    await ok.text();
    assert.equal(ok.headers.get('ratelimit'), null);
    const limited = await fetch(`${gw.url}/quiet`);
    await limited.text();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('ratelimit'), null);
    assert.ok(limited.headers.get('retry-after'));
  });

  it('counts allowed and refused requests by route and tier in /metrics', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const value = (name: string, route: string, tier: string) => {
      const m = new RegExp(
        `^${name}\\{route="${route}",tier="${tier.replace(/[()]/g, '\\$&')}"\\} (\\d+)$`,
        'm',
      ).exec(text);
      return m ? Number(m[1]) : undefined;
    };
    assert.equal(value('portico_rate_limit_allowed_total', 'seed-bucket', '(none)'), 4);
    assert.equal(value('portico_rate_limit_rejected_total', 'seed-bucket', '(none)'), 1);
    assert.equal(value('portico_rate_limit_allowed_total', 'tiered', 'anonymous'), 2);
    assert.equal(value('portico_rate_limit_rejected_total', 'tiered', 'anonymous'), 1);
    assert.equal(value('portico_rate_limit_allowed_total', 'tiered', 'free'), 3);
    assert.equal(value('portico_rate_limit_allowed_total', 'tiered', 'pro'), 6);
    assert.equal(value('portico_rate_limit_rejected_total', 'tiered', 'pro'), 1);
  });

  it('routes without rate_limit send no RateLimit fields', async () => {
    const res = await fetch(`${gw.url}/nowhere`);
    await res.text();
    assert.equal(res.headers.get('ratelimit-policy'), null);
  });
});
