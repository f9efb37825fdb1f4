// `gateway.workers: 2` end to end: a `portico serve` child runs a primary and two worker processes. Both
// workers serve the listener; a memory-store rate limit counts exactly across them; /metrics sums them;
// reloads reach every worker; a killed worker is replaced; SIGTERM drains every worker; workers leave when
// their primary is killed; a worker that cannot listen stops the start with the reason.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import {
  CHILD_START_MS,
  childrenKilledOnExit,
  sleep,
  spawnCli,
  tempDir,
  waitForServe,
  type LogLine,
  type ServeChild,
} from '../fixtures/ops-child.js';

const running = childrenKilledOnExit();

/** Worker pids are killed too if a test fails half-way (the primary's own exit handler may not run). */
const workerPids = new Set<number>();
process.once('exit', () => {
  for (const pid of workerPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

function config(upstream: string, extra = ''): string {
  return `gateway:
  listen: "127.0.0.1:0"
  workers: 2
  admin: { listen: "127.0.0.1:0" }
  shutdown_timeout_ms: 10000
  reload: { watch: false }
  access_log: { fields: [method, path, route, status] }
routes:
  - name: limited
    path: /limited
    upstream: ${upstream}
    rate_limit: { limit: 25, window_s: 3600, key: ip }
  - name: api
    path_prefix: /
    upstream: ${upstream}
${extra}`;
}

/** One request on its own connection (so the primary hands each to the next worker). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
}

function post(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The workers' pids by id, from their `worker_ready` lines (the latest line of each id wins). */
function workerPidsOf(c: ServeChild): Map<number, number> {
  const pids = new Map<number, number>();
  for (const l of c.logs)
    if (l.event === 'worker_ready' && typeof l.pid === 'number') pids.set(l.worker as number, l.pid);
  for (const pid of pids.values()) workerPids.add(pid);
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Access lines (they have `status` and no `event`) for `path`. */
function accessLines(c: ServeChild, path: string): LogLine[] {
  return c.logs.filter((l) => l.event === undefined && l.path === path);
}

async function startServe(file: string): Promise<ServeChild> {
  const c = await waitForServe(spawnCli(['serve', '-c', file]), CHILD_START_MS * 2);
  running.add(c);
  workerPidsOf(c);
  return c;
}

async function stop(c: ServeChild): Promise<void> {
  c.signal('SIGTERM');
  const timer = setTimeout(() => void c.kill(), 20_000);
  await c.exited;
  clearTimeout(timer);
  running.delete(c);
}

describe('gateway.workers: 2', { timeout: 240_000 }, () => {
  let upstream: TestUpstream;
  let dir: ReturnType<typeof tempDir>;
  let gw: ServeChild;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const delay = req.url?.startsWith('/slow') ? 1500 : 0;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: req.url }));
      }, delay);
    });
    dir = tempDir({ 'gateway.yaml': config(upstream.url) });
    gw = await startServe(dir.path('gateway.yaml'));
  });

  after(async () => {
    if (!gw.hasExited) await stop(gw);
    await upstream.close();
    dir.remove();
  });

  it('starts a primary and two workers, and both serve the listener', async () => {
    const started = gw.logs.find((l) => l.event === 'gateway_started')!;
    assert.equal(started.workers, 2);
    assert.equal(started.role, 'primary');
    assert.equal(workerPidsOf(gw).size, 2);
    for (let i = 0; i < 20; i++) assert.equal((await get(gw.port, '/spread')).status, 200);
    await waitUntil('20 access lines', () => accessLines(gw, '/spread').length === 20);
    const served = new Set(accessLines(gw, '/spread').map((l) => l.worker));
    assert.deepEqual([...served].sort(), [1, 2], 'each access line names its worker; both served');
  });

  it('counts a memory-store rate limit exactly across the workers', async () => {
    const statuses: number[] = [];
    // Bursts of concurrent requests: both workers check at the same moments.
    for (let round = 0; round < 6; round++) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => get(gw.port, '/limited')));
      statuses.push(...batch.map((r) => r.status));
    }
    assert.equal(statuses.filter((s) => s === 200).length, 25, 'exactly the limit got through');
    assert.equal(statuses.filter((s) => s === 429).length, 35);
    await waitUntil('60 access lines', () => accessLines(gw, '/limited').length === 60);
    const allowedBy = new Set(
      accessLines(gw, '/limited')
        .filter((l) => l.status === 200)
        .map((l) => l.worker),
    );
    assert.deepEqual([...allowedBy].sort(), [1, 2], 'both workers let requests through');
  });

  it('serves /metrics summed over the workers, with process metrics per worker', async () => {
    for (let i = 0; i < 10; i++) await get(gw.port, '/counted');
    const res = await fetch(`${gw.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const limited = (cls: string) =>
      Number(
        new RegExp(
          `^portico_requests_total\\{route="limited",method="GET",status_class="${cls}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1],
      );
    assert.equal(limited('2xx'), 25);
    assert.equal(limited('4xx'), 35);
    for (const w of ['primary', '1', '2'])
      assert.match(text, new RegExp(`^process_resident_memory_bytes\\{worker="${w}"\\} \\d+`, 'm'));
    assert.match(text, /^portico_workers_ready 2$/m);
    assert.match(text, /^portico_config_info\{hash="[0-9a-f]{12}"\} 1$/m, 'one config, counted once');
  });

  it('answers /readyz for the whole group and /upstreams from every worker', async () => {
    const ready = (await (await fetch(`${gw.adminUrl}/readyz`)).json()) as Record<string, unknown>;
    assert.equal(ready.status, 'ready');
    assert.equal(ready.workers, 2);
    assert.equal(ready.of, 2);
    const ups = await fetch(`${gw.adminUrl}/upstreams`);
    assert.equal(ups.status, 200);
    const body = (await ups.json()) as { upstreams?: unknown[] };
    assert.ok(Array.isArray(body.upstreams));
  });

  it('reloads every worker with the checked text (POST /reload)', async () => {
    writeFileSync(
      dir.path('gateway.yaml'),
      config(
        upstream.url,
        `  - name: added
    path: /added-route
    upstream: ${upstream.url}
    headers: { response: { set: { X-Added: "yes" } } }
`,
      ).replace(
        '  - name: api',
        '  - name: added-first\n    path: /added-first\n    upstream: ' + upstream.url + '\n  - name: api',
      ),
    );
    const res = await post(`${gw.adminUrl}/reload`);
    assert.equal(res.status, 200, res.body);
    const outcome = JSON.parse(res.body) as { status: string; config_hash: string };
    assert.equal(outcome.status, 'reloaded');
    const hashes = new Set<unknown>();
    for (let i = 0; i < 10; i++) {
      const r = await get(gw.port, '/added-first');
      assert.equal(r.status, 200);
    }
    await waitUntil('both workers reloaded', () => {
      for (const l of gw.logs)
        if (l.event === 'config_reloaded' && typeof l.worker === 'number') hashes.add(l.worker);
      return hashes.size === 2;
    });
    const ready = (await (await fetch(`${gw.adminUrl}/readyz`)).json()) as Record<string, unknown>;
    assert.equal(ready.config_hash, outcome.config_hash);
    // A broken file: 422 naming the error, and every worker keeps the config it has.
    writeFileSync(dir.path('gateway.yaml'), 'gateway: { listen: 12 }\n');
    const bad = await post(`${gw.adminUrl}/reload`);
    assert.equal(bad.status, 422);
    assert.match(bad.body, /gateway\.listen/);
    assert.equal((await get(gw.port, '/added-first')).status, 200);
  });

  it('replaces a killed worker, and the other keeps serving meanwhile', async () => {
    const before = workerPidsOf(gw);
    const victim = before.get(1)!;
    const exits = gw.logs.filter((l) => l.event === 'worker_exited').length;
    process.kill(victim, 'SIGKILL');
    const exited = await gw.waitForLog(
      (l) =>
        l.event === 'worker_exited' &&
        l.worker === 1 &&
        gw.logs.filter((x) => x.event === 'worker_exited').length > exits,
      15_000,
    );
    assert.equal(exited.signal, 'SIGKILL');
    assert.equal(typeof exited.restart_in_ms, 'number');
    for (let i = 0; i < 10; i++) assert.equal((await get(gw.port, '/meanwhile')).status, 200);
    // Still ready while one worker is replaced: the other serves.
    const ready = await fetch(`${gw.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { of?: unknown }).of, 2);
    await waitUntil('worker 1 replaced', () => {
      const now = workerPidsOf(gw).get(1);
      return now !== undefined && now !== victim;
    });
    const replacement = workerPidsOf(gw).get(1)!;
    assert.ok(alive(replacement));
    assert.notEqual(replacement, victim);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.match(metrics, /^portico_worker_restarts_total 1$/m);
    // The replacement serves the reloaded config (the primary's current text), not the file's first one.
    for (let i = 0; i < 6; i++) assert.equal((await get(gw.port, '/added-first')).status, 200);
  });

  it('drains every worker on SIGTERM: a request in flight finishes, then all exit', async () => {
    const pids = [...workerPidsOf(gw).values()];
    const slow = get(gw.port, '/slow');
    await sleep(300);
    gw.signal('SIGTERM');
    const res = await slow;
    assert.equal(res.status, 200);
    const exit = await gw.exited;
    running.delete(gw);
    assert.equal(exit.code, 0);
    assert.ok(
      gw.logs.some((l) => l.event === 'shutdown_complete' && l.role === 'primary' && l.drained === true),
    );
    await waitUntil('the workers gone', () => pids.every((p) => !alive(p)), 10_000);
  });
});

describe('gateway.workers: the primary and the start', { timeout: 180_000 }, () => {
  it('workers leave by themselves when their primary is killed', async () => {
    const upstream = await startUpstream((_req, res) => void res.end('{}'));
    const dir = tempDir({ 'gateway.yaml': config(upstream.url) });
    try {
      const gw = await startServe(dir.path('gateway.yaml'));
      const pids = [...workerPidsOf(gw).values()];
      assert.equal(pids.length, 2);
      await gw.kill();
      running.delete(gw);
      await waitUntil('the orphaned workers gone', () => pids.every((p) => !alive(p)), 20_000);
    } finally {
      await upstream.close();
      dir.remove();
    }
  });

  it('stops with the reason when the workers cannot listen', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const dir = tempDir({
      'gateway.yaml': config('http://127.0.0.1:9').replace('"127.0.0.1:0"', `"127.0.0.1:${port}"`),
    });
    try {
      const c = spawnCli(['serve', '-c', dir.path('gateway.yaml')]);
      const timer = setTimeout(() => void c.kill(), CHILD_START_MS * 2);
      const exit = await c.exited;
      clearTimeout(timer);
      assert.equal(exit.code, 1);
      assert.match(c.stderr() + c.stdout(), /EADDRINUSE/);
      assert.ok(!c.logs.some((l) => l.event === 'gateway_started'));
    } finally {
      taken.close();
      dir.remove();
    }
  });
});
