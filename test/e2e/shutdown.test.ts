// Graceful shutdown of a `serve` child process: SIGTERM drains in-flight requests, refuses new connections,
// flips readiness to draining, exits 0; the shutdown deadline bounds the drain; a second signal exits at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import {
  sleep,
  spawnCli,
  tempDir,
  waitForServe,
  type CliChild,
  type ServeChild,
} from '../fixtures/ops-child.js';

/** `/slow/*` answers after 500 ms, `/stuck/*` after 5 s (or when the connection closes), the rest at once. */
async function startSlowUpstream(): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const delay = req.url?.startsWith('/slow') ? 500 : req.url?.startsWith('/stuck') ? 5000 : 0;
    const timer = setTimeout(() => {
      const text = JSON.stringify({ url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }, delay);
    res.once('close', () => clearTimeout(timer));
  });
}

function config(upstream: string, shutdownTimeoutMs: number): string {
  return `gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  shutdown_timeout_ms: ${shutdownTimeoutMs}
routes:
  - name: api
    path_prefix: /
    upstream: ${upstream}
`;
}

/** Resolves with the connect error code ('' when the connection was accepted). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve('ETIMEDOUT');
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? 'error');
    });
  });
}

async function waitFor(fn: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!fn()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Outcome = { status: number; body: string } | { error: string };

function request(url: string): Promise<Outcome> {
  return fetch(url).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
  );
}

/**
 * Hang guard of the suite below. Its three tests start five `portico serve` children, each loading the CLI
 * through tsx first: they took 30 s together on a 2-core machine running stress-ng --cpu 2 beside the
 * suite, all of the 30 s this suite had. Three times that (a child that does not start fails its test
 * sooner, after CHILD_START_MS).
 */
const SERVE_SUITE_TIMEOUT_MS = 90_000;

