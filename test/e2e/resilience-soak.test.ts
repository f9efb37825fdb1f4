// E2E soak: 10,000 failed requests (refused, 503 and stalled upstreams; breakers and retries on) through an
// in-process gateway at a concurrency of 32, then the gateway must be back where it started: no sockets,
// timers or memory left behind, nothing pending, and the upstream holding no connection from it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdirSync, readlinkSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const CONCURRENCY = 32;
/** Requests per route; 10,000 in all. */
const PLAN = [
  ['/refused/x', 4_000, 502],
  ['/failing/x', 4_000, 503],
  ['/stalled/x', 2_000, 504],
] as const;
/** Heap growth allowed after a full GC (with a GC we can force), or without one (V8 decides). */
const HEAP_SLACK_GC = 8 * 1024 * 1024;
const HEAP_SLACK_NO_GC = 30 * 1024 * 1024;

/** A way to force a full GC without starting node with --expose-gc (the test runner starts this file). */
function findGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

/** Sockets and timers of this process (the gateway runs in it), and its heap after a GC. */
interface Footprint {
  readonly sockets: number;
  readonly timers: number;
  readonly heapUsed: number;
}

/** Open socket descriptors of this process, unref'd ones (idle pooled connections) included. */
function socketFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
      } catch {
        return false; // closed while listing
      }
    }).length;
  } catch {
    return undefined; // not Linux
  }
}

async function footprint(gc: (() => void) | undefined): Promise<Footprint> {
  if (gc) for (let i = 0; i < 3; i++) gc();
  const active = process.getActiveResourcesInfo();
  return {
    // getActiveResourcesInfo() leaves out unref'd handles, such as idle pooled sockets: prefer the fds.
    sockets: socketFds() ?? active.filter((r) => r === 'TCPSocketWrap').length,
    timers: active.filter((r) => r === 'Timeout').length,
    heapUsed: process.memoryUsage().heapUsed,
  };
}

