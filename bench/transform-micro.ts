// Microbenchmark of the transform policy's response step on a 10 KB JSON body (the same body and rules as
// the portico-transform scenario of `npm run bench`), without sockets or the VM's noise: read, parse, rename,
// remove, mask inside a 48-item array, wrap, serialize — next to JSON.parse + JSON.stringify of the same
// body, the least any JSON rewrite costs. Run:
//   node --import tsx bench/transform-micro.ts
import { transform } from '../src/policies/transform/index.js';
import { TransformSchema } from '../src/policies/transform/schema.js';
import { testContext, testExchange } from '../src/pipeline/testing.js';
import type { GatewayResponse } from '../src/pipeline/gateway-response.js';
import { Value } from '@sinclair/typebox/value';
import { json10kBody } from './json10k.js';

const body = json10kBody();
const config = Value.Default(TransformSchema, {
  response: {
    rename: { 'items[].customer_name': 'name' },
    remove: ['items[].card.cvc'],
    mask: ['items[].card.number'],
    wrap_json: 'data',
  },
}) as Parameters<typeof transform.create>[0];
const policy = transform.create(config, testContext());
const n = 20_000;

async function transformRound(): Promise<number> {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ex = testExchange([]);
    const res: GatewayResponse = {
      status: 200,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
      source: 'upstream',
    };
    await policy.onResponse!(ex, res);
  }
  return Number(process.hrtime.bigint() - t) / n / 1000;
}

function parseRound(): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
  return Number(process.hrtime.bigint() - t) / n / 1000;
}

const median = (xs: number[]): number => xs.sort((a, b) => a - b)[2]!;
await transformRound(); // warm-up
parseRound();
const t: number[] = [];
const p: number[] = [];
for (let r = 0; r < 5; r++) {
  t.push(await transformRound());
  p.push(parseRound());
}
process.stdout.write(
  `body ${body.length} bytes; median of 5 × ${n}:\n` +
    `  transform policy response step: ${median(t).toFixed(1)} µs per response\n` +
    `  JSON.parse + JSON.stringify alone: ${median(p).toFixed(1)} µs per response\n`,
);
