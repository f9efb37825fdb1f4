// Parent side of fixtures/fault-upstream-server.ts: a misbehaving upstream in its own process, switched between
// faults at runtime, so resilience tests see real refused, reset, stalled and garbled connections.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..');
const CHILD_SCRIPT = join(HERE, '..', 'fixtures', 'fault-upstream-server.ts');

/** Extra response headers for the status-answering modes, e.g. `{ 'retry-after': '1' }`. */
export type FaultHeaders = Readonly<Record<string, string>>;

/** What each mode takes; every field has a default except burst's `count`. */
export interface FaultModeParams {
  /** 200 `{ server, method, path, url, hit, bodyLength }` once the request body has been read. */
  ok: Record<string, never>;
  /** `status` (default 503) with a small JSON body `{ server, status, hit }`. */
  status: { status?: number; headers?: FaultHeaders };
  /** The next `count` requests answer `status` (default 503), then the mode becomes `ok`. */
  burst: { count: number; status?: number; headers?: FaultHeaders };
  /** Reads the request, never sends headers; the socket stays open until the client gives up. */
  'stall-headers': Record<string, never>;
  /** Sends 200 with `Content-Length: contentLength` (default 1000) and `bytes` (default 10) of body, then stalls. */
  'stall-body': { bytes?: number; contentLength?: number };
  /**
   * As stall-body, then resets the connection (TCP RST) `afterMs` (default 50) later, so the client has most
   * likely read the headers and partial body by then. It sees ECONNRESET — or a clean EOF (undici: "other side
   * closed") when the RST lands before it read the partial body: libuv reports that hang-up as end of stream.
   */
  'reset-mid-body': { bytes?: number; contentLength?: number; afterMs?: number };
  /** Resets the connection (TCP RST) as soon as the request head arrives; nothing is sent. */
  'reset-before-headers': Record<string, never>;
  /** Reads the request, writes bytes that are not HTTP (`text`, default an SSH banner and binary) and closes. */
  garbage: { text?: string };
  /** As ok, `delayMs` (default 1000) later. */
  slow: { delayMs?: number };
}

export type FaultMode = keyof FaultModeParams;

/** What `GET /healthz` on the target answers: 200, 503, or nothing at all. */
export type FaultHealth = 'healthy' | 'unhealthy' | 'stall';

/** Counters since start or the last resetStats(); GET /healthz is counted apart from the traffic. */
export interface FaultStats {
  /** Requests answered by a mode (everything except GET /healthz). */
  readonly hits: number;
  /** hits by URL path (query left off). */
  readonly byPath: Readonly<Record<string, number>>;
  /** hits by the mode that served them (a burst's requests count as burst, the ones after it as ok). */
  readonly byMode: Readonly<Partial<Record<FaultMode, number>>>;
  /** GET /healthz requests. */
  readonly healthChecks: number;
  /** TCP connections accepted on the target port. */
  readonly connections: number;
  /** Connections to the target port open right now (a gauge: resetStats() leaves it alone). */
  readonly openSockets: number;
  readonly mode: FaultMode;
  readonly health: FaultHealth;
  /** False between refuse() and accept(). */
  readonly listening: boolean;
  /** Requests left in the current burst; 0 in other modes. */
  readonly burstRemaining: number;
}

/** Params are optional for every mode except burst. */
export type FaultModeArgs<M extends FaultMode> =
  Record<string, never> extends FaultModeParams[M]
    ? [params?: FaultModeParams[M]]
    : [params: FaultModeParams[M]];

export interface FaultUpstream {
  /** `http://127.0.0.1:PORT` of the target. */
  readonly url: string;
  readonly port: number;
  /** The control channel's port (see the protocol in fixtures/fault-upstream-server.ts). */
  readonly controlPort: number;
  /** Appears in every ok answer, so tests can tell targets apart. */
  readonly name: string;
  readonly pid: number;
  /** Switches how the following requests are answered (requests already in progress keep theirs). */
  setMode<M extends FaultMode>(mode: M, ...params: FaultModeArgs<M>): Promise<void>;
  setHealth(health: FaultHealth): Promise<void>;
  /** Closes the target's listening socket and drops its connections: ECONNREFUSED until accept(). */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  accept(): Promise<void>;
  stats(): Promise<FaultStats>;
  /** Polls stats() every 20 ms until `check` holds; throws with the last stats after `timeoutMs` (2000). */
  waitForStats(check: (stats: FaultStats) => boolean, timeoutMs?: number): Promise<FaultStats>;
  resetStats(): Promise<void>;
  /** SIGTERM (SIGKILL after 2 s); resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartFaultUpstreamOptions {
  /** Default `fault-upstream-<n>`. */
  readonly name?: string;
  /** Default 15 000 (tsx compiles the child on start). */
  readonly startTimeoutMs?: number;
}

