// Reload without a stall (issue 17 point 5): what a reload of a large config costs the traffic in flight.
//
// Starts `portico serve` as a child with a generated N-route config (default 10,000) pointing at a local
// upstream, drives steady open-loop traffic at a fixed rate (latency counted from each request's scheduled
// send time, so a stalled gateway cannot hide it), rewrites one line of the config and sends SIGHUP, R
// times, and reports compile_ms (from the `config_reloaded` log lines) next to the p50/p99/max latency and
// the errors of requests in flight during a reload versus a quiet period of the same length before.
//
//   npm run build && node --import tsx bench/reload-stall.ts [--routes 10000] [--reloads 8] [--rate 400]
//     [--gap-ms 1500] [--timeout-ms 1000] [--entry dist/src/cli/main.js] [--build cli|whole|sliced] [--json]
//
// --build cli (default) runs `portico serve` (--entry: a build of another version for a before/after).
// --build whole|sliced runs the gateway's own parts in a child of this script (a snapshot holder, the data
// plane server, the reloader on SIGHUP) with the reload's build in one piece (buildSnapshotFromText) or in
// slices (buildSnapshotFromTextAsync): the two reload paths side by side, whatever `serve` wires.
// Loopback only; at most --max-inflight requests outstanding; every process it starts is stopped at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ResourceRegistry } from '../src/compiler/carry-over.js';
import {
  type BuildDeps,
  buildSnapshotFromFile,
  buildSnapshotFromText,
  buildSnapshotFromTextAsync,
} from '../src/compiler/compile-gateway.js';
import { createGatewayServer } from '../src/http/server.js';
import { createEventLogger } from '../src/observability/logger.js';
import { policyRegistry } from '../src/policies/registry.js';
import { createReloader } from '../src/runtime/reloader.js';
import { SnapshotHolder } from '../src/runtime/snapshot-holder.js';

