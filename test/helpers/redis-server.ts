// Real redis-server children for tests that need Redis: each on its own loopback port with no persistence,
// so no test ever touches the shared Redis on 6379 or leaves files behind. Killed by stop(), and by an exit
// hook if a test forgets or fails before its after() runs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestRedisServer {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** SIGTERM (SIGKILL after 2 s); resolves when the process has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGSTOP: the port still accepts connections, but nothing answers (a hung or swapping server). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface StartRedisOptions {
  /** Reuse a port (e.g. restart on the port a client keeps reconnecting to); default a free one. */
  readonly port?: number;
  /** A one-node Redis Cluster owning all 16384 slots (enough to enforce CROSSSLOT and hash tags). */
  readonly cluster?: boolean;
}

// Module state on purpose: the exit hook must reach every server this test process started.
/** Running servers and their temp dirs. */
const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const [c, dir] of live) {
      c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once('exit', killAll);
  // 'exit' does not run when a signal ends the process (Ctrl-C, a runner's timeout): handle those too.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * The `skip` option for suites that need Redis: a reason when `redis-server` is not installed, false when it
 * is — or when PORTICO_REQUIRE_REDIS=1 (CI), so that a missing server fails the suite instead.
 */
export function redisServerSkip(): string | false {
  if (process.env.PORTICO_REQUIRE_REDIS === '1') return false;
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.error
    ? 'redis-server is not installed (PORTICO_REQUIRE_REDIS=1 turns this into a failure)'
    : false;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends one command over a fresh connection and returns the raw reply (simple, error, integer or bulk). */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 1000): Promise<string> {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`redis ${args[0]}: no reply`)));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const end = data.indexOf('\r\n');
      if (end < 0) return;
      const bulk = data[0] === '$' ? Number(data.slice(1, end)) : -1;
      if (bulk >= 0 && data.length < end + 2 + bulk) return;
      socket.end();
      resolve(bulk >= 0 ? data.slice(end + 2, end + 2 + bulk) : data.slice(0, end));
    });
  });
}

async function waitUntil(
  check: () => Promise<boolean>,
  child: ChildProcess,
  what: string,
  output: () => string,
) {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited before ${what}: ${output()}`);
    }
    if (await check().catch(() => false)) return;
    await sleep(20);
  }
  throw new Error(`redis-server: no ${what} within 5 s: ${output()}`);
}

export async function startRedisServer(opts: StartRedisOptions = {}): Promise<TestRedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'portico-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  args.push('--dir', dir, '--loglevel', 'warning');
  if (opts.cluster) {
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
    args.push('--cluster-announce-ip', '127.0.0.1'); // a lone node does not know its address otherwise
  }
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  live.set(child, dir);
  void exited.then(() => {
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  });
  installExitHook();

  async function stop(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT'); // a stopped process cannot act on SIGTERM
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
  }

  try {
    await spawned;
    await waitUntil(
      async () => (await redisCommand(port, ['PING'])) === '+PONG',
      child,
      'PONG',
      () => output,
    );
    if (opts.cluster) {
      await redisCommand(port, ['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
      const ok = async () => (await redisCommand(port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok');
      await waitUntil(ok, child, 'cluster_state:ok', () => output);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}
