// E2E target health against real upstream processes with switchable /healthz: active checks take a target
// out after unhealthy_after failed probes and back after healthy_after, passive health ejects on repeated
// failures, max_ejected_percent keeps enough targets in service, and panic mode still serves when every
// target is out. Requests are counted on the targets themselves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const CHECK = '{ path: /healthz, interval_ms: 50, timeout_ms: 200, unhealthy_after: 3, healthy_after: 2 }';

interface TargetView {
  target: string;
  in_service: boolean;
}

describe('resilience: health', () => {
  let a: FaultUpstream;
  let b: FaultUpstream;
  let c: FaultUpstream;
  let gw: TestGateway;

  before(async () => {
    [a, b, c] = await Promise.all([
      startFaultUpstream({ name: 'A' }),
      startFaultUpstream({ name: 'B' }),
      startFaultUpstream({ name: 'C' }),
    ]);
    gw = await startTestGateway(`
upstreams:
  checked:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    health_check: ${CHECK}
  capped:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    health_check: ${CHECK}
  panicky:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    health_check: ${CHECK}
    max_ejected_percent: 100
  passive:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }, { url: "${c.url}" }]
    passive_health: { consecutive_failures: 3, base_ejection_ms: 10000 }
    max_ejected_percent: 34
routes:
  - { name: checked, path_prefix: /checked, upstream: checked }
  - { name: capped, path_prefix: /capped, upstream: capped }
  - { name: panicky, path_prefix: /panicky, upstream: panicky }
  - { name: passive, path_prefix: /passive, upstream: passive }
`);
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([a, b, c].map((u) => u?.stop()));
  });

  const inService = async (name: string): Promise<boolean[]> =>
    (
      (await (await fetch(`${gw.adminUrl}/upstreams/${name}`)).json()) as { targets: TargetView[] }
    ).targets.map((t) => t.in_service);
  async function waitForService(name: string, want: readonly boolean[], timeoutMs = 3000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const got = await inService(name);
      if (got.join() === want.join()) return;
      assert.ok(performance.now() < deadline, `${name}: in service ${got.join()}, wanted ${want.join()}`);
      await sleep(20);
    }
  }
  /** `n` sequential GETs of `path`; every one must be answered 200. */
  async function send(path: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const res = await fetch(gw.url + path);
      assert.equal(res.status, 200, await res.text());
      await res.arrayBuffer().catch(() => undefined);
    }
  }
  const served = async (u: FaultUpstream, path: string) => (await u.stats()).byPath[path] ?? 0;
  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();

  it('active checks take a target out after unhealthy_after (3) failed probes and back after healthy_after (2)', async () => {
    await a.setHealth('unhealthy');
    await waitForService('checked', [false, true]);
    const down = gw.logs.find(
      (l) => l.event === 'target_unhealthy' && l.upstream === 'checked' && l.target === a.url,
    );
    assert.match(String(down?.reason), /^3 consecutive failed probes; /);
    assert.ok(
      (await scrape()).includes(`portico_upstream_target_healthy{upstream="checked",target="${a.url}"} 0`),
    );
    await send('/checked/down', 20);
    assert.equal(await served(a, '/checked/down'), 0, 'an unhealthy target got requests');
    assert.equal(await served(b, '/checked/down'), 20);

    await a.setHealth('healthy');
    await waitForService('checked', [true, true]);
    const up = gw.logs.find(
      (l) => l.event === 'target_healthy' && l.upstream === 'checked' && l.target === a.url,
    );
    assert.match(String(up?.reason), /^2 consecutive successful probes; /);
    assert.ok(
      (await scrape()).includes(`portico_upstream_target_healthy{upstream="checked",target="${a.url}"} 1`),
    );
    await send('/checked/up', 20);
    assert.equal(await served(a, '/checked/up'), 10);
  });

  describe('every target unhealthy', () => {
    before(async () => {
      await Promise.all([a.setHealth('unhealthy'), b.setHealth('unhealthy')]);
      await waitForService('panicky', [false, false]);
    });
    after(async () => {
      await Promise.all([a?.setHealth('healthy'), b?.setHealth('healthy')]);
    });

    it('max_ejected_percent (50) keeps one of two in service, and it takes all the traffic', async () => {
      await waitForService('capped', [false, true]);
      await send('/capped/x', 20);
      assert.deepEqual([await served(a, '/capped/x'), await served(b, '/capped/x')], [0, 20]);
      assert.equal(
        /^portico_upstream_panic_total\{upstream="capped"\} [1-9]/m.test(await scrape()),
        false,
        'a capped upstream is not in panic',
      );
    });

    it('panic mode: with no target in service requests still go to all of them and succeed', async () => {
      await send('/panicky/x', 20);
      assert.deepEqual([await served(a, '/panicky/x'), await served(b, '/panicky/x')], [10, 10]);
      assert.match(await scrape(), /^portico_upstream_panic_total\{upstream="panicky"\} 20$/m);
      const warned = gw.logs.filter((l) => l.event === 'upstream_panic' && l.upstream === 'panicky');
      assert.equal(warned.length, 1, 'the panic warning is rate-limited to one per 10 s');
      assert.equal(warned[0]?.level, 'warn');
    });
  });

  it('passive health ejects after 3 failures in a row, but max_ejected_percent (34 of 3) leaves the next in', async () => {
    await Promise.all([a.setMode('status', { status: 503 }), b.setMode('status', { status: 503 })]);
    await Promise.all([a, b, c].map((u) => u.resetStats()));
    // Round-robin: A and B fail every request they get; A's third failure ejects it, B's cannot take it out.
    for (let i = 0; i < 12; i++) await (await fetch(`${gw.url}/passive/warmup`)).arrayBuffer();
    assert.deepEqual(await inService('passive'), [false, true, true]);
    const hitsA = await served(a, '/passive/warmup');
    assert.equal(hitsA, 3, 'ejected after exactly consecutive_failures');

    for (let i = 0; i < 30; i++) await (await fetch(`${gw.url}/passive/after`)).arrayBuffer();
    const [sa, sb, sc] = await Promise.all([a, b, c].map((u) => served(u, '/passive/after')));
    assert.equal(sa, 0, 'the ejected target got requests');
    assert.deepEqual([sb, sc], [15, 15], 'the failing target over the cap must stay in service');
    // Only A was ejected: B, over the cap, is neither reported out of service nor counted.
    const m = await scrape();
    assert.ok(m.includes(`portico_upstream_ejections_total{upstream="passive",target="${a.url}"} 1`));
    assert.ok(!m.includes(`portico_upstream_ejections_total{upstream="passive",target="${b.url}"}`));
    assert.deepEqual(
      gw.logs.filter((l) => l.event === 'target_ejected').map((l) => l.target),
      [a.url],
    );
    await Promise.all([a.setMode('ok'), b.setMode('ok')]);
  });
});
