// Starts the servers under test (upstream, baseline, Portico) once, and measures one of them for one round.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, readPortLine, verifyProcess, waitForHttp } from './child-processes.js';
import { readCpuTicks } from './cpu-usage.js';
import { runLoad, type LoadGenerator } from './load-generator.js';
import { sampleRedis, type BenchRedis, type RedisSample } from './redis-server.js';
import type { ScenarioResult } from './report.js';
import type { Pinning } from './system-info.js';

/** One thing the load is pointed at, with the process whose CPU is measured. */
export interface Subject {
  readonly result: ScenarioResult;
  readonly proc: ManagedProcess | null;
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the process's CPU per request is measured (proxies yes, the upstream no). */
  readonly measureCpu: boolean;
  /** The Redis this subject's rate limit counts in: its script runs and CPU are read around each window. */
  readonly redis?: BenchRedis;
}

export interface RunContext {
  readonly pinning: Pinning;
  readonly generator: LoadGenerator;
  readonly connections: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly readyTimeoutMs: number;
  readonly tmpDir: string;
  /** Lines for the report's notes (pids, affinities, failures). */
  readonly notes: string[];
}

// Compiled, this file runs as dist/bench/subjects.js; under tsx it is bench/subjects.ts. Siblings share the extension.
const EXT = path.extname(fileURLToPath(import.meta.url));

export function script(relative: string): string {
  return fileURLToPath(new URL(`${relative}${EXT}`, import.meta.url));
}

/** node arguments to run one of our scripts (loader flags are only needed when running the .ts sources). */
export function nodeArgs(file: string): string[] {
  return EXT === '.ts' ? [...process.execArgv, file] : [file];
}

export const PORTICO_CLI = script('../src/cli/main');

export function porticoMissingReason(): string | null {
  if (existsSync(PORTICO_CLI)) return null;
  const shown = path.relative(process.cwd(), PORTICO_CLI) || PORTICO_CLI;
  return `Portico is not built yet (${shown} not found)`;
}

/** A loopback port nothing listens on right now (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function noteProcess(ctx: RunContext, proc: ManagedProcess, port: number): void {
  const affinity = verifyProcess(proc, process.execPath);
  ctx.notes.push(`${proc.name}: pid ${proc.pid}, port ${port}, CPU affinity ${affinity}`);
}

/** Starts one of our own node servers (upstream, baseline), which print their port on stdout. */
export async function startOwnServer(
  ctx: RunContext,
  name: string,
  file: string,
  args: readonly string[],
  cpu: number | null,
): Promise<{ proc: ManagedProcess; port: number }> {
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: [...nodeArgs(script(file)), ...args],
    cpu,
    tasksetPath: ctx.pinning.tasksetPath,
    stdout: 'port',
    keepStdin: true,
  });
  const port = await readPortLine(proc, 10_000);
  noteProcess(ctx, proc, port);
  return { proc, port };
}

/**
 * Starts Portico on a fresh port with the YAML `buildConfig` returns; on failure marks `result` failed (with
 * Portico's stderr) and returns a subject without a process, so the rest of the benchmark still runs.
 */
export async function startPortico(
  ctx: RunContext,
  result: ScenarioResult,
  buildConfig: (port: number) => string,
  requestPath: string,
  headers: Readonly<Record<string, string>>,
  redis?: BenchRedis,
): Promise<Subject> {
  const port = await freePort();
  const configFile = path.join(ctx.tmpDir, `${result.id}.yaml`);
  await writeFile(configFile, buildConfig(port));
  const proc = new ManagedProcess({
    name: result.id,
    command: process.execPath,
    args: [...nodeArgs(PORTICO_CLI), 'serve', '-c', configFile],
    cpu: ctx.pinning.proxyCpu,
    tasksetPath: ctx.pinning.tasksetPath,
    stdout: 'ignore',
    keepStdin: false,
  });
  try {
    await waitForHttp(proc, port, ctx.readyTimeoutMs);
    noteProcess(ctx, proc, port);
    return { result, proc, port, path: requestPath, headers, measureCpu: true, ...(redis ? { redis } : {}) };
  } catch (err: unknown) {
    await proc.stop();
    const reason = `Portico did not start: ${err instanceof Error ? err.message : String(err)}`;
    result.unavailable = { kind: 'failed', reason };
    process.stderr.write(`${result.id}: ${reason}\n`);
    return { result, proc: null, port, path: requestPath, headers, measureCpu: true };
  }
}

