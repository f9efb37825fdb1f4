// Smooth weighted round-robin: nginx's exact sequences, exact proportions, and how ineligible targets are
// skipped without reshuffling the others or bursting when they come back.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from './balancer.js';

const targets = (weights: Record<string, number>) =>
  Object.entries(weights).map(([id, weight]) => ({ id, weight, pending: 0 }));
const always = () => true;

function sequence(weights: Record<string, number>, picks: number, eligible: (t: { id: string }) => boolean) {
  const b = createBalancer('round-robin', targets(weights));
  let out = '';
  for (let i = 0; i < picks; i++) out += b.pick(eligible)?.id ?? '-';
  return out;
}

const cycles: ReadonlyArray<[Record<string, number>, string]> = [
  [{ a: 5, b: 1, c: 1 }, 'aabacaa'], // nginx's documented sequence
  [{ a: 3, b: 1 }, 'aaba'],
  [{ a: 2, b: 1 }, 'aba'],
  [{ a: 1, b: 1, c: 1 }, 'abc'],
  [{ a: 1, b: 2, c: 3 }, 'cbacbc'],
];
for (const [weights, cycle] of cycles)
  it(`picks ${JSON.stringify(weights)} as ${cycle}, cycle after cycle`, () => {
    assert.equal(sequence(weights, cycle.length * 3, always), cycle.repeat(3));
  });

it('gives weights 3:1 exactly 7,500 and 2,500 of 10,000 picks', () => {
  const s = sequence({ a: 3, b: 1 }, 10_000, always);
  assert.equal(s.split('a').length - 1, 7_500);
  assert.equal(s.split('b').length - 1, 2_500);
  assert.ok(!s.includes('bb'), 'b never twice in a row');
});

it('skips an ineligible target and keeps the others in exact proportion', () => {
  const s = sequence({ a: 5, b: 1, c: 1 }, 6_000, (t) => t.id !== 'b');
  assert.equal(s.split('a').length - 1, 5_000);
  assert.equal(s.split('c').length - 1, 1_000);
  assert.equal(s.slice(0, 6), 'aaacaa'); // 5:1 from zero scores: a wins the 3:3 tie as the first
});

it('gives a target that comes back its share, not a catch-up burst', () => {
  const b = createBalancer('round-robin', targets({ a: 5, b: 1, c: 1 }));
  for (let i = 0; i < 700; i++) b.pick((t) => t.id !== 'b');
  let s = '';
  for (let i = 0; i < 7_000; i++) s += b.pick(always)!.id;
  for (let w = 0; w + 7 <= s.length; w += 7) {
    const window = s.slice(w, w + 7);
    assert.ok(window.split('b').length - 1 <= 1, `at most one b in ${window} (picks ${w}..)`);
  }
  assert.ok(Math.abs(s.split('b').length - 1 - 1_000) <= 1);
});

it('on a retry that excludes the target just tried, picks another one', () => {
  const b = createBalancer('round-robin', targets({ a: 5, b: 1, c: 1 }));
  for (let i = 0; i < 50; i++) {
    const tried = b.pick(always)!;
    const retry = b.pick((t) => t !== tried);
    assert.ok(retry !== undefined && retry !== tried);
  }
});

it('asks eligible once per target per pick', () => {
  const b = createBalancer('round-robin', targets({ a: 2, b: 1, c: 1 }));
  const asked: string[] = [];
  b.pick((t) => (asked.push(t.id), true));
  assert.deepEqual(asked, ['a', 'b', 'c']);
});