/** GET on a connection of its own that closes afterwards (no pooled socket left to count). */
function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('resilience: soak', () => {
  let refused: FaultUpstream;
  let failing: FaultUpstream;
  let stalled: FaultUpstream;
  let gw: TestGateway;
  let client: Pool | undefined;
  const gc = findGc();

  before(async () => {
    [refused, failing, stalled] = await Promise.all([
      startFaultUpstream({ name: 'refused' }),
      startFaultUpstream({ name: 'failing' }),
      startFaultUpstream({ name: 'stalled' }),
    ]);
    await Promise.all([
      refused.refuse(),
      // Closing after each answer: every try opens a connection (more churn than reusing a few), and no idle
      // connection waits out the keep-alive time the upstream announces (Node: 5 s) after the soak.
      failing.setMode('status', { status: 503, headers: { connection: 'close' } }),
      stalled.setMode('stall-headers'),
    ]);
    gw = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  access_log: { enabled: false }
upstreams:
  refused:
    targets: [{ url: "${refused.url}" }]
    # failure_ratio 1 never opens: every request makes its tries against the closed port.
    circuit_breaker: { failure_ratio: 1, min_requests: 10 }
    retries: { attempts: 2, backoff_ms: 1, budget_ratio: 0.5 }
  failing:
    targets: [{ url: "${failing.url}" }]
    # Opens and half-opens all the time: both the fail-fast and the probing paths run.
    circuit_breaker: { min_requests: 20, window_ms: 1000, open_ms: 20, half_open_requests: 4 }
    retries: { attempts: 2, backoff_ms: 1 }
  stalled:
    targets: [{ url: "${stalled.url}" }]
    # A try aborted while its connection was opening leaves that connection idle in the pool: let it go soon.
    keep_alive_timeout_ms: 100
    retries: { attempts: 1, per_try_timeout_ms: 20, backoff_ms: 1 }
routes:
  - { name: refused, path_prefix: /refused, upstream: refused }
  - { name: failing, path_prefix: /failing, upstream: failing }
  - { name: stalled, path_prefix: /stalled, upstream: stalled, timeout_ms: 60 }
`);
  });
  after(async () => {
    await client?.close();
    await gw?.stop();
    await Promise.all([refused, failing, stalled].map((u) => u?.stop()));
  });

  /** `total` GETs of `path` over the client pool, `CONCURRENCY` at a time; statuses counted. */
  async function blast(path: string, total: number): Promise<Map<number, number>> {
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const res = await client!.request({ path, method: 'GET' });
        await res.body.dump();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return statuses;
  }

  /** Closes the client, then waits (bounded) for every connection on both sides to be gone. */
  async function settle(): Promise<Footprint> {
    await client?.close();
    client = undefined;
    const deadline = performance.now() + 8000;
    let last = await footprint(gc);
    for (;;) {
      const upstreamSockets = (await Promise.all([failing, stalled].map((u) => u.stats()))).reduce(
        (n, s) => n + s.openSockets,
        0,
      );
      const now = await footprint(gc);
      if (upstreamSockets === 0 && now.sockets === last.sockets && now.sockets <= baseSockets) return now;
      if (performance.now() > deadline) return now;
      last = now;
      await sleep(100);
    }
  }
  let baseSockets = Infinity;

  it('10,000 failed requests leave no socket, timer or memory behind', async (t) => {
    // Warm-up: every path once (lazy module state, JIT, metric series) before the baseline.
    client = new Pool(gw.url, { connections: CONCURRENCY });
    for (const [path, , status] of PLAN) assert.deepEqual([...(await blast(path, 200)).keys()], [status]);
    const settleStarted = performance.now();
    const base = await settle();
    baseSockets = base.sockets;

    const settledIn = Math.round(performance.now() - settleStarted);
    const started = performance.now();
    client = new Pool(gw.url, { connections: CONCURRENCY });
    const report: string[] = [];
    for (const [path, total, status] of PLAN) {
      const t0 = performance.now();
      const statuses = await blast(path, total);
      // Every request failed, as planned (503 = the upstream's or circuit-open; both are failures).
      assert.deepEqual([...statuses.keys()], [status], `${path}: ${JSON.stringify([...statuses])}`);
      report.push(`${path} ${total} in ${Math.round(performance.now() - t0)} ms`);
    }
    const soakMs = performance.now() - started;
    const peak = await footprint(undefined);
    const t1 = performance.now();
    const end = await settle();
    const endSettledIn = Math.round(performance.now() - t1);

    const upstreams = (await getJson(`http://${gw.portico.admin!.address}/upstreams`)) as {
      upstreams: { name: string; targets: { pending: number }[]; circuit?: { probes_in_flight: number } }[];
    };
    const [fs, ss] = await Promise.all([failing.stats(), stalled.stats()]);
    t.diagnostic(
      `soak: ${report.join('; ')}; total ${Math.round(soakMs)} ms; ` +
        `sockets ${base.sockets} → peak ${peak.sockets} → ${end.sockets}; timers ${base.timers} → ${end.timers}; ` +
        `heap ${(base.heapUsed / 2 ** 20).toFixed(1)} → ${(end.heapUsed / 2 ** 20).toFixed(1)} MB (gc: ${gc ? 'forced' : 'none'}); ` +
        `upstream hits: failing ${fs.hits}, stalled ${ss.hits}; upstream open sockets ${fs.openSockets + ss.openSockets}; ` +
        `settled in ${settledIn} / ${endSettledIn} ms`,
    );

    assert.equal(fs.openSockets, 0, 'the failing upstream still holds connections from the gateway');
    assert.equal(ss.openSockets, 0, 'the stalled upstream still holds connections from the gateway');
    assert.ok(end.sockets <= base.sockets, `sockets: ${base.sockets} before, ${end.sockets} after`);
    assert.ok(end.timers <= base.timers + 2, `timers: ${base.timers} before, ${end.timers} after`);
    const slack = gc ? HEAP_SLACK_GC : HEAP_SLACK_NO_GC;
    assert.ok(
      end.heapUsed - base.heapUsed < slack,
      `heap grew ${((end.heapUsed - base.heapUsed) / 2 ** 20).toFixed(1)} MB`,
    );
    for (const u of upstreams.upstreams) {
      assert.deepEqual(
        u.targets.map((t) => t.pending),
        u.targets.map(() => 0),
        `${u.name}: requests still pending`,
      );
      assert.ok((u.circuit?.probes_in_flight ?? 0) === 0, `${u.name}: probes still in flight`);
    }
  });
});