export function markDead(subject: Subject, proc: ManagedProcess, round: number): void {
  subject.result.unavailable = { kind: 'failed', reason: `died in round ${round}: ${proc.describeExit()}` };
  process.stderr.write(`${subject.result.id}: ${subject.result.unavailable.reason}\n`);
}

function readTicksIfAlive(proc: ManagedProcess): number | null {
  try {
    return readCpuTicks(proc.pid);
  } catch {
    return null;
  }
}

/** Script count and CPU ticks of the subject's Redis, or null when it has none or it does not answer. */
async function sampleIfAlive(redis: BenchRedis | undefined): Promise<RedisSample | null> {
  if (redis === undefined || redis.proc.hasExited) return null;
  try {
    return await sampleRedis(redis);
  } catch {
    return null;
  }
}

/** Warm-up, then one timed window with /proc/<pid>/stat read right before and right after it. */
export async function measureRound(ctx: RunContext, subject: Subject, round: number): Promise<void> {
  const { proc } = subject;
  if (proc === null || subject.result.unavailable !== null) return;
  if (proc.hasExited) return markDead(subject, proc, round);
  const load = {
    url: `http://127.0.0.1:${subject.port}${subject.path}`,
    connections: ctx.connections,
    headers: subject.headers,
    cpu: ctx.pinning.loadCpu,
    tasksetPath: ctx.pinning.tasksetPath,
  };
  await runLoad(ctx.generator, { ...load, durationS: ctx.warmupS });

  // Redis is read outside the proxy's window (INFO is a round trip), so the window stays as tight as before.
  const redisBefore = await sampleIfAlive(subject.redis);
  const startedAt = process.hrtime.bigint();
  const before = subject.measureCpu ? readTicksIfAlive(proc) : null;
  const result = await runLoad(ctx.generator, { ...load, durationS: ctx.durationS });
  const after = subject.measureCpu ? readTicksIfAlive(proc) : null;
  const windowS = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const redisAfter = await sampleIfAlive(subject.redis);

  if (proc.hasExited || (subject.measureCpu && (before === null || after === null))) {
    return markDead(subject, proc, round);
  }
  if (subject.redis !== undefined && (redisBefore === null || redisAfter === null)) {
    // Checks failed open (on_store_error: allow) at least part of the window: not a measurement of Redis.
    const reason = `Redis did not answer around the window of round ${round}: ${subject.redis.proc.describeExit()}`;
    subject.result.unavailable = { kind: 'failed', reason };
    process.stderr.write(`${subject.result.id}: ${reason}\n`);
    return;
  }
  const cpuTicks = before !== null && after !== null ? after - before : null;
  const redis =
    redisBefore !== null && redisAfter !== null
      ? {
          scriptCalls: redisAfter.scriptCalls - redisBefore.scriptCalls,
          cpuTicks:
            redisBefore.cpuTicks !== null && redisAfter.cpuTicks !== null
              ? redisAfter.cpuTicks - redisBefore.cpuTicks
              : null,
        }
      : undefined;
  subject.result.measurements.push({ round, load: result, windowS, cpuTicks, ...(redis ? { redis } : {}) });

  const cpu =
    (cpuTicks === null ? '' : `, ${cpuTicks} ticks`) +
    (redis === undefined ? '' : `, ${redis.scriptCalls} Redis scripts, Redis ${redis.cpuTicks ?? '?'} ticks`);
  const errors = result.badStatus + result.socketErrors;
  process.stderr.write(
    `  ${subject.result.id}: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms.toFixed(2)} ms` +
      `${cpu}${errors > 0 ? `, ${errors} ERRORS` : ''}\n`,
  );
}
