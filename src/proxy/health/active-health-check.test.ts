// Active health checks against real upstreams on loopback through real undici Pools: flips after exact probe
// counts, deadlines that leave no socket behind, refused ports, what a probe sends, and a stop that stops.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, type Dispatcher } from 'undici';
import { closedPort, startUpstream, type TestUpstream } from '../../../test/helpers/upstream.js';
import {
  createActiveHealthCheck,
  expectedStatuses,
  type ActiveHealthCheck,
  type ActiveHealthCheckOptions,
  type HealthSnapshot,
} from './active-health-check.js';

const INTERVAL_MS = 40;

interface Change {
  readonly index: number;
  readonly healthy: boolean;
  readonly reason: string;
}
interface ProbeReport {
  readonly index: number;
  readonly ok: boolean;
  readonly detail: string;
  readonly durationMs: number;
}

interface Rig {
  readonly check: ActiveHealthCheck;
  readonly pools: readonly Pool[];
  readonly changes: Change[];
  readonly probes: ProbeReport[];
  /** Per target, the most probe requests the checker had unfinished at once. */
  mostInFlight(): readonly number[];
}

/**
 * A checker over `origins`, each through its own Pool, recording what it reports (the given listeners are
 * called too); stopped, with its pools and `upstreams` closed, when the test ends however it ends.
 */
function rig(
  t: TestContext,
  origins: readonly string[],
  upstreams: readonly TestUpstream[],
  options: Partial<ActiveHealthCheckOptions> = {},
): Rig {
  const pools = origins.map((origin) => new Pool(origin, { connectTimeout: 1000 }));
  const counted = pools.map(countInFlight);
  const changes: Change[] = [];
  const probes: ProbeReport[] = [];
  const check = createActiveHealthCheck(
    origins.map((origin, i) => ({
      origin,
      hostHeader: new URL(origin).host,
      dispatcher: counted[i]!.dispatcher,
    })),
    {
      path: '/healthz',
      intervalMs: INTERVAL_MS,
      timeoutMs: 1000,
      healthyAfter: 2,
      unhealthyAfter: 3,
      isExpectedStatus: expectedStatuses(undefined),
      ...options,
      onChange: (index, healthy, reason) => {
        changes.push({ index, healthy, reason });
        options.onChange?.(index, healthy, reason);
      },
      onProbe: (index, ok, detail, durationMs) => {
        probes.push({ index, ok, detail, durationMs });
        options.onProbe?.(index, ok, detail, durationMs);
      },
    },
  );
  t.after(async () => {
    await within(2000, check.stop());
    // close() waits for requests still queued: bounded, so a leak fails the test instead of hanging it.
    await Promise.all(pools.map((pool) => within(1000, pool.close()).catch(() => pool.destroy())));
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });
  return { check, pools, changes, probes, mostInFlight: () => counted.map((c) => c.most) };
}

/** Wraps a pool's request() to count the requests it has not finished (headers and body) at once. */
function countInFlight(pool: Pool): { readonly dispatcher: Dispatcher; readonly most: number } {
  let inFlight = 0;
  const counter = { most: 0, dispatcher: pool as Dispatcher };
  const done = (): number => inFlight--;
  counter.dispatcher = {
    request: async (opts: Dispatcher.RequestOptions) => {
      counter.most = Math.max(counter.most, ++inFlight);
      try {
        const res = await pool.request(opts);
        res.body.once('close', done);
        return res;
      } catch (err) {
        done();
        throw err;
      }
    },
  } as unknown as Dispatcher;
  return counter;
}

async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  const timeout = sleep(ms, undefined, { ref: false }).then(() => {
    throw new Error(`not done within ${ms} ms`);
  });
  return Promise.race([work, timeout]);
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(5);
  }
}

/** What a server saw: connections opened, open now, and the sockets probes came on. */
interface Traffic {
  opened: number;
  open: number;
  readonly probeSockets: Socket[];
}

function traffic(server: http.Server): Traffic {
  const seen: Traffic = { opened: 0, open: 0, probeSockets: [] };
  server.on('connection', (socket) => {
    seen.opened++;
    seen.open++;
    socket.on('close', () => seen.open--);
  });
  server.on('request', (req: http.IncomingMessage) => seen.probeSockets.push(req.socket));
  return seen;
}

/** Every socket that carried a probe has been closed (by the client: these servers never close first). */
const probeSocketsClosed = (seen: Traffic) => (): boolean => seen.probeSockets.every((s) => s.destroyed);

