// Consistent hashing: sticky keys, balanced shares by weight, minimal remapping when targets are added,
// removed or become ineligible, and round-robin for requests without a key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, type Balancer, type BalancerTarget } from './balancer.js';
import { MAX_RING_POINTS, POINTS_PER_WEIGHT, ringPointsPerWeight } from './consistent-hash.js';

const target = (n: number, weight = 1): BalancerTarget => ({
  id: `http://10.0.0.${n}:8080`,
  weight,
  pending: 0,
});
const always = () => true;

/** 100,000 reproducible pseudo-random keys (mulberry32). */
const keys: readonly string[] = (() => {
  let s = 0x9e3779b9;
  const out: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out.push(`client-${((t ^ (t >>> 14)) >>> 0).toString(36)}`);
  }
  return out;
})();

function assign(b: Balancer<BalancerTarget>, eligible: (t: BalancerTarget) => boolean = always): string[] {
  return keys.map((k) => b.pick(eligible, k)?.id ?? '-');
}
function shares(ids: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1 / ids.length);
  return m;
}
const four = [target(1), target(2), target(3), target(4)];

describe('a key', () => {
  it('always maps to the same target, whatever the order of the list', () => {
    const b = createBalancer('hash', four);
    const first = assign(b);
    assert.deepEqual(assign(b), first);
    assert.deepEqual(assign(createBalancer('hash', [...four].reverse())), first);
  });

  it('is a key even when empty', () => {
    const b = createBalancer('hash', four);
    const id = b.pick(always, '')!.id;
    for (let i = 0; i < 10; i++) assert.equal(b.pick(always, '')!.id, id);
  });
});

describe('shares', () => {
  const cases: ReadonlyArray<[string, BalancerTarget[]]> = [
    ['4 equal targets', four],
    ['weights 2:1:1', [target(1, 2), target(2), target(3)]],
    ['weights 5:3:1:1', [target(1, 5), target(2, 3), target(3), target(4)]],
    ['10 targets of weight 100 (thinned ring)', Array.from({ length: 10 }, (_, i) => target(i + 1, 100))],
  ];
  for (const [name, targets] of cases)
    it(`are within ±10 % of the weighted share for ${name}`, () => {
      const total = targets.reduce((sum, t) => sum + t.weight, 0);
      const got = shares(assign(createBalancer('hash', targets)));
      for (const t of targets) {
        const expected = t.weight / total;
        const share = got.get(t.id) ?? 0;
        assert.ok(Math.abs(share / expected - 1) <= 0.1, `${t.id}: ${share} for ${expected}`);
      }
    });
});

describe('remapping', () => {
  const before = assign(createBalancer('hash', four));

  it('moves about a fifth of the keys to a fifth target, and only to it', () => {
    const added = target(5);
    const after = assign(createBalancer('hash', [...four, added]));
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (after[i] === before[i]) continue;
      moved++;
      assert.equal(after[i], added.id, `key ${keys[i]} moved between old targets`);
    }
    assert.ok(moved >= 10_000 && moved <= 30_000, `moved ${moved}`);
  });

  it('moves only the keys of a removed target', () => {
    const removed = four[2]!;
    const after = assign(
      createBalancer(
        'hash',
        four.filter((t) => t !== removed),
      ),
    );
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === removed.id) moved++;
      else assert.equal(after[i], before[i], `key ${keys[i]} moved off a kept target`);
    }
    assert.ok(moved > 0 && !after.includes(removed.id));
  });

  it('sends the keys of ineligible targets exactly where removing them would', () => {
    const down = new Set([four[1]!.id, four[2]!.id]);
    const during = assign(createBalancer('hash', four), (t) => !down.has(t.id));
    const removed = assign(createBalancer('hash', [four[0]!, four[3]!]));
    assert.deepEqual(during, removed);
    for (let i = 0; i < keys.length; i++) if (!down.has(before[i]!)) assert.equal(during[i], before[i]);
  });
});

it('asks each target once when walking a ring with nothing eligible', () => {
  const b = createBalancer('hash', [...four, target(5, 3)]);
  for (const key of keys.slice(0, 100)) {
    const asked: string[] = [];
    assert.equal(
      b.pick((t) => (asked.push(t.id), false), key),
      undefined,
    );
    assert.equal(asked.length, 5);
    assert.equal(new Set(asked).size, 5);
  }
});

it('balances requests without a key by smooth weighted round-robin over the eligible targets', () => {
  const [a, b, c] = [target(1, 2), target(2), target(3)];
  const balancer = createBalancer('hash', [a!, b!, c!]);
  const names = new Map([a, b, c].map((t, i) => [t!.id, 'abc'[i]]));
  let s = '';
  for (let i = 0; i < 9; i++) s += names.get(balancer.pick((t) => t.id !== c!.id)!.id);
  assert.equal(s, 'aba'.repeat(3));
});

const perWeight: ReadonlyArray<[number, number]> = [
  [1, POINTS_PER_WEIGHT],
  [MAX_RING_POINTS / POINTS_PER_WEIGHT, POINTS_PER_WEIGHT],
  [MAX_RING_POINTS / POINTS_PER_WEIGHT + 1, 1020],
  [1_000, 262],
  [MAX_RING_POINTS, 1],
  [1_024_000, 1],
];
for (const [total, expected] of perWeight)
  it(`puts ${expected} points per unit of weight on a ring of total weight ${total}`, () =>
    assert.equal(ringPointsPerWeight(total), expected));