/** The child of --build whole|sliced: a gateway of Portico's own parts, reloading on SIGHUP. */
async function serveParts(file: string, sliced: boolean): Promise<void> {
  const logger = createEventLogger('info');
  const deps: BuildDeps = {
    registry: policyRegistry,
    resources: new ResourceRegistry(),
    env: process.env,
    accessLogger: undefined,
    eventLogger: logger,
    exportTraces: true,
  };
  const first = buildSnapshotFromFile(file, deps);
  if (!first.ok) throw new Error(first.issues.map((i) => i.message).join('\n'));
  const holder = new SnapshotHolder(first.snapshot, deps.resources);
  const l = first.snapshot.config.gateway.limits;
  const { server } = createGatewayServer(
    holder,
    {
      maxHeaderBytes: l.max_header_bytes,
      headerTimeoutMs: l.header_timeout_ms,
      requestTimeoutMs: l.request_timeout_ms,
      keepAliveTimeoutMs: l.keep_alive_timeout_ms,
    },
    logger,
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const reloader = createReloader({
    file,
    holder,
    logger,
    build: (text) =>
      sliced ? buildSnapshotFromTextAsync(text, file, deps) : buildSnapshotFromText(text, file, deps),
    onSwap: () => undefined,
    // The longest the event loop waited since the reload began: what a request in flight waited at most.
    // (A moment later: a stall is recorded once the loop runs again.)
    onOutcome: () => {
      setTimeout(
        () => logger.info({ event: 'reload_loop_delay', max_ms: Math.round(delay.max / 1e4) / 100 }),
        10,
      );
    },
    watch: false,
    debounceMs: 0,
  });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('SIGHUP', () => {
    delay.reset();
    void reloader.reload('SIGHUP');
  });
  // The quiet period's longest stall, for comparison: SIGUSR2 starts it, the next one reports it.
  process.on('SIGUSR2', () => {
    logger.info({ event: 'quiet_loop_delay', max_ms: Math.round(delay.max / 1e4) / 100 });
    delay.reset();
  });
  process.on('SIGTERM', () => {
    reloader.close();
    server.close();
    server.closeAllConnections();
    void holder.close().then(() => process.exit(0));
  });
  logger.info({ event: 'gateway_started', listen: [`127.0.0.1:${(server.address() as AddressInfo).port}`] });
}

const CHILD = process.argv[2] === '--serve-parts';
const { values: opt } = parseArgs({
  args: CHILD ? [] : process.argv.slice(2),
  options: {
    routes: { type: 'string', default: '10000' },
    reloads: { type: 'string', default: '8' },
    rate: { type: 'string', default: '400' },
    'gap-ms': { type: 'string', default: '1500' },
    'timeout-ms': { type: 'string', default: '1000' },
    'max-inflight': { type: 'string', default: '2000' },
    entry: { type: 'string', default: 'dist/src/cli/main.js' },
    build: { type: 'string', default: 'cli' },
    json: { type: 'boolean', default: false },
  },
});
const ROUTES = Number(opt.routes);
const RELOADS = Number(opt.reloads);
const RATE = Number(opt.rate);
const GAP_MS = Number(opt['gap-ms']);
const TIMEOUT_MS = Number(opt['timeout-ms']);
const MAX_INFLIGHT = Number(opt['max-inflight']);
const ENTRY = resolve(opt.entry);

/** The line the reloads rewrite (a header value of the middle route): one line changed per reload. */
const MIDDLE = Math.floor(ROUTES / 2);
const revisionLine = (rev: number) => `    headers: { request: { set: { X-Revision: "${rev}" } } }`;

/**
 * A config shaped like a large real one: half the routes on a named upstream, half on a URL; every fifth
 * sets headers, every seventh a rate limit (memory store).
 */
function configText(upstreamPort: number, rev: number): string {
  const lines = [
    'gateway:',
    '  listen: "127.0.0.1:0"',
    '  admin: { enabled: false }',
    '  access_log: { enabled: false }',
    '  reload: { watch: false }',
    'defaults:',
    `  timeout_ms: ${TIMEOUT_MS}`,
    'upstreams:',
    '  svc:',
    `    targets: [{ url: "http://127.0.0.1:${upstreamPort}" }]`,
    'routes:',
  ];
  for (let i = 0; i < ROUTES; i++) {
    lines.push(`  - name: r${i}`, `    path: /svc${i}/items`);
    lines.push(i % 2 === 0 ? '    upstream: svc' : `    upstream: "http://127.0.0.1:${upstreamPort}"`);
    if (i === MIDDLE) lines.push(revisionLine(rev));
    else if (i % 5 === 0) lines.push('    headers: { request: { set: { X-Bench: "1" } } }');
    if (i % 7 === 0) lines.push('    rate_limit: { capacity: 1000000, refill: 1000000, key: ip }');
  }
  lines.push('');
  return lines.join('\n');
}

const BODY = Buffer.from('{"ok":true}\n');

interface Sample {
  readonly start: number;
  end: number;
  status: number;
}

interface ReloadWindow {
  readonly start: number;
  readonly end: number;
  readonly compileMs: number | undefined;
  readonly outcome: string;
  /** The longest the gateway's event loop waited during the reload (--build whole|sliced only). */
  readonly loopDelayMs: number | undefined;
}

/** Log lines of the child, parsed; waiters get the first line (from now on) that satisfies them. */
class ChildLog {
  private readonly waiters: {
    test: (l: Record<string, unknown>) => boolean;
    done: (l: Record<string, unknown>) => void;
  }[] = [];
  private buffered = '';
  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        for (const w of [...this.waiters])
          if (w.test(parsed)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.done(parsed);
          }
      }
    });
  }
  next(test: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error('no matching log line in time')), timeoutMs);
      this.waiters.push({ test, done: (l) => (clearTimeout(timer), done(l)) });
    });
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summarize(samples: readonly Sample[]) {
  const ms = samples.map((s) => s.end - s.start).sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    requests: samples.length,
    p50_ms: round(percentile(ms, 50)),
    p99_ms: round(percentile(ms, 99)),
    max_ms: round(ms[ms.length - 1] ?? NaN),
    errors: samples.filter((s) => s.status < 200 || s.status >= 300).length,
    status_504: samples.filter((s) => s.status === 504).length,
  };
}