describe('createActiveHealthCheck', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no probe may reject unhandled');
  });

  it('keeps a target that answers 200 healthy, reusing one connection', async (t) => {
    const upstream = await startUpstream();
    const seen = traffic(upstream.server);
    const { check, changes, probes } = rig(t, [upstream.url], [upstream]);
    assert.equal(check.healthy(0), true, 'healthy before the first probe');
    check.start();
    await waitFor('4 probes', () => probes.length >= 4);
    assert.equal(check.healthy(0), true);
    assert.deepEqual(changes, []);
    assert.ok(probes.every((p) => p.ok && p.detail === 'status 200'));
    const snap: HealthSnapshot = check.snapshot(0);
    assert.equal(snap.consecutiveFailures, 0);
    assert.ok(snap.consecutiveSuccesses >= 4);
    assert.deepEqual([snap.lastStatus, snap.lastError], [200, null]);
    assert.ok(snap.lastCheckedAt !== null && Date.now() - snap.lastCheckedAt < 1000);
    assert.ok(upstream.received.every((r) => r.method === 'GET' && r.url === '/healthz'));
    assert.equal(seen.opened, 1);
  });

  it('flips after exactly unhealthyAfter failures and healthyAfter successes, per target', async (t) => {
    const steady = await startUpstream();
    let status = 200;
    const served: number[] = [];
    const flaky = await startUpstream((_req, res) => {
      served.push(status);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'down');
    });
    const at: { healthy: boolean; served: number; snapshot: HealthSnapshot }[] = [];
    const { check, changes } = rig(t, [steady.url, flaky.url], [steady, flaky], {
      unhealthyAfter: 3,
      healthyAfter: 2,
      // Both switches happen inside the callbacks, between probes, so the counts are exact.
      onProbe: (index) => {
        if (index === 1 && served.length === 2) status = 503;
      },
      onChange: (index, healthy) => {
        at.push({ healthy: check.healthy(index), served: served.length, snapshot: check.snapshot(index) });
        if (!healthy) status = 200;
      },
    });
    check.start();
    await waitFor('two flips', () => changes.length >= 2);
    await waitFor('3 more probes', () => served.length >= 10);
    assert.deepEqual(served.slice(0, 7), [200, 200, 503, 503, 503, 200, 200]);
    assert.deepEqual(changes, [
      { index: 1, healthy: false, reason: '3 consecutive failed probes; last: unexpected status 503' },
      { index: 1, healthy: true, reason: '2 consecutive successful probes; last: status 200' },
    ]);
    assert.deepEqual(
      at.map((a) => [a.healthy, a.served]),
      [
        [false, 5],
        [true, 7],
      ],
    );
    const { lastCheckedAt: _down, ...down } = at[0]!.snapshot;
    assert.deepEqual(down, {
      healthy: false,
      consecutiveSuccesses: 0,
      consecutiveFailures: 3,
      lastError: 'unexpected status 503',
      lastStatus: 503,
    });
    assert.equal(check.healthy(0), true);
  });

  it('fails a stalled endpoint after timeoutMs, one socket at a time, none left after stop()', async (t) => {
    const stalled = await startUpstream(() => undefined);
    const seen = traffic(stalled.server);
    const { check, pools, changes, probes, mostInFlight } = rig(t, [stalled.url], [stalled], {
      timeoutMs: 150,
      unhealthyAfter: 2,
    });
    check.start();
    await waitFor('the flip', () => changes.length === 1);
    assert.deepEqual(changes, [
      { index: 0, healthy: false, reason: '2 consecutive failed probes; last: timed out after 150 ms' },
    ]);
    assert.ok(probes.every((p) => !p.ok && p.durationMs >= 140 && p.durationMs < 1000));
    assert.deepEqual(mostInFlight(), [1], 'never two probes in flight');
    await within(1000, check.stop());
    await waitFor('every probe socket closed', probeSocketsClosed(seen), 1000);
    // undici reconnects once after an aborted request (nodejs/undici#5845): an idle socket the pool owns.
    await within(1000, pools[0]!.close());
    await waitFor('no connection left', () => seen.open === 0, 1000);
  });

  it('times out a body that stalls after the headers', async (t) => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    const seen = traffic(upstream.server);
    const { check, probes } = rig(t, [upstream.url], [upstream], { timeoutMs: 500 });
    check.start();
    await waitFor('a probe', () => probes.length >= 1);
    assert.deepEqual(
      [probes[0]?.ok, probes[0]?.detail, check.snapshot(0).lastStatus],
      [false, 'timed out after 500 ms reading the body (status 200)', 200],
    );
    await waitFor('its socket closed', () => seen.probeSockets[0]?.destroyed === true, 1000);
  });

  it('drains a body of 64 KiB and keeps the connection; drops the connection of a larger one', async (t) => {
    const sizes = [64 * 1024, 64 * 1024 + 1];
    const upstreams = await Promise.all(
      sizes.map((size) =>
        startUpstream((_req, res) => {
          res.on('error', () => undefined);
          res.writeHead(200, { 'content-length': size });
          res.end(Buffer.alloc(size, 'x'));
        }),
      ),
    );
    const seen = upstreams.map((u) => traffic(u.server));
    const { check, probes } = rig(
      t,
      upstreams.map((u) => u.url),
      upstreams,
    );
    check.start();
    await waitFor('3 probes each', () => seen.every((s) => s.probeSockets.length >= 3));
    await waitFor('their verdicts', () =>
      [0, 1].every((i) => probes.filter((p) => p.index === i).length >= 3),
    );
    assert.ok(probes.every((p) => p.ok));
    const socketsUsed = seen.map((s) => new Set(s.probeSockets).size / s.probeSockets.length);
    assert.deepEqual(
      socketsUsed.map((share, i) => (i === 0 ? share < 1 : share === 1)),
      [true, true],
    );
    assert.equal(seen[0]!.opened, 1, 'one kept-alive connection for every probe');
  });

  it('waits for a dispatcher that ignores the abort before probing again', async (t) => {
    const calls: number[] = [];
    let settled = 0;
    const started = performance.now();
    // Like undici while connecting: the signal is honoured only once the request is on a socket (#386).
    const connecting = {
      request: async (): Promise<never> => {
        calls.push(performance.now() - started);
        await sleep(300);
        settled++;
        throw Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
      },
    } as unknown as Dispatcher;
    const changes: boolean[] = [];
    const probes: string[] = [];
    const check = createActiveHealthCheck(
      [{ origin: 'http://192.0.2.1', hostHeader: 'x', dispatcher: connecting }],
      {
        ...baseOptions(),
        timeoutMs: 100,
        onChange: (_i, healthy) => changes.push(healthy),
        onProbe: (_i, _ok, detail) => probes.push(`${detail}; settled: ${settled}`),
      },
    );
    t.after(() => check.stop());
    check.start();
    await waitFor('the second probe', () => calls.length >= 2);
    assert.deepEqual(probes, ['timed out after 100 ms; settled: 0'], 'the verdict does not wait for it');
    assert.deepEqual(changes, [false]);
    assert.ok(calls[1]! - calls[0]! >= 300 + INTERVAL_MS * 0.9 - 5, `second probe at ${calls[1]} ms`);
    await within(1000, check.stop());
    const stoppedAt = performance.now() - started;
    assert.ok(stoppedAt >= calls[1]! + 295, `stop() waits for the request to settle (${stoppedAt} ms)`);
    assert.equal(calls.length, 2);
  });

  it('fails on a refused port, a reset before or during the response, and a server gone away', async (t) => {
    const goingAway = await startUpstream();
    const resetting = await startUpstream((req) => void req.socket.destroy());
    const cutOff = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('partial', () => res.destroy());
    });
    const refused = `http://127.0.0.1:${await closedPort()}`;
    const origins = [goingAway.url, refused, resetting.url, cutOff.url];
    const { check, changes, probes } = rig(t, origins, [goingAway, resetting, cutOff], { unhealthyAfter: 2 });
    check.start();
    await waitFor('three flips', () => changes.length === 3);
    const reasons = new Map(changes.map((c) => [c.index, c.reason]));
    assert.match(
      reasons.get(1) ?? '',
      /^2 consecutive failed probes; last: connect ECONNREFUSED 127\.0\.0\.1:/,
    );
    assert.match(
      reasons.get(2) ?? '',
      /^2 consecutive failed probes; last: other side closed \(UND_ERR_SOCKET\)$/,
    );
    assert.match(reasons.get(3) ?? '', /last: status 200, then the body failed: other side closed/);
    assert.deepEqual(
      [1, 2, 3].map((i) => check.snapshot(i).lastStatus),
      [null, null, 200],
    );
    await waitFor('a probe of the live server', () => probes.some((p) => p.index === 0 && p.ok));
    await within(2000, goingAway.close());
    await waitFor('the closed server to flip', () => changes.length === 4);
    assert.deepEqual([changes[3]?.index, changes[3]?.healthy], [0, false]);
    assert.match(check.snapshot(0).lastError ?? '', /ECONNREFUSED/);
  });

  it('sends the method, path with query, Host and configured headers', async (t) => {
    const upstream = await startUpstream();
    const other = await startUpstream();
    const pools = [new Pool(upstream.url), new Pool(other.url)];
    const checks = [
      createActiveHealthCheck(
        [{ origin: upstream.url, hostHeader: 'api.internal:8443', dispatcher: pools[0]! }],
        {
          ...baseOptions(),
          method: 'HEAD',
          path: '/healthz?deep=1',
          headers: { 'x-probe': 'portico', 'User-Agent': 'portico-health' },
        },
      ),
      createActiveHealthCheck([{ origin: other.url, hostHeader: 'ignored', dispatcher: pools[1]! }], {
        ...baseOptions(),
        headers: { Host: 'override.example' },
      }),
    ];
    t.after(async () => {
      await within(2000, Promise.all(checks.map((c) => c.stop())));
      await within(2000, Promise.all(pools.map((p) => p.close())));
      await Promise.all([upstream.close(), other.close()]);
    });
    for (const c of checks) c.start();
    await waitFor('both probes', () => upstream.received.length >= 1 && other.received.length >= 1);
    const [head, overridden] = [upstream.received[0]!, other.received[0]!];
    assert.deepEqual(
      [head.method, head.url, head.headers.host, head.headers['x-probe'], head.headers['user-agent']],
      ['HEAD', '/healthz?deep=1', 'api.internal:8443', 'portico', 'portico-health'],
    );
    assert.equal(overridden.headers.host, 'override.example');
    for (const r of [head, overridden])
      assert.equal(r.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host').length, 1);
    await waitFor('the HEAD probe verdict', () => checks[0]!.snapshot(0).lastStatus === 200);
  });

  it('start() and stop() are idempotent; nothing is probed after stop(), and start() resumes', async (t) => {
    const upstream = await startUpstream();
    const once = await startUpstream();
    const { check } = rig(t, [upstream.url], [upstream]);
    const slow = rig(t, [once.url], [once], { intervalMs: 60_000 }).check;
    slow.start();
    slow.start();
    await waitFor('the first probe', () => once.received.length >= 1);
    await sleep(100);
    assert.equal(once.received.length, 1, 'one probe right away, not one per start()');
    check.start();
    await waitFor('3 probes', () => upstream.received.length >= 3);
    await Promise.all([check.stop(), check.stop()]);
    await check.stop();
    const probed = upstream.received.length;
    await sleep(INTERVAL_MS * 5);
    assert.equal(upstream.received.length, probed);
    check.start();
    await waitFor('probing again', () => upstream.received.length >= probed + 2);
  });

  it('aborts a probe in flight on stop() without reporting it', async (t) => {
    const stalled = await startUpstream(() => undefined);
    const seen = traffic(stalled.server);
    const { check, probes } = rig(t, [stalled.url], [stalled], { timeoutMs: 10_000 });
    check.start();
    await waitFor('the probe to arrive', () => stalled.received.length === 1);
    await within(500, check.stop());
    await waitFor('its socket closed', probeSocketsClosed(seen), 1000);
    assert.deepEqual(probes, []);
    assert.equal(check.snapshot(0).lastCheckedAt, null);
  });

  it('rejects bad options with every problem named', () => {
    const bad: readonly [Partial<ActiveHealthCheckOptions>, RegExp][] = [
      [{ path: 'healthz' }, /path must start with "\/"/],
      [{ intervalMs: 0 }, /intervalMs must be a positive number/],
      [{ timeoutMs: Number.NaN }, /timeoutMs must be a positive number/],
      [{ healthyAfter: 0, unhealthyAfter: 1.5 }, /healthyAfter must be .*; unhealthyAfter must be/],
      [{ method: 'POST' as 'GET' }, /method must be GET or HEAD/],
    ];
    for (const [options, message] of bad)
      assert.throws(() => createActiveHealthCheck([], { ...baseOptions(), ...options }), message);
  });

  it('throws RangeError for an index with no target', () => {
    const check = createActiveHealthCheck([], baseOptions());
    assert.throws(() => check.healthy(0), RangeError);
    assert.throws(() => check.snapshot(-1), RangeError);
  });
});

function baseOptions(): ActiveHealthCheckOptions {
  return {
    path: '/healthz',
    intervalMs: INTERVAL_MS,
    timeoutMs: 1000,
    healthyAfter: 1,
    unhealthyAfter: 1,
    isExpectedStatus: expectedStatuses(undefined),
  };
}
