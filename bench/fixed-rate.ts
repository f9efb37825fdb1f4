// The fixed-rate mode: after the saturation rounds, every scenario is offered the same request rate by the
// open-loop generator (bench/open-loop.ts), in interleaved rounds, and its latency percentiles (timed from
// each request's scheduled send) and CPU per request at that rate are recorded.
import type { RateChoice } from './bench-options.js';
import { ManagedProcess } from './child-processes.js';
import type { OpenLoopResult, OpenLoopSpec } from './open-loop.js';
import { cpuPerRequest, fmt, median, present, spread, type Column, type ScenarioResult } from './report.js';
import { markDead, nodeArgs, script, type RunContext, type Subject } from './subjects.js';

/** Per-request timeout of the generator, as wrk's --timeout. */
const TIMEOUT_S = 10;

export interface RateDecision {
  /** The offered rate, req/s, or null when the mode cannot run. */
  readonly perSecond: number | null;
  /** For the report's header: how the rate was chosen, or why the mode did not run. */
  readonly description: string;
}

/** The rate every scenario is offered: BENCH_RATE in req/s, or a share of the baseline's median saturated req/s. */
export function decideRate(choice: RateChoice, baseline: ScenarioResult | undefined): RateDecision {
  if (choice.kind === 'absolute') {
    return { perSecond: choice.perSecond, description: `${fmt(choice.perSecond, 0)} req/s (BENCH_RATE)` };
  }
  const percent = `${fmt(choice.share * 100, 0)}%`;
  const saturated = baseline?.measurements.map((m) => m.load.requestsPerSecond) ?? [];
  if (saturated.length === 0) {
    return {
      perSecond: null,
      description:
        `not run: the default rate is ${percent} of the baseline's saturated req/s, and the baseline was not ` +
        'measured in this run (add `baseline` to BENCH_ONLY, or set BENCH_RATE to req/s)',
    };
  }
  const perSecond = Math.max(10, Math.round((median(saturated) * choice.share) / 10) * 10);
  return {
    perSecond,
    description:
      `${fmt(perSecond, 0)} req/s offered to every scenario (${percent} of the baseline's median saturated ` +
      `${fmt(median(saturated), 0)} req/s in this run)`,
  };
}

function parseResult(text: string): OpenLoopResult {
  const line = text.trim().split('\n').at(-1) ?? '';
  const parsed: unknown = JSON.parse(line);
  if (parsed === null || typeof parsed !== 'object' || !('requests' in parsed) || !('p99Ms' in parsed)) {
    throw new Error(`open-loop printed no result: ${text.slice(0, 200)}`);
  }
  return parsed as OpenLoopResult;
}

/** Runs the open-loop generator for one warm-up + timed window (one process, one schedule). */
async function runOpenLoop(ctx: RunContext, spec: OpenLoopSpec): Promise<OpenLoopResult> {
  const proc = new ManagedProcess({
    name: 'open-loop',
    command: process.execPath,
    args: [...nodeArgs(script('open-loop')), JSON.stringify(spec)],
    cpu: ctx.pinning.loadCpu,
    tasksetPath: ctx.pinning.tasksetPath,
    stdout: 'collect',
    keepStdin: false,
  });
  const watchdog = setTimeout(
    () => void proc.stop(),
    (spec.warmupS + spec.durationS + TIMEOUT_S + 30) * 1000,
  );
  const code = await proc.waitForExit();
  clearTimeout(watchdog);
  if (code !== 0) throw new Error(`open-loop generator failed: ${proc.describeExit()}\n${proc.stdout}`);
  return parseResult(proc.stdout);
}