async function main(): Promise<void> {
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
      res.end(BODY);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'portico-reload-stall-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, configText(upstreamPort, 0));

  const args =
    opt.build === 'cli'
      ? [...(ENTRY.endsWith('.ts') ? ['--import', 'tsx'] : []), ENTRY, 'serve', '-c', file, '--no-watch']
      : [...process.execArgv, process.argv[1]!, '--serve-parts', file, opt.build!];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const log = new ChildLog(child);
  let pool: Pool | undefined;
  try {
    const started = await log.next((l) => l.event === 'gateway_started', 120_000);
    const listen = (started.listen as string[])[0]!;
    pool = new Pool(`http://${listen}`, { connections: 64, pipelining: 1 });

    const samples: Sample[] = [];
    let inflight = 0;
    let skipped = 0;
    let sending = true;
    const t0 = performance.now();
    let sent = 0;
    const send = (scheduled: number) => {
      if (inflight >= MAX_INFLIGHT) {
        skipped++;
        return;
      }
      const i = Math.floor(Math.random() * 64) * Math.floor(ROUTES / 64);
      const sample: Sample = { start: scheduled, end: 0, status: 0 };
      inflight++;
      pool!
        .request({ method: 'GET', path: `/svc${i}/items/1` })
        .then(
          async (res) => {
            await res.body.dump();
            sample.status = res.statusCode;
          },
          () => undefined,
        )
        .finally(() => {
          sample.end = performance.now();
          inflight--;
          samples.push(sample);
        });
    };
    // Open loop: every tick sends what the schedule owes, each stamped with its own scheduled time.
    const tick = setInterval(() => {
      if (!sending) return;
      const due = Math.floor(((performance.now() - t0) * RATE) / 1000);
      for (; sent < due; sent++) send(t0 + (sent * 1000) / RATE);
    }, 1);

    await sleep(2000); // warm-up: connections open, code warm
    const parts = opt.build !== 'cli';
    if (parts) child.kill('SIGUSR2');
    const quietStart = performance.now();
    await sleep(GAP_MS);
    const quietEnd = performance.now();
    const quietDelay = parts ? log.next((l) => l.event === 'quiet_loop_delay', 10_000) : undefined;
    if (parts) child.kill('SIGUSR2');
    const quietStallMs = quietDelay === undefined ? undefined : ((await quietDelay).max_ms as number);
    const windows: ReloadWindow[] = [];
    // This process's own stalls (the load generator and the upstream share a 2-core machine with the gateway).
    const ownDelay = monitorEventLoopDelay({ resolution: 1 });
    ownDelay.enable();
    const ownStalls: number[] = [];
    for (let r = 1; r <= RELOADS; r++) {
      ownDelay.reset();
      writeFileSync(file, configText(upstreamPort, r));
      const start = performance.now();
      const outcome = log.next(
        (l) => l.event === 'config_reloaded' || l.event === 'config_reload_failed',
        120_000,
      );
      const delay =
        opt.build === 'cli' ? undefined : log.next((l) => l.event === 'reload_loop_delay', 120_000);
      child.kill('SIGHUP');
      const line = await outcome;
      const end = performance.now();
      windows.push({
        start,
        end,
        compileMs: typeof line.compile_ms === 'number' ? line.compile_ms : undefined,
        outcome: String(line.event),
        loopDelayMs: delay === undefined ? undefined : ((await delay).max_ms as number),
      });
      ownStalls.push(Math.round(ownDelay.max / 1e4) / 100);
      await sleep(GAP_MS);
    }
    sending = false;
    clearInterval(tick);
    while (inflight > 0) await sleep(20);

    const quiet = samples.filter((s) => s.start >= quietStart && s.start < quietEnd);
    const during = samples.filter((s) => windows.some((w) => s.start < w.end && s.end > w.start));
    const compile = windows.map((w) => w.compileMs ?? NaN);
    const report = {
      routes: ROUTES,
      reloads: windows.length,
      failed_reloads: windows.filter((w) => w.outcome !== 'config_reloaded').length,
      rate_per_s: RATE,
      route_timeout_ms: TIMEOUT_MS,
      build: opt.build,
      entry: opt.build === 'cli' ? ENTRY : undefined,
      compile_ms: compile,
      reload_wall_ms: windows.map((w) => Math.round(w.end - w.start)),
      longest_loop_stall_ms: opt.build === 'cli' ? undefined : windows.map((w) => w.loopDelayMs),
      quiet_longest_loop_stall_ms: quietStallMs,
      load_generator_longest_stall_ms: ownStalls,
      quiet: summarize(quiet),
      during_reloads: summarize(during),
      skipped_by_load_generator: skipped,
    };
    if (opt.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(
        `${ROUTES} routes, ${windows.length} reloads (one line changed each), ${RATE} req/s, build: ${opt.build}${opt.build === 'cli' ? ` (${ENTRY})` : ''}`,
      );
      console.log(`compile_ms:        ${compile.join(', ')}`);
      console.log(`reload wall ms:    ${report.reload_wall_ms.join(', ')}`);
      if (report.longest_loop_stall_ms)
        console.log(
          `longest loop stall: ${report.longest_loop_stall_ms.join(', ')} ms (quiet: ${quietStallMs} ms)`,
        );
      const row = (name: string, s: ReturnType<typeof summarize>) =>
        console.log(
          `${name.padEnd(18)} requests ${String(s.requests).padStart(6)}  p50 ${s.p50_ms} ms  p99 ${s.p99_ms} ms  max ${s.max_ms} ms  errors ${s.errors} (504: ${s.status_504})`,
        );
      row('quiet:', report.quiet);
      row('during reloads:', report.during_reloads);
      console.log(`load generator's own longest stall per reload: ${ownStalls.join(', ')} ms`);
      if (report.failed_reloads > 0) console.log(`failed reloads: ${report.failed_reloads}`);
      if (skipped > 0)
        console.log(`skipped by the load generator (over ${MAX_INFLIGHT} in flight): ${skipped}`);
    }
  } finally {
    await pool?.close();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    await new Promise((r) => upstream.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (CHILD) await serveParts(process.argv[3]!, process.argv[4] === 'sliced');
else await main();
