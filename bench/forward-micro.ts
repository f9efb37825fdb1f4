// Microbenchmark of the upstream call path without sockets: createForwarder over an in-memory dispatcher
// that answers 200 at once, for the one-try path and the resilient path (breaker + retries + passive
// health), so their own cost per request shows without the noise of a loaded VM. Run:
//   node --import tsx bench/forward-micro.ts
import type { Dispatcher } from 'undici';
import type { UpstreamConfig } from '../src/config/upstream-schema.js';
import { createForwarder } from '../src/proxy/forward.js';
import { UpstreamGroup } from '../src/proxy/upstream-group.js';
import { testExchange } from '../src/pipeline/testing.js';

const instant = {
  dispatch(_opts: Dispatcher.DispatchOptions, h: Dispatcher.DispatchHandler): boolean {
    h.onConnect?.(() => {});
    h.onHeaders?.(200, [], () => {}, '');
    h.onComplete?.([]);
    return true;
  },
};

const BASE: UpstreamConfig = {
  targets: [{ url: 'http://127.0.0.1:9', weight: 1 }],
  balance: 'round-robin',
  hash_on: 'ip',
  connect_timeout_ms: 1000,
  keep_alive_timeout_ms: 1000,
  resolve_interval_ms: 0,
  max_ejected_percent: 50,
};
const RESILIENT: UpstreamConfig = {
  ...BASE,
  circuit_breaker: {
    failure_ratio: 0.5,
    min_requests: 20,
    window_ms: 10_000,
    open_ms: 30_000,
    half_open_requests: 1,
    per_target: false,
  },
  retries: {
    attempts: 2,
    backoff_ms: 50,
    max_backoff_ms: 1000,
    on: ['connect-failure', 'reset', 'timeout', '5xx'],
    statuses: [502, 503, 504],
    budget_ratio: 0.2,
    budget_min_per_second: 10,
    buffer_body_bytes: 65_536,
  },
  passive_health: { consecutive_failures: 5, base_ejection_ms: 30_000, max_ejection_ms: 300_000 },
};

async function measure(label: string, config: UpstreamConfig): Promise<void> {
  const group = new UpstreamGroup({
    name: label,
    config,
    pool: { connectTimeoutMs: 1000, keepAliveTimeoutMs: 1000, connections: undefined },
  });
  const endpoint = group.endpoints[0]!;
  await endpoint.pool.close();
  (endpoint as { pool: unknown }).pool = instant;
  const forward = createForwarder({
    group,
    stripPrefix: false,
    preserveHost: false,
    totalMs: 30_000,
    firstByteMs: undefined,
    idleMs: undefined,
    maxBodyBytes: 10_485_760,
  });
  const n = 300_000;
  const round = async (): Promise<number> => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await forward(testExchange([]));
    return Number(process.hrtime.bigint() - t) / n;
  };
  await round(); // warm-up
  const rounds: number[] = [];
  for (let k = 0; k < 5; k++) rounds.push(await round());
  rounds.sort((a, b) => a - b);
  process.stdout.write(`${label}: ${rounds[2]!.toFixed(0)} ns per request (median of 5 × ${n})\n`);
}

await measure('one try (named upstream, no breaker or retries)', BASE);
await measure('resilient (breaker + retries + passive health)', RESILIENT);
process.exit(0);
