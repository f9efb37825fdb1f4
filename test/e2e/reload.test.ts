// Hot reload end to end: reloads under load drop nothing, broken configs keep the old one serving, in-flight
// requests finish on their snapshot, the file watcher and SIGHUP trigger reloads, upstream pools carry over.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { createReloader } from '../../src/runtime/reloader.js';
import { sleep, spawnCli, tempDir, waitForServe, type CliChild } from '../fixtures/ops-child.js';

/** A full config (its own gateway section, so line numbers are exactly what is written here). */
function versionedConfig(upstream: string, version: number | string, extra = ''): string {
  return `gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
routes:
  - name: api
    path_prefix: /api
    upstream: ${upstream}
    headers:
      response:
        set: { X-Version: '${version}' }
${extra}`;
}

/** Tracks the upstream's TCP connections: which client ports it saw and how many are still open. */
function trackConnections(up: TestUpstream): { ports: Set<number>; open(): number } {
  const ports = new Set<number>();
  const live = new Set<Socket>();
  up.server.on('connection', (s: Socket) => {
    live.add(s);
    s.once('close', () => live.delete(s));
  });
  up.server.on('request', (req: { socket: Socket }) => {
    if (req.socket.remotePort !== undefined) ports.add(req.socket.remotePort);
  });
  return { ports, open: () => live.size };
}

async function getVersion(url: string): Promise<{ status: number; version: string | null }> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, version: res.headers.get('x-version') };
}

/** Polls `fn` every 20 ms until it returns true or `timeoutMs` passes; returns the elapsed ms or -1. */
async function waitUntil(fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await fn()) return Date.now() - started;
    await sleep(20);
  }
  return -1;
}

