// The balancer contract for every kind: nothing eligible, no targets, one target, rejected targets, and
// each balancer owning its list and its state.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, type BalanceKind } from './balancer.js';

interface TestTarget {
  id: string;
  weight: number;
  pending: number;
}
const target = (id: string, weight = 1, pending = 0): TestTarget => ({ id, weight, pending });
const kinds: readonly BalanceKind[] = ['round-robin', 'least-pending', 'hash'];
const always = () => true;
const never = () => false;

for (const kind of kinds) {
  describe(kind, () => {
    it('reports its kind', () => {
      assert.equal(createBalancer(kind, [target('a'), target('b')]).kind, kind);
      assert.equal(createBalancer(kind, [target('a')]).kind, kind);
      assert.equal(createBalancer(kind, []).kind, kind);
    });

    it('returns undefined when no target is eligible or there are none, with or without a key', () => {
      const b = createBalancer(kind, [target('a'), target('b', 3), target('c')]);
      for (const key of [undefined, 'k', '']) {
        assert.equal(b.pick(never, key), undefined);
        assert.equal(createBalancer(kind, []).pick(always, key), undefined);
      }
    });

    it('returns the single target while it is eligible', () => {
      const only = target('a', 7);
      const b = createBalancer(kind, [only]);
      for (const key of [undefined, 'k']) {
        assert.equal(b.pick(always, key), only);
        assert.equal(b.pick(never, key), undefined);
      }
    });

    const rejected: ReadonlyArray<[string, TestTarget[]]> = [
      ['weight 0', [target('a', 0)]],
      ['negative weight', [target('a', 1), target('b', -2)]],
      ['fractional weight', [target('a', 1.5)]],
      ['NaN weight', [target('a', NaN)]],
      ['infinite weight', [target('a', Infinity)]],
      ['repeated id', [target('a'), target('b'), target('a')]],
    ];
    for (const [name, targets] of rejected)
      it(`rejects a ${name} when built`, () =>
        assert.throws(() => createBalancer(kind, targets), RangeError));

    it('keeps its own copy of the target list', () => {
      const list = [target('a'), target('b')];
      const b = createBalancer(kind, list);
      list.push(target('c'));
      list.splice(0, 1);
      const seen = new Set<string>();
      for (let i = 0; i < 100; i++) seen.add(b.pick(always, i % 2 === 0 ? undefined : `k${i}`)?.id ?? '-');
      assert.deepEqual([...seen].sort(), ['a', 'b']);
    });
  });
}

it('keeps state per balancer: two round-robins over the same targets do not disturb each other', () => {
  const targets = [target('a', 5), target('b'), target('c')];
  const one = createBalancer('round-robin', targets);
  const two = createBalancer('round-robin', targets);
  let first = '';
  let second = '';
  for (let i = 0; i < 7; i++) {
    first += one.pick(always)!.id;
    second += two.pick(always)!.id;
  }
  assert.equal(first, 'aabacaa');
  assert.equal(second, 'aabacaa');
});
