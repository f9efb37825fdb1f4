// Reads the benchmark's BENCH_* environment knobs once, with defaults and validation.

/** Other proxies measured like the baseline (bench/peers/), for comparison: no target applies to them. */
export const PEER_IDS = ['nginx', 'fast-gateway', 'fastify-http-proxy', 'http-proxy'] as const;
export type PeerId = (typeof PEER_IDS)[number];

export const SCENARIO_IDS = [
  'upstream',
  'baseline',
  ...PEER_IDS,
  'portico-pass',
  'portico-quiet',
  'portico-observed',
  'portico-metrics',
  'portico-accesslog',
  'portico-policies',
  'portico-apikey',
  'portico-jwt-cached',
  'portico-jwt-uncached',
  'portico-ratelimit-memory',
  'portico-ratelimit-redis',
  'portico-resilient',
  'portico-json10k',
  'portico-transform',
  'portico-cache-hit',
  // Not in the main table: POSTs of signed webhook events at a fixed concurrency (bench/webhook-accept.ts).
  'webhook-accept',
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export type LoadGeneratorChoice = 'auto' | 'wrk' | 'autocannon';

/** The fixed offered rate: absolute req/s, or a share of the baseline's median saturated req/s in this run. */
export type RateChoice =
  | { readonly kind: 'absolute'; readonly perSecond: number }
  | { readonly kind: 'share'; readonly share: number };

export interface BenchOptions {
  /** Timed window per scenario and round, seconds (BENCH_DURATION_S, default 8). */
  readonly durationS: number;
  /** Unmeasured warm-up before each timed window, seconds (BENCH_WARMUP_S, default 2). */
  readonly warmupS: number;
  /** Concurrent connections of the load generator (BENCH_CONNECTIONS, default 32). */
  readonly connections: number;
  /** Interleaved rounds (BENCH_ROUNDS, default 3). */
  readonly rounds: number;
  /** Scenarios to run (BENCH_ONLY, comma list; default all). */
  readonly only: readonly ScenarioId[];
  /** Run the "10 vs 10,000 routes" router benchmark (BENCH_ROUTER, default on; 0 skips). */
  readonly router: boolean;
  /** Load generator (BENCH_LOADGEN=wrk|autocannon; default wrk when installed, else autocannon). */
  readonly loadGenerator: LoadGeneratorChoice;
  /** Pin processes to CPUs with taskset when possible (BENCH_PIN, default on; 0 disables). */
  readonly pin: boolean;
  /** How long a Portico process may take to accept requests, ms (BENCH_READY_TIMEOUT_S, default 10). */
  readonly readyTimeoutMs: number;
  /** Run the fixed-rate (open-loop) rounds after the saturation rounds (BENCH_FIXED_RATE, default on). */
  readonly fixedRate: boolean;
  /** The rate offered in the fixed-rate rounds (BENCH_RATE: req/s, or a percentage; default 30%). */
  readonly rate: RateChoice;
  /** Connections of the webhook-accept scenario's closed loop (BENCH_WEBHOOK_CONNECTIONS, default 64). */
  readonly webhookConnections: number;
  /**
   * Where the webhook-accept scenario's temp dir (its SQLite store) is made (BENCH_WEBHOOK_DIR; default the
   * run's temp dir under the OS temp dir). Point it at a disk when the temp dir is a tmpfs, where fsync is free.
   */
  readonly webhookDir: string | null;
}

export class OptionError extends Error {}

function positiveNumber(name: string, fallback: number, integer: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new OptionError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

function flag(name: string, fallback: boolean): boolean {
  const raw = process.env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  throw new OptionError(`${name} must be 0 or 1, got "${raw}"`);
}

function isScenarioId(value: string): value is ScenarioId {
  return (SCENARIO_IDS as readonly string[]).includes(value);
}

function scenarioList(): ScenarioId[] {
  const raw = process.env.BENCH_ONLY;
  if (raw === undefined || raw.trim() === '') return [...SCENARIO_IDS];
  const picked = new Set<ScenarioId>();
  for (const part of raw.split(',')) {
    const id = part.trim();
    if (id === '') continue;
    if (!isScenarioId(id)) {
      throw new OptionError(`BENCH_ONLY: unknown scenario "${id}" (known: ${SCENARIO_IDS.join(', ')})`);
    }
    picked.add(id);
  }
  // Keep the canonical order so rounds always run upstream, baseline, portico-pass, portico-policies.
  return SCENARIO_IDS.filter((id) => picked.has(id));
}

function loadGenerator(): LoadGeneratorChoice {
  const raw = process.env.BENCH_LOADGEN?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'auto') return 'auto';
  if (raw === 'wrk' || raw === 'autocannon') return raw;
  throw new OptionError(`BENCH_LOADGEN must be wrk or autocannon, got "${raw}"`);
}

export function isPeerId(value: string): value is PeerId {
  return (PEER_IDS as readonly string[]).includes(value);
}

/** BENCH_RATE: "5000" (req/s) or "30%" (of the baseline's median saturated req/s in the same run). */
function rateChoice(): RateChoice {
  const raw = process.env.BENCH_RATE?.trim();
  if (raw === undefined || raw === '') return { kind: 'share', share: 0.3 };
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(raw);
  if (percent !== null) {
    const share = Number(percent[1]) / 100;
    if (share > 0 && share <= 10) return { kind: 'share', share };
  } else {
    const perSecond = Number(raw);
    if (Number.isFinite(perSecond) && perSecond > 0) return { kind: 'absolute', perSecond };
  }
  throw new OptionError(
    `BENCH_RATE must be req/s (e.g. 5000) or a share of the baseline (e.g. 30%), got "${raw}"`,
  );
}

export function readOptions(): BenchOptions {
  return {
    durationS: positiveNumber('BENCH_DURATION_S', 8, false),
    warmupS: positiveNumber('BENCH_WARMUP_S', 2, false),
    connections: positiveNumber('BENCH_CONNECTIONS', 32, true),
    rounds: positiveNumber('BENCH_ROUNDS', 3, true),
    only: scenarioList(),
    router: flag('BENCH_ROUTER', true),
    loadGenerator: loadGenerator(),
    pin: flag('BENCH_PIN', true),
    readyTimeoutMs: positiveNumber('BENCH_READY_TIMEOUT_S', 10, false) * 1000,
    fixedRate: flag('BENCH_FIXED_RATE', true),
    rate: rateChoice(),
    webhookConnections: positiveNumber('BENCH_WEBHOOK_CONNECTIONS', 64, true),
    webhookDir: process.env.BENCH_WEBHOOK_DIR?.trim() || null,
  };
}