describe('hot reload (in process)', () => {
  let up: TestUpstream;
  let gw: TestGateway | undefined;
  before(async () => {
    up = await startUpstream();
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });
  after(async () => {
    await up?.close();
  });

  it('survives 20 reloads under steady load with zero failed requests, and new requests see new config', async () => {
    const conns = trackConnections(up);
    gw = await startTestGateway(versionedConfig(up.url, 0));
    const target = `${gw.url}/api/load`;
    const results: { status: number; version: number }[][] = [];
    const failures: unknown[] = [];
    let stop = false;
    const hardDeadline = Date.now() + 20_000;
    const loop = async (slot: { status: number; version: number }[]) => {
      while (!stop && Date.now() < hardDeadline) {
        try {
          const r = await getVersion(target);
          slot.push({ status: r.status, version: Number(r.version) });
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const loops = Array.from({ length: 8 }, () => {
      const slot: { status: number; version: number }[] = [];
      results.push(slot);
      return loop(slot);
    });
    try {
      await sleep(50);
      for (let v = 1; v <= 20; v++) {
        gw.writeConfig(versionedConfig(up.url, v));
        const outcome = await gw.portico.gateway.reload('test');
        assert.equal(outcome.status, 'reloaded', `reload ${v}: ${JSON.stringify(outcome)}`);
        // A request that starts after the reload resolved runs on the new snapshot.
        const fresh = await getVersion(target);
        assert.deepEqual(fresh, { status: 200, version: String(v) }, `after reload ${v}`);
        await sleep(15);
      }
      await sleep(50);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    assert.deepEqual(failures, [], 'no request failed at the transport level');
    const all = results.flat();
    assert.ok(all.length >= 100, `load too light to mean anything: ${all.length} requests`);
    const bad = all.filter((r) => r.status !== 200);
    assert.deepEqual(bad, [], 'every response under reload is 200');
    for (const slot of results) {
      // Each loop's requests are sequential, so the versions it sees never go back.
      for (let i = 1; i < slot.length; i++)
        assert.ok(
          slot[i]!.version >= slot[i - 1]!.version,
          `version went back: ${slot[i - 1]!.version} → ${slot[i]!.version}`,
        );
    }
    const seen = new Set(all.map((r) => r.version));
    assert.ok(seen.size >= 10, `the load saw only versions ${[...seen].join(',')}`);
    assert.equal(gw.logs.filter((l) => l.event === 'config_reloaded').length, 20);
    // The pool is carried over: 20 reloads do not open 20 × 8 new upstream connections.
    assert.ok(conns.ports.size <= 16, `${conns.ports.size} upstream connections for 8 concurrent clients`);
  });

  it('rejects a config with a YAML syntax error: failed, line numbers, a log line, old config keeps serving', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 'old'));
    const broken = versionedConfig(up.url, 'new') + '  - name: broken\n    path_prefix: [/oops\n';
    gw.writeConfig(broken);
    const outcome = await gw.portico.gateway.reload('test');
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.ok(outcome.errors.length >= 1);
    for (const e of outcome.errors) assert.match(e, /gateway\.yaml:\d+:\d+ /, e);
    assert.ok(
      outcome.errors.some((e) => /gateway\.yaml:1[3-4]:\d+ /.test(e)),
      `the error points at the broken lines 13-14: ${outcome.errors.join('\n')}`,
    );
    const logged = gw.logs.find((l) => l.event === 'config_reload_failed');
    assert.ok(logged, 'config_reload_failed is logged');
    assert.equal(logged.level, 'error');
    assert.deepEqual(logged.errors, outcome.errors);
    assert.equal(gw.logs.filter((l) => l.event === 'config_reloaded').length, 0);
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: 'old' });
  });

  it('rejects an unknown key with its line number, keeps serving, and reloads the fixed file later', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 'old'));
    const original = versionedConfig(up.url, 'old');
    // Line 11 is `    upstrem: …` and line 12 a timeout that is not a number.
    const typo = versionedConfig(
      up.url,
      'new',
      `  - name: users\n    path_prefix: /users\n    upstrem: ${up.url}\n    timeout_ms: soon\n`,
    );
    gw.writeConfig(typo);
    const outcome = await gw.portico.gateway.reload('test');
    assert.ok(outcome.status === 'failed', JSON.stringify(outcome));
    const text = outcome.errors.join('\n');
    assert.match(text, /gateway\.yaml:13:5 routes\[1\]\.upstrem: unknown key "upstrem"/);
    assert.match(text, /gateway\.yaml:14:17 routes\[1\]\.timeout_ms: /);
    assert.ok(gw.logs.some((l) => l.event === 'config_reload_failed'));
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: 'old' });
    assert.equal((await getVersion(`${gw.url}/users/x`)).status, 404, 'the rejected route was never added');

    // Restoring the serving text is "unchanged"; a fixed new text reloads.
    gw.writeConfig(original);
    assert.equal((await gw.portico.gateway.reload('test')).status, 'unchanged');
    gw.writeConfig(versionedConfig(up.url, 'fixed'));
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: 'fixed' });
  });

  it('reports an unreadable (deleted) config file as failed and keeps serving', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 'old'));
    const hash = gw.portico.gateway.holder.current.hash;
    rmSync(gw.configFile);
    const outcome = await gw.portico.gateway.reload('test');
    assert.ok(outcome.status === 'failed', JSON.stringify(outcome));
    assert.match(outcome.errors[0] ?? '', /cannot read .*gateway\.yaml: ENOENT/);
    assert.ok(gw.logs.some((l) => l.event === 'config_reload_failed'));
    assert.equal(gw.portico.gateway.holder.current.hash, hash);
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: 'old' });
  });

  it('answers "unchanged" for an identical file and does not swap the snapshot', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 1));
    const before = gw.portico.gateway.holder.current;
    const outcome = await gw.portico.gateway.reload('test');
    assert.equal(outcome.status, 'unchanged');
    assert.ok(outcome.status === 'unchanged');
    assert.equal(outcome.hash, before.hash);
    gw.writeConfig(versionedConfig(up.url, 1));
    assert.equal((await gw.portico.gateway.reload('test')).status, 'unchanged');
    assert.equal(gw.portico.gateway.holder.current, before, 'the same snapshot object keeps serving');
    assert.equal(gw.logs.filter((l) => l.event === 'config_reloaded').length, 0);
  });

  it('applies a reload that changes a restart-only setting, with a config_restart_required warning', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 1));
    gw.writeConfig(
      versionedConfig(up.url, 2).replace(
        '  admin:',
        '  shutdown_timeout_ms: 1234\n  log_level: info\n  limits: { keep_alive_timeout_ms: 4321 }\n  admin:',
      ),
    );
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: '2' });
    assert.equal(gw.portico.gateway.holder.current.config.gateway.shutdown_timeout_ms, 1234);
    const warnings = gw.logs.filter((l) => l.event === 'config_restart_required').map((l) => l.setting);
    assert.deepEqual(warnings, ['gateway.limits.keep_alive_timeout_ms']);
  });

  it('turns an unexpected exception while building into a failed outcome instead of a rejection', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 1));
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { base: null },
      { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    gw.writeConfig(versionedConfig(up.url, 2));
    const reloader = createReloader({
      file: gw.configFile,
      holder: gw.portico.gateway.holder,
      logger,
      build: () => {
        throw new Error('boom');
      },
      onSwap: () => undefined,
      watch: false,
      debounceMs: 50,
    });
    try {
      const outcome = await reloader.reload('test');
      assert.ok(outcome.status === 'failed', JSON.stringify(outcome));
      assert.match(outcome.errors[0] ?? '', /boom/);
      assert.ok(lines.some((l) => l.event === 'config_reload_failed'));
      // The chain is not poisoned: the next reload still runs.
      assert.equal((await reloader.reload('again')).status, 'failed');
    } finally {
      reloader.close();
    }
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: '1' });
  });

  it('serialises concurrent reloads: each resolves and the last file wins', async () => {
    gw = await startTestGateway(versionedConfig(up.url, 0));
    gw.writeConfig(versionedConfig(up.url, 1));
    const outcomes = await Promise.all([
      gw.portico.gateway.reload('a'),
      gw.portico.gateway.reload('b'),
      gw.portico.gateway.reload('c'),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['reloaded', 'unchanged', 'unchanged'],
    );
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: '1' });
  });
});

