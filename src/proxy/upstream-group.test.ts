// The upstream group's own rules, without traffic: who is in service (passive ejection capped by
// max_ejected_percent), panic mode, host names re-resolved into one endpoint per address (kept, added and
// retired as answers change, the last good answer kept on failure), breakers that half-open on time and
// stop when the group closes, and the admin snapshot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { UpstreamConfig } from '../config/upstream-schema.js';
import type { BreakerTimer } from './resilience/circuit-breaker.js';
import { UpstreamGroup, type UpstreamEvents } from './upstream-group.js';

const POOL = { connectTimeoutMs: 1000, keepAliveTimeoutMs: 1000, connections: undefined };

function config(over: Partial<UpstreamConfig> & Pick<UpstreamConfig, 'targets'>): UpstreamConfig {
  return {
    balance: 'round-robin',
    hash_on: 'ip',
    connect_timeout_ms: 1000,
    keep_alive_timeout_ms: 1000,
    resolve_interval_ms: 0,
    max_ejected_percent: 50,
    ...over,
  };
}

const targets = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ url: `http://127.0.0.1:${4100 + i}`, weight: 1 }));
const none = () => false;

describe('UpstreamGroup', () => {
  it('passive ejection takes a failing target out, capped by max_ejected_percent', async () => {
    const events: string[] = [];
    const g = new UpstreamGroup({
      name: 'u',
      pool: POOL,
      config: config({
        targets: targets(4),
        passive_health: { consecutive_failures: 2, base_ejection_ms: 60_000, max_ejection_ms: 60_000 },
      }),
      events: { ejected: (t) => events.push('ejected ' + t), panic: () => events.push('panic') },
    });
    try {
      const [a, b, c] = g.endpoints;
      for (const e of [a!, a!, b!, b!, c!, c!]) g.report(e, false);
      // 4 targets at 50 %: two out at most; the third failing target stays in service.
      const picked = new Set(Array.from({ length: 8 }, () => g.pick(none, undefined)!.label));
      assert.deepEqual([...picked].sort(), ['http://127.0.0.1:4102', 'http://127.0.0.1:4103']);
      assert.deepEqual(events.slice(0, 2), [
        'ejected http://127.0.0.1:4100',
        'ejected http://127.0.0.1:4101',
      ]);
      const snap = g.snapshot() as { targets: { in_service: boolean }[] };
      assert.deepEqual(
        snap.targets.map((t) => t.in_service),
        [false, false, true, true],
      );
    } finally {
      await g.close();
    }
  });

  it('panic mode: with every target out, requests still go to them, counted', async () => {
    let panics = 0;
    const g = new UpstreamGroup({
      name: 'u',
      pool: POOL,
      config: config({
        targets: targets(2),
        max_ejected_percent: 100,
        passive_health: { consecutive_failures: 1, base_ejection_ms: 60_000, max_ejection_ms: 60_000 },
      }),
      events: { panic: () => panics++ },
    });
    try {
      for (const e of g.endpoints) g.report(e, false);
      const got = [g.pick(none, undefined)!.label, g.pick(none, undefined)!.label].sort();
      assert.deepEqual(got, ['http://127.0.0.1:4100', 'http://127.0.0.1:4101']);
      assert.equal(panics, 2);
      // Skipping every endpoint leaves nothing, even in panic mode.
      assert.equal(
        g.pick(() => true, undefined),
        undefined,
      );
    } finally {
      await g.close();
    }
  });

  it('re-resolves host names: one endpoint per address, unchanged ones kept, the last good answer kept', async () => {
    const answers: (string[] | Error)[] = [
      ['10.0.0.1', '10.0.0.2'],
      ['10.0.0.2', '10.0.0.3'],
      new Error('SERVFAIL'),
    ];
    const seen: string[] = [];
    const events: UpstreamEvents = {
      resolved: (t, addrs, err) => seen.push(`${t} ${addrs.join(',')}${err ? ' ' + err : ''}`),
    };
    let calls = 0;
    const g = new UpstreamGroup({
      name: 'u',
      pool: POOL,
      config: config({
        targets: [
          { url: 'https://orders.internal:8443/api', weight: 2 },
          { url: 'http://127.0.0.1:4100', weight: 1 },
        ],
        resolve_interval_ms: 40,
      }),
      events,
      resolve: async (host) => {
        assert.equal(host, 'orders.internal');
        const a = answers[Math.min(calls++, answers.length - 1)]!;
        if (a instanceof Error) throw a;
        return a;
      },
    });
    try {
      assert.deepEqual(
        g.endpoints.map((e) => e.origin),
        ['https://orders.internal:8443', 'http://127.0.0.1:4100'],
        'before the first answer: the name itself',
      );
      g.start();
      const waitFor = async (n: number) => {
        for (let i = 0; i < 100 && calls < n; i++) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 10));
      };
      await waitFor(1);
      assert.deepEqual(
        g.endpoints.map((e) => [e.origin, e.hostHeader, e.basePath, e.weight]),
        [
          ['https://10.0.0.1:8443', 'orders.internal:8443', '/api', 2],
          ['https://10.0.0.2:8443', 'orders.internal:8443', '/api', 2],
          ['http://127.0.0.1:4100', '127.0.0.1:4100', '', 1],
        ],
      );
      const kept = g.endpoints[1]!;
      await waitFor(2);
      assert.deepEqual(
        g.endpoints.map((e) => e.origin),
        ['https://10.0.0.2:8443', 'https://10.0.0.3:8443', 'http://127.0.0.1:4100'],
      );
      assert.equal(
        g.endpoints[0],
        kept,
        'an address still in the answer keeps its endpoint (and connections)',
      );
      await waitFor(4);
      assert.equal(g.endpoints.length, 3, 'a failed lookup keeps the last good answer');
      assert.deepEqual(seen.slice(0, 3), [
        'https://orders.internal:8443 10.0.0.1,10.0.0.2',
        'https://orders.internal:8443 10.0.0.2,10.0.0.3',
        'https://orders.internal:8443 10.0.0.2,10.0.0.3 SERVFAIL',
      ]);
      assert.match(g.endpoints[0]!.label, /^https:\/\/orders\.internal:8443 \(10\.0\.0\.2\)$/);
    } finally {
      await g.close();
    }
  });

  for (const perTarget of [false, true]) {
    it(`breakers${perTarget ? ' per target' : ''} half-open on time (events and admin view agree) and stop when the group closes`, async () => {
      const clock = { t: 0 };
      const timers = new Map<number, { at: number; fn: () => void }>();
      let ids = 0;
      const timer: BreakerTimer = {
        set(fn, ms) {
          timers.set(++ids, { at: clock.t + ms, fn });
          return ids;
        },
        clear(h) {
          timers.delete(h as number);
        },
      };
      /** Moves the fake clock and fires the timers that are due. */
      const advance = (ms: number) => {
        clock.t += ms;
        for (const [id, p] of [...timers]) {
          if (p.at > clock.t) continue;
          timers.delete(id);
          p.fn();
        }
      };
      const events: string[] = [];
      const g = new UpstreamGroup({
        name: 'u',
        pool: POOL,
        config: config({
          targets: targets(2),
          circuit_breaker: {
            failure_ratio: 1,
            min_requests: 100,
            window_ms: 10_000,
            consecutive_failures: 1,
            open_ms: 1000,
            half_open_requests: 1,
            per_target: perTarget,
          },
        }),
        events: { circuit: (target, from, to, reason) => events.push(`${target} ${from}>${to} ${reason}`) },
        breakerClock: { now: () => clock.t, timer },
      });
      const breakers = perTarget ? g.endpoints.map((e) => e.breaker!) : [g.breaker!];
      const label = (i: number) => (perTarget ? g.endpoints[i]!.label : '(all)');
      type View = { circuit?: { state: string }; targets: { circuit?: { state: string } }[] };
      const states = () => {
        const v = g.snapshot() as View;
        return perTarget ? v.targets.map((t) => t.circuit?.state) : [v.circuit?.state];
      };
      try {
        for (const b of breakers) b.acquire()!.failure();
        assert.equal(timers.size, breakers.length, 'one timer per open breaker');
        advance(1000);
        assert.deepEqual(events, [
          ...breakers.map((_, i) => `${label(i)} closed>open consecutive_failures`),
          ...breakers.map((_, i) => `${label(i)} open>half_open open_elapsed`),
        ]);
        assert.deepEqual(
          states(),
          breakers.map(() => 'half_open'),
        );

        for (const b of breakers) b.acquire()!.failure(); // the probes fail: open again
        assert.equal(timers.size, breakers.length);
        await g.close();
        assert.equal(timers.size, 0, 'closing the group (a reload retiring it) clears its breaker timers');
        const before = events.length;
        advance(60_000);
        assert.equal(events.length, before, 'a retired group’s breaker changed state on its own');
      } finally {
        await g.close();
      }
    });
  }

  it('localhost and IP addresses are never re-resolved', async () => {
    let calls = 0;
    const g = new UpstreamGroup({
      name: 'u',
      pool: POOL,
      config: config({
        targets: [
          { url: 'http://localhost:4100', weight: 1 },
          { url: 'http://[::1]:4101', weight: 1 },
        ],
        resolve_interval_ms: 10,
      }),
      resolve: async () => {
        calls++;
        return ['10.9.9.9'];
      },
    });
    g.start();
    await new Promise((r) => setTimeout(r, 50));
    await g.close();
    assert.equal(calls, 0);
  });

  it('a bad expected_statuses entry is refused when the group is built', () => {
    assert.throws(
      () =>
        new UpstreamGroup({
          name: 'u',
          pool: POOL,
          config: config({
            targets: targets(1),
            health_check: {
              path: '/h',
              interval_ms: 1000,
              timeout_ms: 100,
              healthy_after: 1,
              unhealthy_after: 1,
              method: 'GET',
              expected_statuses: ['299-200'],
            },
          }),
        }),
    );
  });
});
