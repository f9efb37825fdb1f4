// The fixed-rate load generator: an open loop that sends GET requests on a fixed schedule (request i at
// start + i / rate) whether or not earlier ones were answered, over an undici Pool of keep-alive
// connections, and measures each latency from the request's scheduled send time, not from when it was
// actually sent, so a stalled target (or a stalled generator) shows in the percentiles instead of being
// hidden by fewer requests sent ("coordinated omission", which a closed loop like wrk's has).
// Usage: node open-loop.js '<json spec>' (OpenLoopSpec). Prints one JSON line (OpenLoopResult) and exits.
//
// One process runs the warm-up and then the timed window on the same schedule and connections; only
// requests scheduled inside the window are counted, and the target's CPU ticks (/proc/<pid>/stat) are read
// right when the window starts and when its last request is answered.
//
// Timing: libuv timers have 1 ms resolution, too coarse at thousands of requests per second. A worker
// thread sleeps until each send time with Atomics.wait (sub-millisecond) and posts a tick; the tick
// wakes the main thread out of its poll, which sends every request due by then. The main thread never
// blocks or spins, so responses are read as soon as they arrive, and the CPU it shares with the upstream
// is not burnt waiting. Atomics.wait oversleeps by about 0.1 ms, so the clock wakes EARLY_NS before a send
// time and the main thread sends what is due within EARLY_NS; a request sent early is timed from its
// actual send. How late requests went out (scheduled to sent) is reported as the generator's send lag.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Pool, type Dispatcher } from 'undici';
import { readCpuTicks } from './cpu-usage.js';

export interface OpenLoopSpec {
  readonly url: string;
  /** Requests per second, spread evenly. */
  readonly rate: number;
  /** Unmeasured lead-in at the same rate, seconds (may be 0). */
  readonly warmupS: number;
  /** The timed window, seconds. */
  readonly durationS: number;
  /** Most connections the pool may open (it opens one only when all are busy). */
  readonly connections: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Per-request timeout (headers and body), seconds. */
  readonly timeoutS: number;
  /** Process whose utime + stime is read around the window (the proxy), or null. */
  readonly cpuPid: number | null;
}

export interface OpenLoopResult {
  /** Requests scheduled in the window. */
  readonly scheduled: number;
  /** Window requests answered (any status) within the timeout. */
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Responses with status >= 400 (as wrk counts them). */
  readonly badStatus: number;
  /** Connection errors and timeouts. */
  readonly socketErrors: number;
  /** Requests not sent because a second's worth were outstanding: the target could not keep up. */
  readonly dropped: number;
  /** Scheduled-to-sent lag of the generator itself (0 when sent early). */
  readonly sendLagP50Ms: number;
  readonly sendLagP99Ms: number;
  /** CPU ticks of `cpuPid` from the window's start to its last answer, and that span in seconds. */
  readonly cpuTicks: number | null;
  readonly windowS: number;
}

const NS_PER_MS = 1e6;
/** The clock thread posts at most one tick per this many ns; every due request is sent on each tick. */
const MIN_TICK_NS = 50_000;
/** How much earlier than a send time the clock wakes (Atomics.wait's typical oversleep). */
const EARLY_NS = 100_000;
const HIGHEST_NS = 60_000_000_000;

