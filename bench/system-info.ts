// Describes the benchmark machine and decides CPU pinning (proxy on one CPU, the rest on another).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { findExecutable } from './child-processes.js';

export interface Pinning {
  readonly tasksetPath: string | null;
  /** CPU for the proxy under test (baseline or Portico), or null when unpinned. */
  readonly proxyCpu: number | null;
  /** CPU for the load generator and the upstream, or null when unpinned. */
  readonly loadCpu: number | null;
  /** One line for the report. */
  readonly description: string;
}

export function cpuModel(): string {
  try {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
    if (model !== undefined && model !== '') return model;
  } catch {
    // Not Linux: fall through.
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

/** CPUs this process may run on, from /proc/self/status (e.g. "0-1,4"), or 0..n-1 as a fallback. */
export function allowedCpus(): number[] {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
    if (list !== undefined) {
      const cpus: number[] = [];
      for (const part of list.split(',')) {
        const [from, to] = part.split('-').map(Number);
        if (from === undefined || !Number.isInteger(from)) continue;
        for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.push(cpu);
      }
      if (cpus.length > 0) return cpus;
    }
  } catch {
    // Fall back below.
  }
  return Array.from({ length: os.availableParallelism() }, (_, i) => i);
}

export function decidePinning(wanted: boolean): Pinning {
  const unpinned = (why: string): Pinning => ({
    tasksetPath: null,
    proxyCpu: null,
    loadCpu: null,
    description: `unpinned (${why}); the load generator competes with the proxy for CPU`,
  });
  if (!wanted) return unpinned('BENCH_PIN=0');
  const tasksetPath = findExecutable('taskset');
  if (tasksetPath === null) return unpinned('taskset not found');
  const cpus = allowedCpus();
  const [loadCpu, proxyCpu] = cpus;
  if (loadCpu === undefined || proxyCpu === undefined) return unpinned('only one CPU available');
  return {
    tasksetPath,
    proxyCpu,
    loadCpu,
    description: `taskset: proxy under test on CPU ${proxyCpu}; load generator + upstream on CPU ${loadCpu}`,
  };
}

export function machineLine(): string {
  return `Node ${process.version} · ${cpuModel()} (${os.availableParallelism()} CPUs) · ${os.type()} ${os.release()}`;
}

/** The commit measured ("abc1234", "+dirty" with uncommitted changes), or null outside a git checkout. */
export function gitRevision(root: string): string | null {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const sha = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? sha : `${sha}+dirty`;
  } catch {
    return null;
  }
}
