// Reads the benchmark's BENCH_* environment knobs once, with defaults and validation.

export const SCENARIO_IDS = [
  'upstream',
  'baseline',
  'portico-pass',
  'portico-quiet',
  'portico-observed',
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
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export type LoadGeneratorChoice = 'auto' | 'wrk' | 'autocannon';

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
  };
}
