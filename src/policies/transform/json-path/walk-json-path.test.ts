// Pins the traversal's guarantees under every operation: own keys only, prototype keys never written (even
// by a hand-built path), 100,000-element arrays in one pass, and deep documents walked only along the path.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath as path } from './compile-json-path.js';
import type { JsonPath } from './json-path.js';
import { getAll, removeAt, renameAt, setValue } from './json-path-operations.js';

/** Milliseconds of this process' CPU time since `start` (a process.cpuUsage() reading). */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

describe('prototype keys are never written', () => {
  for (const newKey of ['__proto__', 'constructor', 'prototype']) {
    it(`rename to ${newKey} is refused and changes nothing`, () => {
      const doc = { user: { name: 'Ada' } };
      assert.throws(() => renameAt(doc, path('user.name'), newKey), TypeError);
      assert.deepEqual(doc, { user: { name: 'Ada' } });
    });
  }

  it('a hand-built path naming __proto__ sets nothing (the compiler refuses it; this is the second line)', () => {
    const forged: JsonPath = {
      source: '__proto__.polluted',
      syntax: 'dotted',
      segments: [
        { kind: 'key', key: '__proto__' },
        { kind: 'key', key: 'polluted' },
      ],
    };
    const doc = {};
    setValue(doc, forged, 'yes');
    setValue(doc, { ...forged, segments: [{ kind: 'key', key: '__proto__' }] }, { polluted: 'yes' });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(doc), Object.prototype);
    assert.deepEqual(Object.keys(doc), []);
  });

  it('an own "__proto__" key from JSON.parse is data, never followed into the prototype', () => {
    const doc = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": [{"__proto__": {"x": 1}}]}') as unknown;
    setValue(doc, path('a[].b'), 1);
    removeAt(doc, path('a[].x'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(getAll(doc, path('polluted')), []);
  });
});

describe('scale', () => {
  it('sets, renames, removes and gets across 100,000 elements quickly', (t) => {
    const items = (n: number) => ({
      items: Array.from({ length: n }, (_, i) => ({ id: i, card: { number: String(i), cvc: '1' } })),
    });
    const run = (doc: ReturnType<typeof items>): string[] => {
      const timings: string[] = [];
      const time = (name: string, op: () => unknown) => {
        const started = process.cpuUsage();
        op();
        timings.push(`${name} ${cpuMsSince(started).toFixed(0)} ms`);
      };
      time('set', () => setValue(doc, path('items[].card.brand'), 'visa'));
      time('rename', () => assert.equal(renameAt(doc, path('items[].card.number'), 'pan'), doc.items.length));
      time('remove', () => assert.equal(removeAt(doc, path('items[].id')), doc.items.length));
      time('get', () => assert.equal(getAll(doc, path('items[].card.pan')).length, doc.items.length));
      return timings;
    };
    run(items(1000)); // warm the code up, as in a running gateway
    const doc = items(100_000);
    // CPU time, not wall time: on a busy machine the wall clock also counts the time other processes had the
    // CPU (with stress-ng --cpu 2 on a 2-core machine these four took 880 ms of wall time).
    const started = process.cpuUsage();
    const timings = run(doc);
    const elapsed = cpuMsSince(started);
    t.diagnostic(`${timings.join(', ')} of CPU`);
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms: ${timings.join(', ')}`);
    assert.deepEqual(doc.items[99_999], { card: { pan: '99999', cvc: '1', brand: 'visa' } });
    assert.deepEqual(Object.keys(doc.items[0]?.card ?? {}), ['pan', 'cvc', 'brand']);
  });

  it('walks only along the path in a 100,000-deep document, and follows a 1,000-step path', () => {
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const doc = { top: deep };
    assert.equal(setValue(doc, path('top.a.a.b'), 1), doc);
    assert.deepEqual(getAll(doc, path('top.a.a.b')), [1]);
    const long = path(`top${'.a'.repeat(1000)}.mark`);
    setValue(doc, long, 'here');
    assert.deepEqual(getAll(doc, long), ['here']);
    assert.equal(removeAt(doc, long), 1);
  });
});