// Module state on purpose: the exit hook must reach every child this test process started.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
let started = 0;

function killByPid(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => live.forEach(killByPid);
  process.once('exit', killAll);
  // 'exit' does not run when a signal ends the process (Ctrl-C, a runner's timeout): handle those too.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

interface ReadyLine {
  readonly port: number;
  readonly controlPort: number;
  readonly pid: number;
  readonly name: string;
}

export async function startFaultUpstream(opts: StartFaultUpstreamOptions = {}): Promise<FaultUpstream> {
  const name = opts.name ?? `fault-upstream-${++started}`;
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT, name], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  installExitHook();
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  void exited.then(() => live.delete(child));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end();
      child.kill('SIGTERM');
      const killer = setTimeout(() => killByPid(child), 2000);
      await exited;
      clearTimeout(killer);
    })());

  let ready: ReadyLine;
  try {
    ready = await readyLine(child, opts.startTimeoutMs ?? 15_000, () => stderr);
  } catch (err) {
    killByPid(child);
    await exited;
    throw err;
  }
  // A test that forgets stop() must not hang its file: the exit hook kills the child instead.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  const control = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    controlRequest(ready.controlPort, method, path, body);
  const stats = async () => (await control('GET', '/stats')) as FaultStats;

  return {
    url: `http://127.0.0.1:${ready.port}`,
    port: ready.port,
    controlPort: ready.controlPort,
    name: ready.name,
    pid: ready.pid,
    async setMode(mode, ...params) {
      await control('POST', '/mode', { ...params[0], mode });
    },
    async setHealth(health) {
      await control('POST', '/health', { health });
    },
    async refuse() {
      await control('POST', '/refuse');
    },
    async accept() {
      await control('POST', '/accept');
    },
    stats,
    async waitForStats(check, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await stats();
        if (check(s)) return s;
        if (Date.now() >= deadline)
          throw new Error(`fault upstream ${name}: stats never matched: ${JSON.stringify(s)}`);
        await sleep(20);
      }
    },
    async resetStats() {
      await control('POST', '/stats/reset');
    },
    stop,
  };
}

/** One request on its own connection (no pooled sockets left in the test process); JSON in and out. */
function controlRequest(port: number, method: string, path: string, body?: unknown): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: false, timeout: 5000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) {
            rej(new Error(`fault upstream control ${method} ${path}: ${response.statusCode} ${text}`));
          } else {
            res(text === '' ? undefined : JSON.parse(text));
          }
        });
        response.on('error', rej);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`fault upstream control ${method} ${path}: no answer in 5 s`)),
    );
    req.on('error', rej);
    if (payload !== undefined) req.setHeader('content-type', 'application/json');
    req.end(payload);
  });
}

function readyLine(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<ReadyLine> {
  return new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(
      () => done(new Error(`the fault upstream did not start in ${timeoutMs} ms; stderr:\n${stderr()}`)),
      timeoutMs,
    );
    const onData = (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      try {
        done(undefined, JSON.parse(buf.slice(0, nl)) as ReadyLine);
      } catch (err) {
        done(new Error(`the fault upstream printed ${JSON.stringify(buf)}: ${String(err)}`));
      }
    };
    // 'exit' can come before the last stderr chunk: 'close' waits for the pipes.
    const onClose = () =>
      done(new Error(`the fault upstream exited before it was ready; stderr:\n${stderr()}`));
    const done = (err: Error | undefined, v?: ReadyLine) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stdout!.resume(); // drain anything later so the child never blocks on a full pipe
      child.off('close', onClose);
      if (err) rej(err);
      else res(v!);
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
    child.once('close', onClose);
  });
}