describe('reload with in-flight requests and upstream pools', () => {
  let slowUp: TestUpstream;
  let fastUp: TestUpstream;
  let gw: TestGateway | undefined;
  let releaseSlow: (() => void) | undefined;
  before(async () => {
    slowUp = await startUpstream((req, res) => {
      const send = () => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
        res.end('slow');
      };
      if (req.url?.includes('slow')) {
        // Answered when the test says so (or after 2 s at the latest).
        const timer = setTimeout(send, 2000);
        releaseSlow = () => {
          clearTimeout(timer);
          send();
        };
      } else send();
    });
    fastUp = await startUpstream();
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });
  after(async () => {
    releaseSlow?.();
    await slowUp?.close();
    await fastUp?.close();
  });

  it('finishes an in-flight request on the snapshot it started on; new requests see the route removed', async () => {
    const slowConns = trackConnections(slowUp);
    const withA = (v: string) =>
      versionedConfig(
        fastUp.url,
        v,
        `  - name: a\n    path_prefix: /a\n    upstream: ${slowUp.url}\n    headers:\n      response:\n        set: { X-Route-A: 'v1' }\n`,
      );
    gw = await startTestGateway(withA('1'));
    const received = slowUp.received.length;
    const slow = fetch(`${gw.url}/a/slow`).then(async (r) => ({
      status: r.status,
      header: r.headers.get('x-route-a'),
      body: await r.text(),
    }));
    assert.ok(
      (await waitUntil(() => slowUp.received.length > received, 3000)) >= 0,
      'the slow request reached A',
    );

    gw.writeConfig(versionedConfig(fastUp.url, '2'));
    const outcome = await gw.portico.gateway.reload('remove a');
    assert.equal(outcome.status, 'reloaded');
    const gone = await fetch(`${gw.url}/a/other`);
    assert.equal(gone.status, 404, 'a new request to the removed route gets 404');
    assert.equal(gone.headers.get('content-type'), 'application/problem+json');
    await gone.arrayBuffer();
    assert.deepEqual(await getVersion(`${gw.url}/api/x`), { status: 200, version: '2' });
    assert.equal(
      gw.portico.gateway.holder.inflight,
      1,
      'the slow request is still in flight on the old snapshot',
    );
    assert.equal(slowConns.open(), 1, "the removed route's pool is not closed while a request uses it");

    releaseSlow?.();
    const r = await slow;
    assert.deepEqual(r, { status: 200, header: 'v1', body: 'slow' }, 'completed on the old snapshot');
    // Once drained, the pool only the old snapshot used is closed (well before any keep-alive timeout).
    const closedIn = await waitUntil(() => slowConns.open() === 0, 1500);
    assert.ok(closedIn >= 0, "the removed route's upstream connection was closed after the drain");
  });

  it('keeps using the same keep-alive upstream connection across a reload that does not change the upstream', async () => {
    const conns = trackConnections(fastUp);
    // The client port of each request as the upstream sees it: the same port means the same connection.
    const portsInOrder: number[] = [];
    fastUp.server.on('request', (req: { socket: Socket }) => portsInOrder.push(req.socket.remotePort ?? -1));
    gw = await startTestGateway(versionedConfig(fastUp.url, 'a'));
    assert.deepEqual(await getVersion(`${gw.url}/api/1`), { status: 200, version: 'a' });
    gw.writeConfig(versionedConfig(fastUp.url, 'b'));
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    assert.deepEqual(await getVersion(`${gw.url}/api/2`), { status: 200, version: 'b' });
    gw.writeConfig(versionedConfig(fastUp.url, 'c'));
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    assert.deepEqual(await getVersion(`${gw.url}/api/3`), { status: 200, version: 'c' });
    assert.equal(portsInOrder.length, 3);
    assert.equal(new Set(portsInOrder).size, 1, `one connection reused: ${portsInOrder.join(', ')}`);
    assert.equal(conns.open(), 1, 'the carried-over pool was not closed by the reload');
  });

  it('opens a new pool when the upstream settings change, and closes the old one', async () => {
    const conns = trackConnections(fastUp);
    const portsInOrder: number[] = [];
    fastUp.server.on('request', (req: { socket: Socket }) => portsInOrder.push(req.socket.remotePort ?? -1));
    gw = await startTestGateway(versionedConfig(fastUp.url, 'a'));
    assert.equal((await getVersion(`${gw.url}/api/1`)).status, 200);
    gw.writeConfig(
      versionedConfig(fastUp.url, 'b').replace(
        'upstream: ',
        'timeouts: { connect_ms: 1234 }\n    upstream: ',
      ),
    );
    assert.equal((await gw.portico.gateway.reload('test')).status, 'reloaded');
    assert.equal((await getVersion(`${gw.url}/api/2`)).status, 200);
    assert.equal(portsInOrder.length, 2);
    assert.notEqual(portsInOrder[0], portsInOrder[1], 'a different pool means a different connection');
    assert.ok((await waitUntil(() => conns.open() === 1, 1500)) >= 0, 'the old pool was closed');
  });
});

