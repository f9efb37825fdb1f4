// Microbenchmark of the cache policy's hit path (memory store), without sockets or the VM's noise: the
// lookup, the freshness check and the response built from the entry — next to what the same layer costs on
// a route without cache (calling the upstream function). Run:
//   node --import tsx bench/cache-micro.ts
import { Value } from '@sinclair/typebox/value';
import { cache } from '../src/policies/cache/index.js';
import { CacheSchema, CacheSectionSchema } from '../src/policies/cache/schema.js';
import type { CompileContext } from '../src/pipeline/policy.js';
import { testContext, testExchange } from '../src/pipeline/testing.js';
import type { GatewayResponse } from '../src/pipeline/gateway-response.js';
import { createMemoryResponseCache } from '../src/policies/cache/store/memory.js';

const store = createMemoryResponseCache({ maxBytes: 64 * 1024 * 1024, sweepIntervalMs: 0 });
const ctx: CompileContext = {
  ...testContext(),
  section: (name) => (name === 'cache' ? Value.Default(CacheSectionSchema, {}) : undefined),
  store: <T>() => ({ kind: 'memory' as const, store: store as unknown as T }),
};
const policy = cache.create(
  Value.Default(CacheSchema, { ttl_s: 3600 }) as Parameters<typeof cache.create>[0],
  ctx,
);
const body = Buffer.from(JSON.stringify({ service: 'bench', status: 'ok', items: [1, 2, 3, 4, 5] }));
const upstream = (): Promise<GatewayResponse> =>
  Promise.resolve({
    status: 200,
    headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    body,
    source: 'upstream',
  });
const n = 200_000;

async function round(useCache: boolean): Promise<number> {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ex = testExchange(['accept', '*/*']);
    Object.assign(ex.req, { headers: {} });
    ex.path = '/products';
    ex.query = 'b=2&a=1';
    if (useCache) await policy.onUpstream!(ex, upstream);
    else await upstream();
  }
  return Number(process.hrtime.bigint() - t) / n;
}

await round(true); // stores the entry, warms up
await round(false);
const hits: number[] = [];
const plain: number[] = [];
for (let r = 0; r < 5; r++) {
  hits.push(await round(true));
  plain.push(await round(false));
}
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[2]!;
process.stdout.write(
  `median of 5 × ${n}:\n` +
    `  cache hit (lookup + freshness + response from the entry): ${median(hits).toFixed(0)} ns\n` +
    `  the upstream function alone (a resolved promise): ${median(plain).toFixed(0)} ns\n`,
);
await store.close();
