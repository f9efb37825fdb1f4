// The key table's bookkeeping, checked against a plain model: recency order, eviction at the cap, sweeps in
// slices while keys are touched, inserted and evicted in between, and compaction back to one page.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEAD_AT, fieldsAt, KeyTable } from './key-table.js';

/** Inserts `key` (or touches it) with a death time, as the stores do. */
function put(table: KeyTable, key: string, deadAt: number): number {
  let slot = table.find(key);
  if (slot === -1) slot = table.insert(key);
  else table.touch(slot);
  table.page(slot).numbers[fieldsAt(slot) + DEAD_AT] = deadAt;
  return slot;
}

describe('KeyTable', () => {
  it('evicts the least recently touched key at the cap', () => {
    const table = new KeyTable(3);
    for (const key of ['a', 'b', 'c']) put(table, key, Infinity);
    table.touch(table.find('a'));
    put(table, 'd', Infinity);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((k) => table.find(k) !== -1),
      [true, false, true, true],
    );
    assert.equal(table.size, 3);
  });

  it('agrees with a model through random inserts, touches and sliced sweeps', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    const maxKeys = 2000;
    const table = new KeyTable(maxKeys);
    /** key → death time, in recency order (a Map keeps insertion order; delete + set moves a key last). */
    const model = new Map<string, number>();
    let now = 0;
    let passStart = -1;
    for (let step = 0; step < 30_000; step++) {
      const op = random(100);
      if (op < 75) {
        const key = `k${random(3000)}`;
        // Half die soon, half outlive the test: the table stays at its cap, so evictions meet the sweep.
        const deadAt = now + (random(2) === 0 ? random(200) : 1e9);
        model.delete(key);
        if (model.size === maxKeys) model.delete(model.keys().next().value!);
        model.set(key, deadAt);
        put(table, key, deadAt);
      } else if (op < 95) now += random(50);
      else {
        if (passStart < 0) passStart = now;
        const done = table.sweep(now, 1 + random(300));
        for (const [key, deadAt] of model)
          if (table.find(key) === -1) {
            assert.ok(deadAt <= now, `${key} dropped alive at step ${step}`);
            model.delete(key);
          }
        if (done) {
          for (const [key, deadAt] of model)
            assert.ok(deadAt > passStart, `${key} dead since the pass began`);
          passStart = -1;
        }
      }
      assert.equal(table.size, model.size, `step ${step}`);
    }
    for (const [key, deadAt] of model) {
      const slot = table.find(key);
      assert.ok(slot !== -1 && table.holds(slot, key), key);
      assert.equal(table.page(slot).numbers[fieldsAt(slot) + DEAD_AT], deadAt);
    }
  });

  it('compacts back to one page once nearly idle, keeping live keys and their order', () => {
    const table = new KeyTable(100_000);
    for (let i = 0; i < 20_000; i++) put(table, `k${i}`, i % 10 === 0 ? Infinity : 1);
    table.sweepAll(1);
    assert.equal(table.size, 2000);
    for (let i = 0; i < 20_000; i += 10) {
      const slot = table.find(`k${i}`);
      assert.ok(slot >= 0 && slot < 2000, `k${i} at ${slot}`);
      assert.equal(table.page(slot).numbers[fieldsAt(slot) + DEAD_AT], Infinity);
    }
    // Recency order survives the renumbering: at the cap, the oldest live key goes first.
    const capped = new KeyTable(6000);
    for (let i = 0; i < 6000; i++) put(capped, `k${i}`, i % 10 === 0 ? Infinity : 1);
    capped.sweepAll(1);
    for (let i = 0; i < 5400; i++) put(capped, `n${i}`, Infinity);
    put(capped, 'x', Infinity);
    assert.equal(capped.size, 6000);
    assert.deepEqual(
      ['k0', 'k10', 'n0', 'x'].map((k) => capped.find(k) !== -1),
      [false, true, true, true],
    );
  });
});