describe('file watcher', () => {
  let up: TestUpstream;
  let gw: TestGateway | undefined;
  before(async () => {
    up = await startUpstream();
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('reloads a changed file within 2 s, and rejects a broken save while the old config keeps serving', async () => {
    const watched = (v: string) =>
      versionedConfig(up.url, v).replace('  admin:', '  reload: { watch: true, debounce_ms: 50 }\n  admin:');
    gw = await startTestGateway(watched('1'), { watch: true });
    const g = gw;
    assert.deepEqual(await getVersion(`${g.url}/api/x`), { status: 200, version: '1' });
    // Let the watcher settle so the initial write is not mistaken for a change.
    await sleep(100);

    g.writeConfig(watched('2'));
    const tookMs = await waitUntil(async () => (await getVersion(`${g.url}/api/x`)).version === '2', 2000);
    assert.ok(tookMs >= 0, 'the watcher did not reload the changed file within 2 s');
    const reloaded = g.logs.find((l) => l.event === 'config_reloaded');
    assert.equal(reloaded?.reason, 'file change');

    // Editors often save by writing a temporary file and renaming it over the original.
    writeFileSync(`${g.configFile}.tmp`, watched('3'));
    renameSync(`${g.configFile}.tmp`, g.configFile);
    const renamedIn = await waitUntil(async () => (await getVersion(`${g.url}/api/x`)).version === '3', 2000);
    assert.ok(renamedIn >= 0, 'the watcher did not pick up a file replaced by rename within 2 s');

    g.writeConfig(watched('4').replace('path_prefix: /api', 'path_prefix: api'));
    const failedIn = await waitUntil(() => g.logs.some((l) => l.event === 'config_reload_failed'), 2000);
    assert.ok(failedIn >= 0, 'a broken save is reported');
    assert.deepEqual(await getVersion(`${g.url}/api/x`), { status: 200, version: '3' });
  });
});

describe('SIGHUP reload of a `serve` child process', () => {
  let up: TestUpstream;
  let child: CliChild | undefined;
  const dir = tempDir();
  before(async () => {
    up = await startUpstream();
  });
  after(async () => {
    await child?.kill();
    await up?.close();
    dir.remove();
  });

  it('reloads on SIGHUP (and, with --no-watch, not on a file change alone)', async () => {
    const file = dir.path('gateway.yaml');
    const watchedConfig = (v: string) =>
      versionedConfig(up.url, v).replace('  admin:', '  reload: { watch: true, debounce_ms: 50 }\n  admin:');
    writeFileSync(file, watchedConfig('1'));
    child = spawnCli(['serve', '-c', file, '--no-watch']);
    const serve = await waitForServe(child);
    assert.deepEqual(await getVersion(`${serve.url}/api/x`), { status: 200, version: '1' });

    writeFileSync(file, watchedConfig('2'));
    await sleep(400);
    assert.deepEqual(
      await getVersion(`${serve.url}/api/x`),
      { status: 200, version: '1' },
      '--no-watch overrides reload.watch: true',
    );

    serve.signal('SIGHUP');
    const line = await serve.waitForLog((l) => l.event === 'config_reloaded', 5000);
    assert.equal(line.reason, 'SIGHUP');
    assert.equal(line.routes, 1);
    assert.deepEqual(await getVersion(`${serve.url}/api/x`), { status: 200, version: '2' });

    writeFileSync(file, 'routes: [oops\n');
    serve.signal('SIGHUP');
    const failed = await serve.waitForLog((l) => l.event === 'config_reload_failed', 5000);
    assert.equal(failed.reason, 'SIGHUP');
    assert.deepEqual(await getVersion(`${serve.url}/api/x`), { status: 200, version: '2' });
    assert.equal(serve.hasExited, false, 'a failed reload does not stop the process');
  });
});