// Plain JS (a CommonJS eval worker, without the parent's loader flags). Times are ns since `base`
// (process.hrtime, CLOCK_MONOTONIC: one clock for both threads, unlike performance.now(), whose origin is
// per thread). It says 'ready' first, so the schedule starts only once the thread runs.
const CLOCK_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', ({ base, startNs, tickNs, endNs, earlyNs }) => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const now = () => Number(process.hrtime.bigint() - base);
  // Ticks stay on the grid startNs + k * tickNs: after a late tick (which sent all that was due) the
  // next is the first grid point still ahead, so a stall does not shift every later tick off the schedule.
  for (let k = 0; ; ) {
    const due = Math.min(endNs, startNs + k * tickNs);
    let waitNs;
    while ((waitNs = due - earlyNs - now()) > 0) Atomics.wait(cell, 0, 0, waitNs / 1e6);
    parentPort.postMessage(0);
    if (due >= endNs) break;
    k = Math.max(k + 1, Math.floor((now() + earlyNs - startNs) / tickNs) + 1);
  }
});
parentPort.postMessage('ready');
`;

function newHistogram(): RecordableHistogram {
  // Nanoseconds, 1 ns to 60 s, 3 significant digits (HdrHistogram: bounded memory whatever the count).
  return createHistogram({ lowest: 1, highest: HIGHEST_NS, figures: 3 });
}

function record(histogram: RecordableHistogram, ns: number): void {
  histogram.record(Math.min(Math.max(1, Math.round(ns)), HIGHEST_NS));
}

function percentileMs(histogram: RecordableHistogram, p: number): number {
  return histogram.count === 0 ? Number.NaN : histogram.percentile(p) / NS_PER_MS;
}

function parseSpec(raw: string | undefined): OpenLoopSpec {
  if (raw === undefined) throw new Error("usage: open-loop '<json spec>'");
  const spec = JSON.parse(raw) as OpenLoopSpec;
  for (const key of ['rate', 'durationS', 'connections', 'timeoutS'] as const) {
    if (!(typeof spec[key] === 'number' && spec[key] > 0)) throw new Error(`open-loop: bad ${key}`);
  }
  if (!(typeof spec.warmupS === 'number' && spec.warmupS >= 0)) throw new Error('open-loop: bad warmupS');
  return spec;
}

function ticksOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return readCpuTicks(pid);
  } catch {
    return null;
  }
}

async function runOpenLoop(spec: OpenLoopSpec): Promise<OpenLoopResult> {
  const target = new URL(spec.url);
  const timeoutMs = spec.timeoutS * 1000;
  const pool = new Pool(target.origin, {
    connections: spec.connections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const request = {
    origin: target.origin,
    method: 'GET',
    path: target.pathname + target.search,
    headers: { ...spec.headers },
  };
  const latency = newHistogram();
  const sendLag = newHistogram();
  const intervalNs = 1e9 / spec.rate;
  const warmCount = Math.round(spec.rate * spec.warmupS);
  const windowCount = Math.max(1, Math.round(spec.rate * spec.durationS));
  const total = warmCount + windowCount;
  const maxOutstanding = Math.max(100, Math.ceil(spec.rate));
  const base = process.hrtime.bigint();
  const now = (): number => Number(process.hrtime.bigint() - base);
  let startNs = Number.POSITIVE_INFINITY;
  let next = 0;
  let outstanding = 0;
  let windowOutstanding = 0;
  let answered = 0;
  let badStatus = 0;
  let socketErrors = 0;
  let dropped = 0;
  let ticksBefore: number | null = null;
  let windowStartedNs = 0;
  /** Set once the window is over: late answers and the errors of destroying the pool are not counted. */
  let closed = false;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const finishIfDone = (): void => {
    if (next >= total && windowOutstanding === 0) finish();
  };

  class Exchange implements Dispatcher.DispatchHandler {
    private status = 0;
    /** `fromNs`: the earlier of the scheduled and the actual send time; null for a warm-up request. */
    constructor(private readonly fromNs: number | null) {}
    // Its presence tells undici this handler uses the controller API (undici 7).
    onRequestStart(): void {}
    onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
      this.status = statusCode;
    }
    onResponseData(): void {}
    onResponseEnd(): void {
      outstanding--;
      if (closed || this.fromNs === null) return;
      record(latency, now() - this.fromNs);
      answered++;
      if (this.status >= 400) badStatus++;
      windowOutstanding--;
      finishIfDone();
    }
    onResponseError(): void {
      outstanding--;
      if (closed || this.fromNs === null) return;
      socketErrors++;
      windowOutstanding--;
      finishIfDone();
    }
  }

  const pump = (): void => {
    const t = now();
    while (next < total) {
      const scheduledNs = startNs + next * intervalNs;
      if (scheduledNs > t + EARLY_NS) break;
      const inWindow = next >= warmCount;
      if (next === warmCount) {
        ticksBefore = ticksOf(spec.cpuPid);
        windowStartedNs = t;
      }
      next++;
      if (outstanding >= maxOutstanding) {
        if (inWindow) dropped++;
        continue;
      }
      outstanding++;
      if (inWindow) {
        windowOutstanding++;
        record(sendLag, t - scheduledNs);
      }
      pool.dispatch(request, new Exchange(inWindow ? Math.min(t, scheduledNs) : null));
    }
    finishIfDone();
  };

  const clock = new Worker(CLOCK_WORKER, { eval: true, execArgv: [] });
  clock.on('error', (err) => {
    process.stderr.write(`open-loop: clock thread failed: ${err.message}\n`);
    process.exit(1);
  });
  clock.on('message', (message: unknown) => {
    if (message !== 'ready') return pump();
    startNs = now() + 20 * NS_PER_MS;
    const endNs = startNs + (total - 1) * intervalNs;
    clock.postMessage({ base, startNs, tickNs: Math.max(intervalNs, MIN_TICK_NS), endNs, earlyNs: EARLY_NS });
    // Whatever is still unanswered a timeout after the last send counts as timed out.
    setTimeout(finish, (endNs - now()) / NS_PER_MS + timeoutMs + 1000);
  });
  await finished;
  const ticksAfter = ticksOf(spec.cpuPid);
  const windowS = (now() - windowStartedNs) / 1e9;
  closed = true;
  socketErrors += windowOutstanding;
  await clock.terminate();
  await pool.destroy();

  return {
    scheduled: windowCount,
    requests: answered,
    requestsPerSecond: answered / spec.durationS,
    p50Ms: percentileMs(latency, 50),
    p99Ms: percentileMs(latency, 99),
    p999Ms: percentileMs(latency, 99.9),
    maxMs: latency.count === 0 ? Number.NaN : latency.max / NS_PER_MS,
    badStatus,
    socketErrors,
    dropped,
    sendLagP50Ms: percentileMs(sendLag, 50),
    sendLagP99Ms: percentileMs(sendLag, 99),
    cpuTicks: ticksBefore !== null && ticksAfter !== null ? ticksAfter - ticksBefore : null,
    windowS,
  };
}

const spec = parseSpec(process.argv[2]);
const result = await runOpenLoop(spec);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