/** One fixed-rate round of one scenario: warm-up then the timed window at `rate`, CPU read by the generator. */
export async function measureFixedRateRound(
  ctx: RunContext,
  subject: Subject,
  round: number,
  rate: number,
): Promise<void> {
  const { proc } = subject;
  if (proc === null || subject.result.unavailable !== null) return;
  if (proc.hasExited) return markDead(subject, proc, round);
  const r = await runOpenLoop(ctx, {
    url: `http://127.0.0.1:${subject.port}${subject.path}`,
    rate,
    warmupS: ctx.warmupS,
    durationS: ctx.durationS,
    connections: ctx.connections,
    headers: subject.headers,
    timeoutS: TIMEOUT_S,
    cpuPid: subject.measureCpu ? proc.pid : null,
  });
  if (proc.hasExited || (subject.measureCpu && r.cpuTicks === null)) return markDead(subject, proc, round);
  subject.result.fixedRate.push({
    round,
    load: {
      requests: r.requests,
      requestsPerSecond: r.requestsPerSecond,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      p999Ms: r.p999Ms,
      badStatus: r.badStatus,
      socketErrors: r.socketErrors,
    },
    windowS: r.windowS,
    cpuTicks: r.cpuTicks,
    fixed: {
      rate,
      scheduled: r.scheduled,
      dropped: r.dropped,
      sendLagP50Ms: r.sendLagP50Ms,
      sendLagP99Ms: r.sendLagP99Ms,
    },
  });
  const errors = r.badStatus + r.socketErrors + r.dropped;
  process.stderr.write(
    `  ${subject.result.id} @ ${rate}/s: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ` +
      `p99.9 ${r.p999Ms.toFixed(2)} ms${r.cpuTicks === null ? '' : `, ${r.cpuTicks} ticks`}` +
      `${errors > 0 ? `, ${errors} ERRORS/UNSENT` : ''}\n`,
  );
}

/** The fixed-rate columns of the main table (median of the rounds, min–max). */
export function fixedRateColumns(rate: number): Column[] {
  const at = `@ ${fmt(rate, 0)}/s`;
  const ms = (pick: (load: ScenarioResult['fixedRate'][number]['load']) => number) => (s: ScenarioResult) =>
    spread(
      s.fixedRate.map((m) => pick(m.load)),
      2,
      ' ms',
    );
  return [
    { title: `p50 ${at}`, cell: ms((l) => l.p50Ms) },
    { title: `p99 ${at}`, cell: ms((l) => l.p99Ms) },
    { title: `p99.9 ${at}`, cell: ms((l) => l.p999Ms) },
    { title: `CPU µs/req ${at}`, cell: (s) => spread(present(s.fixedRate.map(cpuPerRequest)), 1) },
  ];
}

/** Notes on the fixed-rate windows: the generator's own punctuality, and rows that did not get the rate. */
export function fixedRateNotes(results: readonly ScenarioResult[]): string[] {
  const windows = results.flatMap((r) => r.fixedRate);
  if (windows.length === 0) return [];
  const lagP50 = windows.map((m) => m.fixed?.sendLagP50Ms ?? Number.NaN);
  const lagP99 = windows.map((m) => m.fixed?.sendLagP99Ms ?? Number.NaN);
  const notes = [
    'Fixed rate: an open loop (bench/open-loop.ts, undici Pool of at most the same number of connections, ' +
      'pinned with the upstream) sends request i at start + i/rate whether or not earlier ones were answered, ' +
      'and times each from its scheduled send, so stalls are counted, not skipped (no coordinated omission). ' +
      `Its own send lag (scheduled → sent) per window: p50 ${spread(lagP50, 3, ' ms')}, ` +
      `p99 ${spread(lagP99, 2, ' ms')}; it is part of every latency above.`,
  ];
  for (const r of results) {
    const short = r.fixedRate.filter(
      (m) => m.fixed !== undefined && m.load.requests < 0.99 * m.fixed.scheduled,
    );
    if (short.length > 0) {
      const rounds = short.map((m) => `round ${m.round}: ${m.load.requests} of ${m.fixed?.scheduled ?? '?'}`);
      notes.push(`${r.label}: ⚠ did not answer the offered rate (${rounds.join('; ')}).`);
    }
  }
  return notes;
}
