// Pins masking: last characters kept, whitespace kept in place, short secrets fully hidden, numbers as
// strings, redaction of any value, counts, and 100,000 card numbers well under a second.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath } from './compile-json-path.js';
import { getAll } from './json-path-operations.js';
import { DEFAULT_REDACTION, maskAt, maskValue, type Mask } from './mask-at.js';

describe('maskValue', () => {
  const cases: [string, unknown, Mask, string | undefined][] = [
    ['spaced card number', '4242 4242 4242 4242', { keepLast: 4 }, '**** **** **** 4242'],
    ['plain card number', '4242424242424242', { keepLast: 4 }, '************4242'],
    ['number becomes a string', 5555555555554444, { keepLast: 4 }, '************4444'],
    ['small number', 42, { keepLast: 0 }, '**'],
    ['last digits across a space', '1234 5678', { keepLast: 5 }, '***4 5678'],
    ['other whitespace kept', 'ab\tcd\nef', { keepLast: 1 }, '**\t**\n*f'],
    ['short value fully masked', '123', { keepLast: 4 }, '***'],
    ['exactly keepLast fully masked', '1234', { keepLast: 4 }, '****'],
    ['short spaced value fully masked', '12 3', { keepLast: 3 }, '** *'],
    ['keepLast 0 masks all', 'secret', { keepLast: 0 }, '******'],
    ['negative keepLast counts as 0', 'secret', { keepLast: -2 }, '******'],
    ['fractional keepLast counts as 0', 'secret', { keepLast: 1.5 }, '******'],
    ['custom char', 'secret', { keepLast: 2, char: '#' }, '####et'],
    ['"$" in char is literal', 'secret', { keepLast: 2, char: '$&' }, '$&$&$&$&et'],
    ['leading whitespace only before the kept tail', '  1234', { keepLast: 4 }, '  ****'],
    ['non-breaking and ideographic spaces kept', 'ab\u00a0cd\u3000ef', { keepLast: 2 }, '**\u00a0**\u3000ef'],
    ['emoji inside the kept tail', 'ab😀c', { keepLast: 2 }, '**😀c'],
    ['code points, not UTF-16 units', 'Zoë😀x', { keepLast: 2 }, '***😀x'],
    ['emoji masked as one character', '😀😀ab', { keepLast: 1 }, '***b'],
    ['empty string', '', { keepLast: 4 }, ''],
    ['object left alone', { a: 1 }, { keepLast: 4 }, undefined],
    ['array left alone', [1], { keepLast: 4 }, undefined],
    ['null left alone', null, { keepLast: 4 }, undefined],
    ['boolean left alone', true, { keepLast: 4 }, undefined],
    ['redact a string', 'secret', { redact: true }, '[REDACTED]'],
    ['redact a number', 42, { redact: true }, '[REDACTED]'],
    ['redact an object', { a: 1 }, { redact: true }, '[REDACTED]'],
    ['redact null', null, { redact: true }, '[REDACTED]'],
    ['custom replacement', 'secret', { redact: true, replacement: '<hidden>' }, '<hidden>'],
  ];
  for (const [name, value, mask, expected] of cases) {
    it(name, () => assert.equal(maskValue(value, mask), expected));
  }

  it('uses the documented default replacement', () => assert.equal(DEFAULT_REDACTION, '[REDACTED]'));
});

describe('maskAt', () => {
  const doc = () => ({
    user: { name: 'Ada', tags: ['alpha', 'beta'], address: { city: 'London' }, nothing: null },
    items: [
      { card: { number: '4242 4242 4242 4242' }, lines: [{ sku: 'abc' }, { sku: 'defg' }] },
      { card: { number: 5555555555554444 }, lines: [] },
      { lines: [{ sku: 'hi' }] },
    ],
  });
  const cases: [string, Mask, number, string, unknown[]][] = [
    [
      'items[].card.number',
      { keepLast: 4 },
      2,
      'items[].card.number',
      ['**** **** **** 4242', '************4444'],
    ],
    ['items[].lines[].sku', { keepLast: 1 }, 3, 'items[].lines[].sku', ['**c', '***g', '*i']],
    ['user.tags[]', { redact: true }, 2, 'user.tags[]', ['[REDACTED]', '[REDACTED]']],
    ['/user/tags/1', { keepLast: 0, char: 'x' }, 1, 'user.tags[]', ['alpha', 'xxxx']],
    ['user.address', { keepLast: 2 }, 0, 'user.address', [{ city: 'London' }]],
    ['user.address', { redact: true }, 1, 'user.address', ['[REDACTED]']],
    ['user.nothing', { keepLast: 2 }, 0, 'user.nothing', [null]],
    ['user.nothing', { redact: true, replacement: '-' }, 1, 'user.nothing', ['-']],
    ['user.missing', { redact: true }, 0, 'user', [doc().user]],
    ['user.name[]', { redact: true }, 0, 'user.name', ['Ada']],
    ['missing[].x', { redact: true }, 0, 'missing', []],
    ['', { redact: true }, 0, 'user.name', ['Ada']],
  ];
  for (const [expression, mask, count, readBack, expected] of cases) {
    it(`${expression} ${JSON.stringify(mask)}`, () => {
      const d = doc();
      assert.equal(maskAt(d, compileJsonPath(expression), mask), count);
      assert.deepEqual(getAll(d, compileJsonPath(readBack)), expected);
    });
  }

  it('masks 100,000 card numbers well under a second', (t) => {
    const cards = (n: number) => ({
      items: Array.from({ length: n }, (_, i) => ({
        id: i,
        card: { number: `4242 4242 4242 ${String(i % 10_000).padStart(4, '0')}`, cvc: '123' },
      })),
    });
    const path = compileJsonPath('items[].card.number');
    // Warm the code up as a running gateway would have; the budget is for the 100,000, not the JIT.
    maskAt(cards(1000), path, { keepLast: 4 });
    const d = cards(100_000);
    // CPU time, not wall time: on a busy machine the wall clock also counts the time other processes had the
    // CPU (with stress-ng --cpu 2 on a 2-core machine: up to 2.4 s of wall time for 90-200 ms of CPU).
    const cpu = process.cpuUsage();
    const masked = maskAt(d, path, { keepLast: 4 });
    const { user, system } = process.cpuUsage(cpu);
    const elapsed = (user + system) / 1000;
    t.diagnostic(`maskAt ${elapsed.toFixed(0)} ms of CPU`);
    assert.equal(masked, 100_000);
    assert.ok(elapsed < 750, `took ${elapsed.toFixed(0)} ms`);
    assert.equal(d.items[12_345]?.card.number, '**** **** **** 2345');
    assert.equal(d.items[12_345]?.card.cvc, '123');
  });
});
