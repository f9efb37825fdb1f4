// Only a plain count is a total; anything else leaves the total unknown rather than wrong.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { totalFromHeader, totalFromValue } from './total-count.js';

describe('totalFromHeader', () => {
  const cases: readonly (readonly [value: string | string[] | undefined, expected: number | undefined])[] = [
    ['42', 42],
    ['0', 0],
    ['007', 7],
    [' 42\t', 42],
    ['9007199254740991', 9007199254740991],
    [['42'], 42],
    [undefined, undefined],
    ['', undefined],
    [' ', undefined],
    ['9007199254740992', undefined],
    ['12345678901234567', undefined],
    ['-1', undefined],
    ['+1', undefined],
    ['1.5', undefined],
    ['1e3', undefined],
    ['0x10', undefined],
    ['abc', undefined],
    ['4 2', undefined],
    ['42, 42', undefined],
    [[], undefined],
    [['42', '42'], undefined],
    [['42', '43'], undefined],
  ];
  for (const [value, expected] of cases) {
    it(`${JSON.stringify(value)} → ${String(expected)}`, () => {
      assert.equal(totalFromHeader(value), expected);
    });
  }
});

describe('totalFromValue', () => {
  const cases: readonly (readonly [value: unknown, expected: number | undefined])[] = [
    [42, 42],
    [0, 0],
    [9007199254740991, 9007199254740991],
    ['42', 42],
    ['0', 0],
    [2 ** 53, undefined],
    [-1, undefined],
    [1.5, undefined],
    [NaN, undefined],
    [Infinity, undefined],
    ['', undefined],
    [' 42', undefined],
    ['-1', undefined],
    ['1.0', undefined],
    ['9007199254740992', undefined],
    [null, undefined],
    [undefined, undefined],
    [true, undefined],
    [42n, undefined],
    [[42], undefined],
    [{ total: 42 }, undefined],
  ];
  for (const [value, expected] of cases) {
    it(`${typeof value} ${String(value)} → ${String(expected)}`, () => {
      assert.equal(totalFromValue(value), expected);
    });
  }

  it('reads -0 as 0', () => {
    assert.ok(Object.is(totalFromValue(-0), 0));
  });
});
