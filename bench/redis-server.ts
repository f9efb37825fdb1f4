// The Redis of the `portico-ratelimit-redis` scenario: a redis-server child of the harness on a free loopback
// port, no persistence, pinned with the load generator and the upstream, and stopped by pid like them.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { findExecutable, ManagedProcess, verifyProcess } from './child-processes.js';
import { readCpuTicks } from './cpu-usage.js';
import type { RunContext } from './subjects.js';

export interface BenchRedis {
  readonly proc: ManagedProcess;
  readonly port: number;
  readonly url: string;
}

/** What Redis did over one timed window: script runs (the rate-limit checks) and its own CPU ticks. */
export interface RedisSample {
  readonly scriptCalls: number;
  readonly cpuTicks: number | null;
}

/** Why the Redis scenario cannot run here, or null when redis-server is on PATH. */
export function redisMissingReason(): string | null {
  if (findExecutable('redis-server') !== null) return null;
  return 'redis-server is not installed (e.g. apt-get install redis-server); the Redis store was not measured';
}

/** Sends one command over a fresh connection and returns the raw reply (simple, error, integer or bulk). */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 2000): Promise<string> {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`redis ${args[0]}: no reply`)));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString('utf8');
      const bulk = head.startsWith('$') ? Number(head.slice(1)) : -1;
      if (bulk >= 0 && data.length < end + 2 + bulk) return;
      socket.end();
      resolve(bulk >= 0 ? data.subarray(end + 2, end + 2 + bulk).toString('utf8') : head);
    });
  });
}

/** Starts redis-server and waits until it answers PING; throws (after stopping it) when it does not. */
export async function startRedis(ctx: RunContext, port: number, timeoutMs: number): Promise<BenchRedis> {
  const exe = findExecutable('redis-server');
  if (exe === null) throw new Error('redis-server is not installed');
  const proc = new ManagedProcess({
    name: 'redis-server',
    command: exe,
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      ctx.tmpDir,
      '--loglevel',
      'warning',
    ],
    cpu: ctx.pinning.loadCpu,
    tasksetPath: ctx.pinning.tasksetPath,
    stdout: 'collect',
    keepStdin: false,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (proc.hasExited) throw new Error(`${proc.describeExit()}; stdout: ${proc.stdout.trim()}`);
      if ((await redisCommand(port, ['PING'], 500).catch(() => '')) === '+PONG') break;
      if (Date.now() > deadline) {
        throw new Error(`redis-server did not answer PING on port ${port} within ${timeoutMs / 1000} s`);
      }
      await sleep(50);
    }
    const affinity = verifyProcess(proc, exe);
    ctx.notes.push(
      `redis-server: pid ${proc.pid}, port ${port}, CPU affinity ${affinity} (with the load generator: ` +
        "its CPU is not in the proxy's µs/req)",
    );
  } catch (err: unknown) {
    await proc.stop();
    throw err;
  }
  return { proc, port, url: `redis://127.0.0.1:${port}` };
}

/** Script runs so far (EVALSHA + EVAL calls from INFO commandstats): one per rate-limit check. */
export async function scriptCalls(redis: BenchRedis): Promise<number> {
  const info = await redisCommand(redis.port, ['INFO', 'commandstats']);
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

/** Reads what a window needs from Redis: its script count and CPU ticks (null once it has exited). */
export async function sampleRedis(redis: BenchRedis): Promise<RedisSample> {
  const calls = await scriptCalls(redis);
  let ticks: number | null = null;
  try {
    ticks = readCpuTicks(redis.proc.pid);
  } catch {
    ticks = null;
  }
  return { scriptCalls: calls, cpuTicks: ticks };
}