describe('graceful shutdown of `serve`', { timeout: SERVE_SUITE_TIMEOUT_MS }, () => {
  let up: TestUpstream;
  const dir = tempDir();
  const children: CliChild[] = [];
  before(async () => {
    up = await startSlowUpstream();
  });
  after(async () => {
    for (const c of children) await c.kill();
    await up?.close();
    dir.remove();
  });

  async function serve(name: string, shutdownTimeoutMs: number): Promise<ServeChild> {
    const file = dir.path(name);
    writeFileSync(file, config(up.url, shutdownTimeoutMs));
    const c = spawnCli(['serve', '-c', file, '--no-watch']);
    children.push(c);
    return waitForServe(c);
  }

  it('on SIGTERM finishes every in-flight request, refuses new connections, reports draining and exits 0', async () => {
    const s = await serve('drain.yaml', 10_000);
    const ready = await fetch(`${s.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    // Some traffic first, then five slow requests in flight.
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await request(`${s.url}/fast/${i}`), { status: 200, body: `{"url":"/fast/${i}"}` });
    const receivedBefore = up.received.length;
    const slow = Array.from({ length: 5 }, (_, i) => request(`${s.url}/slow/${i}`));
    await waitFor(
      () => up.received.length >= receivedBefore + 5,
      3000,
      'the slow requests to reach the upstream',
    );

    const signalledAt = Date.now();
    s.signal('SIGTERM');
    const started = await s.waitForLog((l) => l.event === 'shutdown_started', 3000);
    assert.equal(started.reason, 'SIGTERM');
    assert.equal(started.inflight, 5);

    // While draining: readiness says so, and new connections are refused.
    const readyz = await fetch(`${s.adminUrl}/readyz`);
    assert.equal(readyz.status, 503);
    assert.deepEqual(await readyz.json(), { status: 'draining' });
    assert.equal(await tryConnect(s.port), 'ECONNREFUSED', 'no new connection is accepted after SIGTERM');

    const outcomes = await Promise.all(slow);
    for (const [i, o] of outcomes.entries())
      assert.deepEqual(o, { status: 200, body: JSON.stringify({ url: `/slow/${i}` }) }, `slow request ${i}`);

    const exit = await s.exited;
    const tookMs = Date.now() - signalledAt;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(tookMs < 3000, `exited ${tookMs} ms after SIGTERM: it should not wait for the 10 s deadline`);
    const complete = s.logs.find((l) => l.event === 'shutdown_complete');
    assert.ok(complete, `shutdown_complete logged; stdout:\n${s.stdout()}`);
    assert.equal(complete.drained, true);
    const events = s.logs.map((l) => l.event).filter((e) => typeof e === 'string');
    assert.ok(events.indexOf('shutdown_started') < events.indexOf('shutdown_complete'));
    const slowAccess = s.logs.filter((l) => typeof l.path === 'string' && l.path.startsWith('/slow/'));
    assert.equal(slowAccess.length, 5, 'every drained request has its access line');
    for (const l of slowAccess) assert.equal(l.status, 200);
  });

  it('with shutdown_timeout_ms 300 exits 0 within ~1.5 s although an upstream takes 5 s', async () => {
    const s = await serve('deadline.yaml', 300);
    const receivedBefore = up.received.length;
    const stuck = [request(`${s.url}/stuck/1`), request(`${s.url}/stuck/2`)];
    await waitFor(
      () => up.received.length >= receivedBefore + 2,
      3000,
      'the stuck requests to reach the upstream',
    );

    const signalledAt = Date.now();
    s.signal('SIGTERM');
    const exit = await s.exited;
    const tookMs = Date.now() - signalledAt;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(tookMs < 1500, `exited ${tookMs} ms after SIGTERM (deadline 300 ms)`);
    assert.ok(
      tookMs >= 250,
      `exited after ${tookMs} ms: before the deadline although requests were in flight`,
    );
    const complete = s.logs.find((l) => l.event === 'shutdown_complete');
    assert.ok(complete, `shutdown_complete logged; stdout:\n${s.stdout()}`);
    assert.equal(complete.drained, false);
    for (const o of await Promise.all(stuck))
      assert.ok('error' in o, `cut off, not answered: ${JSON.stringify(o)}`);
  });

  it('exits 0 at once on SIGINT when nothing is in flight, and a second signal during a drain exits 1', async () => {
    const idle = await serve('idle.yaml', 10_000);
    const t0 = Date.now();
    idle.signal('SIGINT');
    assert.deepEqual(await idle.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 1500);
    assert.equal(idle.logs.find((l) => l.event === 'shutdown_complete')?.drained, true);

    const busy = await serve('busy.yaml', 10_000);
    const receivedBefore = up.received.length;
    const stuck = request(`${busy.url}/stuck/3`);
    await waitFor(() => up.received.length > receivedBefore, 3000, 'the stuck request to reach the upstream');
    busy.signal('SIGTERM');
    await busy.waitForLog((l) => l.event === 'shutdown_started', 3000);
    const t1 = Date.now();
    busy.signal('SIGTERM');
    assert.deepEqual(await busy.exited, { code: 1, signal: null });
    assert.ok(Date.now() - t1 < 1000, 'the second signal does not wait for the drain');
    assert.ok('error' in (await stuck));
  });
});

describe('graceful shutdown (in process)', { timeout: 30_000 }, () => {
  let up: TestUpstream;
  const agent = new http.Agent({ keepAlive: true });
  before(async () => {
    up = await startSlowUpstream();
  });
  after(async () => {
    agent.destroy();
    await up?.close();
  });

  /** GET through a keep-alive agent, returning the status and the Connection header the gateway sent. */
  function get(url: string): Promise<{ status: number; connection: string | undefined }> {
    return new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        })
        .on('error', reject);
    });
  }

  async function withSlowRequest(
    path: string,
    fn: (gw: TestGateway, slow: Promise<{ status: number; connection: string | undefined }>) => Promise<void>,
  ): Promise<void> {
    const gw = await startTestGateway(config(up.url, 5000));
    try {
      const receivedBefore = up.received.length;
      const slow = get(`${gw.url}${path}`);
      await waitFor(
        () => up.received.length > receivedBefore,
        3000,
        'the slow request to reach the upstream',
      );
      await fn(gw, slow);
    } finally {
      await gw.stop();
    }
  }

  it('a second shutdown call waits for the same drain instead of reporting drained at once', async () => {
    await withSlowRequest('/slow/1', async (gw, slow) => {
      const first = gw.portico.gateway.shutdown('first');
      const second = gw.portico.gateway.shutdown('second');
      const r2 = await second;
      assert.equal(gw.portico.gateway.holder.inflight, 0, 'resolved while a request was still in flight');
      assert.ok(
        gw.logs.some((l) => l.event === 'shutdown_complete'),
        'the second call resolved before the shutdown completed',
      );
      assert.deepEqual(r2, await first);
      assert.deepEqual(r2, { drained: true });
      assert.equal((await slow).status, 200);
      assert.equal(gw.logs.filter((l) => l.event === 'shutdown_started').length, 1);
      assert.equal(gw.logs.filter((l) => l.event === 'shutdown_complete').length, 1);
    });
  });

  it('tells keep-alive clients of requests in flight at shutdown to close the connection', async () => {
    await withSlowRequest('/slow/2', async (gw, slow) => {
      const stopping = gw.portico.gateway.shutdown('test');
      const r = await slow;
      await stopping;
      assert.equal(r.status, 200);
      assert.equal(r.connection, 'close');
    });
  });
});
