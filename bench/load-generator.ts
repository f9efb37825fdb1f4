// Drives HTTP load with wrk (autocannon when wrk is absent) and parses the results into numbers.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { findExecutable, ManagedProcess } from './child-processes.js';

export interface LoadGenerator {
  readonly kind: 'wrk' | 'autocannon';
  /** Executable (wrk) or node + script (autocannon). */
  readonly command: string;
  readonly baseArgs: readonly string[];
  readonly description: string;
}

export interface LoadRequest {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly cpu: number | null;
  readonly tasksetPath: string | null;
}

export interface LoadResult {
  /** Completed requests in the window. */
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** NaN when the generator did not report it. */
  readonly p999Ms: number;
  /** Responses with an error status (wrk: status >= 400; autocannon: anything but 2xx). */
  readonly badStatus: number;
  /** Connect/read/write errors and timeouts. */
  readonly socketErrors: number;
}

// wrk --latency prints p50/p75/p90/p99 only; its script hook `done` reads any percentile of the same
// histogram (in µs).
const WRK_P999_SCRIPT = `done = function(summary, latency, requests)
  io.write(string.format("Latency p99.9: %.0fus\\n", latency:percentile(99.9)))
end
`;

function wrkGenerator(wrkPath: string, tmpDir: string): LoadGenerator {
  let version = 'wrk';
  try {
    execFileSync(wrkPath, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err: unknown) {
    // wrk prints its version and usage, then exits 1.
    const out = err instanceof Error && 'stdout' in err && typeof err.stdout === 'string' ? err.stdout : '';
    version = /^(wrk \S+)/.exec(out)?.[1] ?? version;
  }
  const script = path.join(tmpDir, 'wrk-p999.lua');
  writeFileSync(script, WRK_P999_SCRIPT);
  return { kind: 'wrk', command: wrkPath, baseArgs: ['-s', script], description: `${version} (1 thread)` };
}

function autocannonGenerator(): LoadGenerator {
  const require = createRequire(import.meta.url);
  const main = require.resolve('autocannon');
  const pkg: unknown = JSON.parse(readFileSync(path.join(path.dirname(main), 'package.json'), 'utf8'));
  const version = pkg !== null && typeof pkg === 'object' && 'version' in pkg ? String(pkg.version) : '?';
  return {
    kind: 'autocannon',
    command: process.execPath,
    baseArgs: [main],
    description: `autocannon ${version} (1 thread; wrk not used)`,
  };
}

/** `tmpDir` holds wrk's script (removed with the run's temp dir). */
export function detectLoadGenerator(choice: 'auto' | 'wrk' | 'autocannon', tmpDir: string): LoadGenerator {
  if (choice !== 'autocannon') {
    const wrkPath = findExecutable('wrk');
    if (wrkPath !== null) return wrkGenerator(wrkPath, tmpDir);
    if (choice === 'wrk') throw new Error('BENCH_LOADGEN=wrk but wrk is not on PATH');
  }
  return autocannonGenerator();
}

function argsFor(gen: LoadGenerator, load: LoadRequest): string[] {
  const headers = Object.entries(load.headers);
  if (gen.kind === 'wrk') {
    return [
      ...gen.baseArgs,
      '-t1',
      `-c${load.connections}`,
      `-d${load.durationS}s`,
      '--timeout',
      '10s',
      '--latency',
      ...headers.flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
      load.url,
    ];
  }
  return [
    ...gen.baseArgs,
    '-c',
    String(load.connections),
    '-d',
    String(load.durationS),
    '-t',
    '10',
    '-j',
    '-n',
    ...headers.flatMap(([name, value]) => ['-H', `${name}=${value}`]),
    load.url,
  ];
}

/** Runs one load window to completion and returns its parsed result. Throws if the generator itself fails. */
export async function runLoad(gen: LoadGenerator, load: LoadRequest): Promise<LoadResult> {
  const proc = new ManagedProcess({
    name: gen.kind,
    command: gen.command,
    args: argsFor(gen, load),
    cpu: load.cpu,
    tasksetPath: load.tasksetPath,
    stdout: 'collect',
    keepStdin: false,
  });
  const watchdog = setTimeout(() => void proc.stop(), (load.durationS + 30) * 1000);
  const code = await proc.waitForExit();
  clearTimeout(watchdog);
  if (code !== 0) throw new Error(`load generator failed: ${proc.describeExit()}\n${proc.stdout}`);
  return gen.kind === 'wrk' ? parseWrkOutput(proc.stdout) : parseAutocannonJson(proc.stdout);
}

const TIME_UNITS_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

function toMs(value: string, unit: string): number {
  const factor = TIME_UNITS_MS[unit];
  if (factor === undefined) throw new Error(`unknown wrk time unit "${unit}"`);
  return Number(value) * factor;
}

function must(match: RegExpExecArray | null, what: string, text: string): RegExpExecArray {
  if (match === null) throw new Error(`cannot find ${what} in wrk output:\n${text}`);
  return match;
}

/** Parses `wrk --latency` output: requests, req/s, p50/p99 (p99.9 from our script) and the error lines (absent when zero). */
export function parseWrkOutput(text: string): LoadResult {
  const percentile = (p: string): number => {
    const m = must(
      new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text),
      `p${p}`,
      text,
    );
    return toMs(m[1] ?? '', m[2] ?? '');
  };
  const requests = Number(must(/(\d+) requests in /.exec(text), 'request count', text)[1]);
  const rps = Number(must(/^Requests\/sec:\s*([\d.]+)/m.exec(text), 'Requests/sec', text)[1]);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const badStatus = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const p999 = /^Latency p99\.9: (\d+)us$/m.exec(text);
  return {
    requests,
    requestsPerSecond: rps,
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    p999Ms: p999 === null ? Number.NaN : Number(p999[1]) / 1000,
    badStatus,
    socketErrors,
  };
}

function field(obj: unknown, ...keys: string[]): number {
  let cur: unknown = obj;
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object' || !(key in cur)) {
      throw new Error(`autocannon JSON lacks ${keys.join('.')}`);
    }
    cur = (cur as Record<string, unknown>)[key];
  }
  if (typeof cur !== 'number') throw new Error(`autocannon JSON: ${keys.join('.')} is not a number`);
  return cur;
}

/** Parses `autocannon -j` output (latencies are in ms already). */
export function parseAutocannonJson(text: string): LoadResult {
  const line = text.trim().split('\n').at(-1) ?? '';
  const json: unknown = JSON.parse(line);
  const requests = field(json, 'requests', 'total');
  const duration = field(json, 'duration');
  return {
    requests,
    requestsPerSecond: duration > 0 ? requests / duration : 0,
    p50Ms: field(json, 'latency', 'p50'),
    p99Ms: field(json, 'latency', 'p99'),
    p999Ms: field(json, 'latency', 'p99_9'),
    badStatus: field(json, 'non2xx'),
    socketErrors: field(json, 'errors'), // includes timeouts
  };
}
