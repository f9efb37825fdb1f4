// Turns per-round measurements into the markdown report: medians (min–max), CPU ratios, target checks.
import { cpuMicrosPerRequest, cpuShare } from './cpu-usage.js';
import type { LoadResult } from './load-generator.js';

export interface Measurement {
  readonly round: number;
  readonly load: LoadResult;
  /** The timed window, seconds. */
  readonly windowS: number;
  /** utime + stime delta of the proxy over the window, or null where CPU is not measured (the upstream). */
  readonly cpuTicks: number | null;
  /** For a scenario with its own Redis: script runs (rate-limit checks) and Redis's CPU ticks over the window. */
  readonly redis?: { readonly scriptCalls: number; readonly cpuTicks: number | null };
  /** For a fixed-rate (open-loop) window: what was offered and how punctually the generator sent it. */
  readonly fixed?: FixedRateWindow;
}

export interface FixedRateWindow {
  /** Offered rate, req/s. */
  readonly rate: number;
  /** Requests scheduled in the window. */
  readonly scheduled: number;
  /** Requests not sent because a second's worth were outstanding (the target fell behind). */
  readonly dropped: number;
  readonly sendLagP50Ms: number;
  readonly sendLagP99Ms: number;
}

export interface ScenarioResult {
  readonly id: string;
  readonly label: string;
  /** Saturation windows (closed loop: wrk's connections each send as soon as the last answer came). */
  readonly measurements: Measurement[];
  /** Fixed-rate windows (open loop at the same offered rate for every scenario), when that mode ran. */
  readonly fixedRate: Measurement[];
  /** Why the scenario has no numbers: 'pending' (Portico not built yet) or 'failed' (it broke). */
  unavailable: { readonly kind: 'pending' | 'failed'; readonly reason: string } | null;
}

export interface Target {
  readonly label: string;
  readonly scenario: ScenarioResult | undefined;
  readonly maxRatio: number;
  /** What the ratio is taken against (default: the baseline). */
  readonly reference?: ScenarioResult | undefined;
  readonly referenceLabel?: string;
}

export type Verdict = 'PASS' | 'FAIL' | 'PENDING' | 'FAILED' | 'INVALID' | 'SKIPPED';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? Number.NaN) + hi) / 2;
}

