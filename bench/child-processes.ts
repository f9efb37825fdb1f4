// Starts, tracks and stops the benchmark's child processes by pid, optionally pinned to one CPU with taskset.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** CPU to pin the process to (taskset -c), or null to run unpinned. */
  readonly cpu: number | null;
  readonly tasksetPath: string | null;
  /** 'port': first stdout line is the port; 'collect': keep all stdout; 'ignore': discard it. */
  readonly stdout: 'port' | 'collect' | 'ignore';
  /** Keep a stdin pipe open (our own servers exit when it closes, so they never outlive the harness). */
  readonly keepStdin: boolean;
}

const TAIL_BYTES = 4096;
const live = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly pinnedCpu: number | null;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private stdoutText = '';
  private stderrText = '';
  private exitText: string | null = null;

  constructor(spec: SpawnSpec) {
    this.name = spec.name;
    const pinned = spec.cpu !== null && spec.tasksetPath !== null;
    this.pinnedCpu = pinned ? spec.cpu : null;
    // taskset sets the affinity and then execs the command, so the pid we get stays the command's pid.
    const [command, args] =
      pinned && spec.tasksetPath !== null
        ? [spec.tasksetPath, ['-c', String(spec.cpu), spec.command, ...spec.args]]
        : [spec.command, [...spec.args]];
    this.child = spawn(command, args, {
      stdio: [spec.keepStdin ? 'pipe' : 'ignore', spec.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.exitText ??= `could not be started: ${err.message}`;
        resolve();
      });
      this.child.once('exit', (code, signal) => {
        this.exitText ??= signal !== null ? `killed by ${signal}` : `exited with code ${code ?? '?'}`;
        resolve();
      });
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      // In 'port' mode only the first line matters; later output is drained and dropped.
      if (spec.stdout === 'collect' || !this.stdoutText.includes('\n')) this.stdoutText += chunk;
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrText = (this.stderrText + chunk).slice(-TAIL_BYTES);
    });
    if (this.child.pid === undefined) {
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      live.add(this);
    }
    void this.exited.then(() => live.delete(this));
  }

  get hasExited(): boolean {
    return this.exitText !== null;
  }

  get stdout(): string {
    return this.stdoutText;
  }

  /** Why the process stopped, with the end of its stderr. */
  describeExit(): string {
    const tail = this.stderrText.trim();
    return `${this.name} ${this.exitText ?? 'is still running'}${tail === '' ? '' : `; stderr:\n${tail}`}`;
  }

  stderrTail(): string {
    return this.stderrText;
  }

  /** Resolves with the exit code once the process ends (null when killed by a signal or never started). */
  async waitForExit(): Promise<number | null> {
    await this.exited;
    return this.child.exitCode;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; always by this process's own pid. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.hasExited || this.pid < 0) return;
    signal(this.pid, 'SIGTERM');
    const timer = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([this.exited.then(() => 'exited' as const), timer])) === 'timeout') {
      signal(this.pid, 'SIGKILL');
      await this.exited;
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Stops every child this harness started that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop()));
}

/** Kills every live child immediately (for a synchronous exit path). */
export function killAllNow(): void {
  for (const proc of live) signal(proc.pid, 'SIGKILL');
}

/** Waits for the first stdout line of a process and parses it as its TCP port. */
export async function readPortLine(proc: ManagedProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const newline = proc.stdout.indexOf('\n');
    if (newline >= 0) {
      const port = Number(proc.stdout.slice(0, newline).trim());
      if (Number.isInteger(port) && port > 0 && port < 65536) return port;
      throw new Error(`${proc.name} printed "${proc.stdout.slice(0, newline)}" instead of its port`);
    }
    if (proc.hasExited) throw new Error(proc.describeExit());
    await sleep(20);
  }
  throw new Error(`${proc.name} did not print its port within ${timeoutMs} ms`);
}

function httpProbe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Polls until an HTTP request to `port` gets any response, the process exits, or `timeoutMs` passes. */
export async function waitForHttp(proc: ManagedProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited) throw new Error(proc.describeExit());
    if (await httpProbe(port)) return;
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer HTTP on port ${port} within ${timeoutMs / 1000} s`);
}

/**
 * Confirms `pid` is really the expected executable (i.e. taskset exec'd it, so the pid we measure is node's)
 * and returns its CPU affinity list from /proc/<pid>/status.
 */
export function verifyProcess(proc: ManagedProcess, expectedExe: string): string {
  const exe = realpathSync(`/proc/${proc.pid}/exe`);
  const expected = realpathSync(expectedExe);
  if (exe !== expected) {
    throw new Error(
      `${proc.name}: pid ${proc.pid} runs ${exe}, expected ${expected} (taskset did not exec?)`,
    );
  }
  const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '?';
}

/** The first executable called `name` on PATH, or null. */
export function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}
