// Reads a process's CPU time (utime + stime) from /proc/<pid>/stat, the basis of the CPU µs/request figure.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let cachedTicks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, nearly always 100): the unit of /proc/<pid>/stat times. */
export function clockTicksPerSecond(): number {
  if (cachedTicks !== undefined) return cachedTicks;
  let ticks = 100;
  try {
    const parsed = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(parsed) && parsed > 0) ticks = parsed;
  } catch {
    // getconf missing: keep the Linux default.
  }
  cachedTicks = ticks;
  return ticks;
}

/**
 * utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/<pid>/stat), summed over all its threads.
 * The command name (field 2) is parenthesised and may hold spaces, so fields are counted after the last ')'.
 */
export function readCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot parse utime/stime from /proc/${pid}/stat`);
  }
  return utime + stime;
}

/** Whether /proc/<pid>/stat is readable here (Linux); without it CPU figures are reported as unavailable. */
export function procStatAvailable(): boolean {
  try {
    readCpuTicks(process.pid);
    return true;
  } catch {
    return false;
  }
}

/** CPU microseconds per completed request from a tick delta. */
export function cpuMicrosPerRequest(deltaTicks: number, requests: number): number {
  if (requests <= 0) return Number.NaN;
  return ((deltaTicks / clockTicksPerSecond()) * 1e6) / requests;
}

/** The share of one CPU the process used over `seconds` (1 = one core fully busy). */
export function cpuShare(deltaTicks: number, seconds: number): number {
  return deltaTicks / clockTicksPerSecond() / seconds;
}

/** A process and its children (a gateway's primary and its workers), from the parent pids in /proc. */
export function processTree(root: number): number[] {
  const pids = [root];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