export function fmt(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '?';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median (min–max)", or just the value for a single round; values that are not numbers are left out. */
export function spread(all: readonly number[], digits: number, unit = ''): string {
  if (all.length === 0) return '—';
  const values = all.filter((v) => Number.isFinite(v));
  if (values.length === 0) return '?';
  const mid = `${fmt(median(values), digits)}${unit}`;
  if (values.length === 1) return mid;
  return `${mid} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

export function cpuPerRequest(m: Measurement): number | null {
  return m.cpuTicks === null ? null : cpuMicrosPerRequest(m.cpuTicks, m.load.requests);
}

export function present<T>(values: readonly (T | null)[]): T[] {
  return values.filter((v): v is T => v !== null);
}

/** Per-round ratios of CPU µs/request against the reference scenario's same round (paired, not median/median). */
export function cpuRatios(subject: ScenarioResult, reference: ScenarioResult | undefined): number[] {
  if (reference === undefined) return [];
  const ratios: number[] = [];
  for (const m of subject.measurements) {
    const ref = reference.measurements.find((r) => r.round === m.round);
    const a = cpuPerRequest(m);
    const b = ref === undefined ? null : cpuPerRequest(ref);
    if (a !== null && b !== null && b > 0) ratios.push(a / b);
  }
  return ratios;
}

/** Collapses a multi-line reason (e.g. with a stderr tail) into one markdown-safe line. */
export function oneLine(text: string, max = 400): string {
  const flat = text.replace(/\s*\n\s*/g, ' ⏎ ').replace(/\|/g, '\\|');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export function errorCount(s: ScenarioResult): number {
  return s.measurements.reduce((sum, m) => sum + m.load.badStatus + m.load.socketErrors, 0);
}

/** Saturation errors (what invalidates the ratios), then the fixed-rate windows' errors and unsent requests. */
function errorCell(s: ScenarioResult): string {
  const bad = s.measurements.reduce((sum, m) => sum + m.load.badStatus, 0);
  const socket = s.measurements.reduce((sum, m) => sum + m.load.socketErrors, 0);
  const fixedErrors = s.fixedRate.reduce((sum, m) => sum + m.load.badStatus + m.load.socketErrors, 0);
  const dropped = s.fixedRate.reduce((sum, m) => sum + (m.fixed?.dropped ?? 0), 0);
  const parts: string[] = [];
  if (bad + socket > 0) parts.push(`**${bad} bad status, ${socket} socket**`);
  if (fixedErrors > 0) parts.push(`**${fixedErrors} at the fixed rate**`);
  if (dropped > 0) parts.push(`**${dropped} not sent at the fixed rate (fell behind)**`);
  return parts.length === 0 ? '0' : `${parts.join(', ')} ⚠`;
}

export interface Column {
  readonly title: string;
  readonly cell: (s: ScenarioResult) => string;
}

/** The table's columns; `extra` (the fixed-rate ones) go before the errors column. */
export function standardColumns(
  reference: ScenarioResult | undefined,
  refName: string,
  extra: readonly Column[] = [],
): Column[] {
  return [
    {
      title: 'req/s',
      cell: (s) =>
        spread(
          s.measurements.map((m) => m.load.requestsPerSecond),
          0,
        ),
    },
    {
      title: 'p50',
      cell: (s) =>
        spread(
          s.measurements.map((m) => m.load.p50Ms),
          2,
          ' ms',
        ),
    },
    {
      title: 'p99',
      cell: (s) =>
        spread(
          s.measurements.map((m) => m.load.p99Ms),
          2,
          ' ms',
        ),
    },
    {
      title: 'p99.9',
      cell: (s) =>
        spread(
          s.measurements.map((m) => m.load.p999Ms),
          2,
          ' ms',
        ),
    },
    { title: 'CPU µs/req', cell: (s) => spread(present(s.measurements.map(cpuPerRequest)), 1) },
    {
      title: `CPU/req vs ${refName}`,
      cell: (s) => {
        if (s === reference) return '1.00× (ref)';
        // A run with errors measured something else than proxying; its ratio is not a result.
        if (errorCount(s) > 0 || (reference !== undefined && errorCount(reference) > 0))
          return 'invalid (errors)';
        return spread(cpuRatios(s, reference), 2, '×');
      },
    },
    {
      title: 'proxy CPU',
      cell: (s) =>
        spread(
          present(
            s.measurements.map((m) => (m.cpuTicks === null ? null : cpuShare(m.cpuTicks, m.windowS) * 100)),
          ),
          0,
          '%',
        ),
    },
    ...extra,
    { title: 'errors', cell: errorCell },
  ];
}

export function renderTable(
  firstTitle: string,
  rows: readonly ScenarioResult[],
  columns: readonly Column[],
): string {
  const header = `| ${firstTitle} | ${columns.map((c) => c.title).join(' | ')} |`;
  const rule = `|${' --- |'.repeat(columns.length + 1)}`;
  const body = rows.map((s) => {
    if (s.unavailable !== null && s.measurements.length === 0) {
      const dashes = columns.slice(1).map(() => '—');
      return `| ${s.label} | ${s.unavailable.kind} | ${dashes.join(' | ')} |`;
    }
    return `| ${s.label} | ${columns.map((c) => c.cell(s)).join(' | ')} |`;
  });
  return [header, rule, ...body].join('\n');
}

export function verdict(
  target: Target,
  reference: ScenarioResult | undefined,
): { verdict: Verdict; detail: string } {
  const s = target.scenario;
  if (s === undefined) return { verdict: 'SKIPPED', detail: 'scenario not selected (BENCH_ONLY)' };
  if (s.unavailable?.kind === 'pending') return { verdict: 'PENDING', detail: oneLine(s.unavailable.reason) };
  if (s.unavailable?.kind === 'failed')
    return { verdict: 'FAILED', detail: oneLine(s.unavailable.reason, 120) };
  if (reference === undefined) return { verdict: 'SKIPPED', detail: 'baseline not selected (BENCH_ONLY)' };
  if (reference.unavailable !== null) return { verdict: 'INVALID', detail: 'the baseline did not run' };
  const errors = errorCount(s) + errorCount(reference);
  if (errors > 0) return { verdict: 'INVALID', detail: `${errors} errors during the runs` };
  const ratios = cpuRatios(s, reference);
  if (ratios.length === 0) return { verdict: 'INVALID', detail: 'no CPU measurements' };
  const mid = median(ratios);
  return {
    verdict: mid <= target.maxRatio ? 'PASS' : 'FAIL',
    detail: `median ${fmt(mid, 2)}× over ${ratios.length} round(s), range ${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}×`,
  };
}

export function renderTargets(targets: readonly Target[], reference: ScenarioResult | undefined): string {
  return targets
    .map((t) => {
      const v = verdict(t, t.reference ?? reference);
      return `- ${t.label} ≤ ${t.maxRatio}× ${t.referenceLabel ?? 'baseline'} CPU/req: **${v.verdict}** (${v.detail})`;
    })
    .join('\n');
}

/** The smallest CPU tick delta over all measured windows (the coarsest relative resolution), or null. */
export function smallestTickDelta(scenarios: readonly ScenarioResult[]): number | null {
  const ticks = present(scenarios.flatMap((s) => [...s.measurements, ...s.fixedRate].map((m) => m.cpuTicks)));
  return ticks.length === 0 ? null : Math.min(...ticks);
}

/** Per-round differences of CPU µs/request against the reference scenario's same round. */
export function cpuDeltas(subject: ScenarioResult, reference: ScenarioResult | undefined): number[] {
  if (reference === undefined) return [];
  const deltas: number[] = [];
  for (const m of subject.measurements) {
    const ref = reference.measurements.find((r) => r.round === m.round);
    const a = cpuPerRequest(m);
    const b = ref === undefined ? null : cpuPerRequest(ref);
    if (a !== null && b !== null && Number.isFinite(a) && Number.isFinite(b)) deltas.push(a - b);
  }
  return deltas;
}

function signed(value: number, digits: number): string {
  return `${value >= 0 ? '+' : '−'}${fmt(Math.abs(value), digits)}`;
}

/**
 * What a feature adds over a reference scenario, as figures without a target: the paired per-round
 * difference of CPU µs/request (median, min–max) and the ratio.
 */
export function renderAdded(
  rows: readonly { readonly label: string; readonly scenario: ScenarioResult | undefined }[],
  reference: ScenarioResult | undefined,
  referenceLabel: string,
): string {
  return rows
    .map(({ label, scenario: s }) => {
      let detail: string;
      if (s === undefined) detail = 'not selected (BENCH_ONLY)';
      else if (s.unavailable !== null && s.measurements.length === 0)
        detail = `${s.unavailable.kind}: ${oneLine(s.unavailable.reason, 160)}`;
      else if (reference === undefined || reference.measurements.length === 0)
        detail = `no figure: ${referenceLabel} did not run`;
      else if (errorCount(s) + errorCount(reference) > 0) detail = 'invalid (errors during the runs)';
      else {
        const deltas = cpuDeltas(s, reference);
        const ratios = cpuRatios(s, reference);
        if (deltas.length === 0) detail = 'no CPU measurements';
        else {
          const range =
            deltas.length === 1
              ? ''
              : ` (${signed(Math.min(...deltas), 1)} to ${signed(Math.max(...deltas), 1)})`;
          detail =
            `**${signed(median(deltas), 1)} µs/req**${range} over ${referenceLabel}, ` +
            `${spread(ratios, 2, '×')} its CPU/req, over ${deltas.length} round(s)`;
        }
      }
      return `- ${label}: ${detail}`;
    })
    .join('\n');
}

/**
 * For a scenario with its own Redis: script runs per request (each must be one check: fewer means checks
 * failed open and the row undercounts the store) and Redis's own CPU per request, which is not in the row.
 */
export function redisNote(s: ScenarioResult): string | null {
  const rounds = s.measurements.filter((m) => m.redis !== undefined);
  if (rounds.length === 0) return null;
  const perRequest = rounds.map((m) =>
    m.load.requests > 0 ? (m.redis?.scriptCalls ?? 0) / m.load.requests : Number.NaN,
  );
  const redisCpu = present(
    rounds.map((m) =>
      m.redis?.cpuTicks === null || m.redis?.cpuTicks === undefined
        ? null
        : cpuMicrosPerRequest(m.redis.cpuTicks, m.load.requests),
    ),
  );
  const short = perRequest.some((v) => !(v >= 0.99));
  return (
    `${s.label}: Redis ran ${perRequest.map((v) => fmt(v, 2)).join(', ')} script(s) per request (per round)` +
    (short
      ? ' ⚠ fewer scripts than requests: some checks failed open (on_store_error: allow), so this row undercounts the store'
      : '') +
    `; Redis itself used ${spread(redisCpu, 1)} CPU µs/req on the load-generator CPU, not counted in the row`
  );
}
