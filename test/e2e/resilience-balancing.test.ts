// E2E load balancing over real upstream processes, counting what each one served: weighted round-robin
// is exact, least-pending steers around a slow target, hash keeps each key on one target and spreads keys
// evenly, and a target taken out of service (passive ejection) gets nothing until it is back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** Runs `total` jobs with at most `concurrency` at once; results in job order. */
async function pool<T>(total: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return out;
}

interface TargetView {
  target: string;
  in_service: boolean;
  ejection?: { ejected: boolean };
}

describe('resilience: load balancing', () => {
  let a: FaultUpstream;
  let b: FaultUpstream;
  let gw: TestGateway;

  before(async () => {
    [a, b] = await Promise.all([startFaultUpstream({ name: 'A' }), startFaultUpstream({ name: 'B' })]);
    gw = await startTestGateway(`
upstreams:
  weighted:
    targets: [{ url: "${a.url}", weight: 3 }, { url: "${b.url}", weight: 1 }]
  least:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    balance: least-pending
  hashed:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    balance: hash
    hash_on: header:X-User
  ejecting:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    passive_health: { consecutive_failures: 3, base_ejection_ms: 1000 }
    retries: { attempts: 1, backoff_ms: 1, budget_min_per_second: 1000 }
routes:
  - { name: weighted, path_prefix: /weighted, upstream: weighted }
  - { name: least, path_prefix: /least, upstream: least }
  - { name: hashed, path_prefix: /hashed, upstream: hashed }
  - { name: ejecting, path_prefix: /ejecting, upstream: ejecting }
`);
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([a, b].map((u) => u?.stop()));
  });

  /** GET through the gateway; the name of the target that answered. */
  async function served(path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await fetch(gw.url + path, { headers });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    return (JSON.parse(body) as { server: string }).server;
  }
  const count = (names: readonly string[], name: string) => names.filter((n) => n === name).length;
  const targets = async (name: string) =>
    ((await (await fetch(`${gw.adminUrl}/upstreams/${name}`)).json()) as { targets: TargetView[] }).targets;

  it('round-robin with weights 3:1 over 400 requests: exactly 300 and 100, counted by the targets', async () => {
    const names = await pool(400, 8, () => served('/weighted/x'));
    const [sa, sb] = await Promise.all([a.stats(), b.stats()]);
    assert.equal(sa.byPath['/weighted/x'], 300);
    assert.equal(sb.byPath['/weighted/x'], 100);
    assert.deepEqual([count(names, 'A'), count(names, 'B')], [300, 100]);
  });

  it('least-pending: with one target slow, concurrent requests go mostly to the fast one', async (t) => {
    // 1 s: the slow target keeps about half the 8 requests in flight, each for delayMs, while the fast one
    // answers as fast as the machine lets it. At 200 ms a machine busy enough to slow every answer to tens
    // of ms gave the slow target 52 of 200 requests; at 1 s that takes answers five times slower still.
    await a.setMode('slow', { delayMs: 1000 });
    try {
      const names = await pool(200, 8, () => served('/least/x'));
      const toB = count(names, 'B');
      // Round-robin would give the slow target 100; fewest-in-flight leaves it a handful.
      assert.ok(toB >= 160, `fast target got ${toB} of 200`);
      assert.equal((await b.stats()).byPath['/least/x'], toB);
      t.diagnostic(`least-pending: fast ${toB}, slow ${200 - toB} of 200`);
    } finally {
      await a.setMode('ok');
    }
  });

  it('hash on header:X-User: each user always lands on the same target; 200 users spread over both', async (t) => {
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const first = await pool(users.length, 16, (i) => served('/hashed/x', { 'X-User': users[i]! }));
    const again = await pool(users.length, 16, (i) => served('/hashed/y', { 'X-User': users[i]! }));
    const third = await pool(users.length, 16, (i) => served('/hashed/z', { 'X-User': users[i]! }));
    const moved = users.filter((_, i) => first[i] !== again[i] || first[i] !== third[i]);
    assert.deepEqual(moved, [], 'users moved between targets');
    const onA = count(first, 'A');
    assert.ok(onA >= 60 && onA <= 140, `${onA} of 200 users on A`);
    // Without the key: round-robin.
    const keyless = await pool(10, 1, () => served('/hashed/keyless'));
    assert.deepEqual([count(keyless, 'A'), count(keyless, 'B')], [5, 5]);
    t.diagnostic(`hash: ${onA} users on A, ${200 - onA} on B`);
  });

  it('a refused target is ejected after 3 failures and gets no request until its ejection ends', async () => {
    await a.refuse();
    let tries = 0;
    for (; tries < 12; tries++) {
      assert.equal(await served(`/ejecting/${tries}`), 'B', 'the retry on the other target failed');
      if ((await targets('ejecting'))[0]?.ejection?.ejected) break;
    }
    assert.ok(tries < 12, 'never ejected');
    assert.equal((await targets('ejecting'))[0]?.in_service, false);
    const ejectedAt = performance.now();
    // It answers again, but is still ejected: nothing may reach it.
    await a.accept();
    await a.resetStats();
    const during = await pool(20, 4, () => served('/ejecting/during'));
    assert.ok(performance.now() - ejectedAt < 1000, 'too slow to observe the ejection');
    assert.equal(count(during, 'B'), 20);
    assert.equal((await a.stats()).hits, 0, 'an ejected target got requests');

    // Back after base_ejection_ms (1 s): the admin view says so, and it shares the load again.
    const deadline = performance.now() + 3000;
    while (!(await targets('ejecting'))[0]?.in_service) {
      assert.ok(performance.now() < deadline, 'the ejected target never came back');
      await sleep(50);
    }
    const back = await pool(20, 1, () => served('/ejecting/back'));
    assert.ok(count(back, 'A') >= 8, `the returned target got ${count(back, 'A')} of 20`);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.ok(
      metrics.includes(`portico_upstream_ejections_total{upstream="ejecting",target="${a.url}"} 1`),
      'ejection not counted',
    );
    assert.ok(gw.logs.some((l) => l.event === 'target_ejected' && l.target === a.url));
    assert.ok(gw.logs.some((l) => l.event === 'target_returned' && l.target === a.url));
  });
});
