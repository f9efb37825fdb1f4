// Microbenchmark of the rate_limit policy itself (onRequest + onResponse, memory store, one key that never
// refuses), without sockets or the VM's noise — what the policy step adds per request. Run:
//   node --import tsx bench/rate-limit-micro.ts
import { rateLimit } from '../src/policies/rate-limit/index.js';
import { createMemoryRateLimitStore } from '../src/policies/rate-limit/store/memory.js';
import { testContext, testExchange } from '../src/pipeline/testing.js';
import type { GatewayResponse } from '../src/pipeline/gateway-response.js';
import type { CompileContext } from '../src/pipeline/policy.js';

const store = createMemoryRateLimitStore({ sweepIntervalMs: 0 });
const ctx: CompileContext = {
  ...testContext(),
  store: <T>() => ({ kind: 'memory' as const, store: store as unknown as T }),
};
const policy = rateLimit.create(
  { capacity: 1e9, refill: 1e9, key: 'ip', tiered: false, headers: true, on_store_error: 'allow' },
  ctx,
);
const n = 2_000_000;

function round(): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ex = testExchange([]);
    void policy.onRequest?.(ex);
    const res: GatewayResponse = { status: 200, headers: {}, body: null, source: 'upstream' };
    void policy.onResponse?.(ex, res);
  }
  return Number(process.hrtime.bigint() - t) / n;
}

round(); // warm-up
const rounds = Array.from({ length: 5 }, round).sort((a, b) => a - b);
process.stdout.write(
  `rate_limit policy, memory store: ${rounds[2]!.toFixed(0)} ns per request (median of 5 × ${n})\n`,
);
