// `npm run bench:workers`: what gateway.workers buys and costs. Portico with 1 and 2 workers (node:cluster
// round robin, and the shared-socket policy for comparison), with and without a memory-store rate limit
// (with 2 workers every check is a message to the primary), each saturated by wrk in interleaved rounds.
// CPU per request is summed over every process of the gateway (primary and workers), read from /proc.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, readPortLine, stopAll, waitForHttp } from './child-processes.js';
import { clockTicksPerSecond, processTree, readCpuTicks } from './cpu-usage.js';
import { detectLoadGenerator, runLoad, type LoadResult } from './load-generator.js';
import { freePort } from './subjects.js';
import { machineLine } from './system-info.js';

const EXT = path.extname(fileURLToPath(import.meta.url));
const script = (rel: string) => fileURLToPath(new URL(`${rel}${EXT}`, import.meta.url));
const nodeArgs = (file: string) => (EXT === '.ts' ? [...process.execArgv, file] : [file]);

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

interface Scenario {
  readonly id: string;
  readonly workers: number;
  readonly policy: 'rr' | 'none';
  readonly rateLimit: boolean;
  readonly what: string;
}

const SCENARIOS: readonly Scenario[] = [
  { id: 'w1', workers: 1, policy: 'rr', rateLimit: false, what: '1 process (workers: 1)' },
  { id: 'w2', workers: 2, policy: 'rr', rateLimit: false, what: '2 workers, round robin (the default)' },
  { id: 'w2-shared-accept', workers: 2, policy: 'none', rateLimit: false, what: '2 workers, shared accept' },
  { id: 'w1-rl', workers: 1, policy: 'rr', rateLimit: true, what: '1 process + memory rate limit' },
  { id: 'w2-rl', workers: 2, policy: 'rr', rateLimit: true, what: '2 workers + memory rate limit (primary)' },
];

function config(port: number, upstream: number, s: Scenario): string {
  return `gateway:
  listen: "127.0.0.1:${port}"
  workers: ${s.workers}
  admin: { enabled: false }
  reload: { watch: false }
  access_log: { file: /dev/null }
  log_file: /dev/null
upstreams:
  up: { targets: [{ url: "http://127.0.0.1:${upstream}" }] }
routes:
  - name: bench
    path_prefix: /
    upstream: up
${s.rateLimit ? '    rate_limit: { capacity: 1000000000, refill: 1000000000, key: ip }\n' : ''}`;
}

function treeTicks(pids: readonly number[]): number {
  let t = 0;
  for (const p of pids)
    try {
      t += readCpuTicks(p);
    } catch {
      // a worker that exited: its time is lost, and the row will say so by its figures
    }
  return t;
}

interface Row {
  rps: number[];
  p50: number[];
  p99: number[];
  cpuUs: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(tmpdir(), 'portico-workers-'));
  const cli = fileURLToPath(new URL(`../src/cli/main${EXT}`, import.meta.url));
  try {
    const gen = detectLoadGenerator('auto', tmp);
    const upstream = new ManagedProcess({
      name: 'upstream',
      command: process.execPath,
      args: nodeArgs(script('./upstream-server')),
      cpu: null,
      tasksetPath: null,
      stdout: 'port',
      keepStdin: true,
    });
    const upPort = await readPortLine(upstream, 10_000);
    const gateways = new Map<string, { port: number; pids: number[] }>();
    for (const s of SCENARIOS) {
      const port = await freePort();
      const file = path.join(tmp, `${s.id}.yaml`);
      writeFileSync(file, config(port, upPort, s));
      const proc = new ManagedProcess({
        name: s.id,
        command: 'env',
        args: [
          `NODE_CLUSTER_SCHED_POLICY=${s.policy}`,
          process.execPath,
          ...nodeArgs(cli),
          'serve',
          '-c',
          file,
        ],
        cpu: null,
        tasksetPath: null,
        stdout: 'ignore',
        keepStdin: false,
      });
      await waitForHttp(proc, port, 30_000);
      // The workers are forked before the listener answers; give the tree a moment to be complete.
      await new Promise((r) => setTimeout(r, 500));
      const pids = processTree(proc.pid);
      gateways.set(s.id, { port, pids });
      process.stderr.write(`${s.id}: pids ${pids.join(', ')}\n`);
    }
    const rows = new Map<string, Row>(SCENARIOS.map((s) => [s.id, { rps: [], p50: [], p99: [], cpuUs: [] }]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const s of SCENARIOS) {
        const g = gateways.get(s.id)!;
        const load = {
          url: `http://127.0.0.1:${g.port}/`,
          connections: CONNECTIONS,
          headers: {},
          cpu: null,
          tasksetPath: null,
        };
        await runLoad(gen, { ...load, durationS: WARMUP_S });
        const before = treeTicks(g.pids);
        const r: LoadResult = await runLoad(gen, { ...load, durationS: DURATION_S });
        const ticks = treeTicks(g.pids) - before;
        const row = rows.get(s.id)!;
        row.rps.push(r.requestsPerSecond);
        row.p50.push(r.p50Ms);
        row.p99.push(r.p99Ms);
        row.cpuUs.push(((ticks / clockTicksPerSecond()) * 1e6) / r.requests);
        process.stderr.write(
          `round ${round} ${s.id}: ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.badStatus + r.socketErrors}\n`,
        );
      }
    }
    const lines = [
      `# Workers (${new Date().toISOString().slice(0, 10)})`,
      '',
      machineLine(),
      `${gen.description}, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION_S} s; nothing pinned: the load generator, the upstream and the gateway share the machine's CPUs. Median (min–max).`,
      '',
      '| Scenario | What | req/s | p50 ms | p99 ms | CPU µs/request (all processes) |',
      '| --- | --- | --- | --- | --- | --- |',
      ...SCENARIOS.map((s) => {
        const r = rows.get(s.id)!;
        return `| \`${s.id}\` | ${s.what} | ${range(r.rps, 0)} | ${range(r.p50, 2)} | ${range(r.p99, 2)} | ${range(r.cpuUs, 1)} |`;
      }),
      '',
      `2 workers ÷ 1 process, req/s: ${(median(rows.get('w2')!.rps) / median(rows.get('w1')!.rps)).toFixed(2)}×; ` +
        `the rate-limit check through the primary adds ${(median(rows.get('w2-rl')!.cpuUs) - median(rows.get('w2')!.cpuUs)).toFixed(1)} µs CPU per request ` +
        `(in one process: ${(median(rows.get('w1-rl')!.cpuUs) - median(rows.get('w1')!.cpuUs)).toFixed(1)} µs).`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(
    `bench:workers failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  await stopAll();
  process.exit(1);
});
