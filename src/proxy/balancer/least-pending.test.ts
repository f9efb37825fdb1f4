// Least-pending balancing: the lowest in-flight count per unit of weight wins, read live; equal targets
// take turns.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from './balancer.js';

interface TestTarget {
  id: string;
  weight: number;
  pending: number;
}
const target = (id: string, weight: number, pending: number): TestTarget => ({ id, weight, pending });
const always = () => true;

const cases: ReadonlyArray<[string, TestTarget[], (t: TestTarget) => boolean, string | undefined]> = [
  ['fewest pending at equal weight', [target('a', 1, 3), target('b', 1, 1), target('c', 1, 2)], always, 'b'],
  ['fewest per unit of weight', [target('a', 1, 2), target('b', 2, 3), target('c', 1, 5)], always, 'b'],
  ['idle beats any weight', [target('a', 100, 1), target('b', 1, 0)], always, 'b'],
  [
    'next least when the least is ineligible',
    [target('a', 1, 0), target('b', 1, 2), target('c', 1, 1)],
    (t) => t.id !== 'a',
    'c',
  ],
  ['undefined when none is eligible', [target('a', 1, 0), target('b', 1, 0)], () => false, undefined],
];
for (const [name, targets, eligible, expected] of cases)
  it(`picks the ${name}`, () => {
    assert.equal(createBalancer('least-pending', targets).pick(eligible)?.id, expected);
  });

it('rotates among idle equal targets: 1,000 each of 3,000 picks, in turn', () => {
  const b = createBalancer('least-pending', [target('a', 1, 0), target('b', 1, 0), target('c', 1, 0)]);
  let s = '';
  for (let i = 0; i < 3_000; i++) s += b.pick(always)!.id;
  assert.equal(s, 'abc'.repeat(1_000));
});

it('rotates only among the tied least loaded', () => {
  const b = createBalancer('least-pending', [target('a', 1, 0), target('b', 1, 5), target('c', 1, 0)]);
  let s = '';
  for (let i = 0; i < 6; i++) s += b.pick(always)!.id;
  assert.equal(s, 'acacac');
});

it('reads pending live: requests held open spread by weight', () => {
  const targets = [target('a', 2, 0), target('b', 1, 0)];
  const b = createBalancer('least-pending', targets);
  for (let i = 0; i < 300; i++) b.pick(always)!.pending++;
  assert.deepEqual(
    targets.map((t) => t.pending),
    [200, 100],
  );
  targets[0]!.pending = 0;
  assert.equal(b.pick(always)!.id, 'a');
});
