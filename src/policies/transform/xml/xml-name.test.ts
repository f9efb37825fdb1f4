// A JSON key must never turn into markup that is not a name: these pin which keys are kept and what the
// others become, and that every result is a name a namespace-aware parser accepts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isXmlName, startsXmlName, xmlName } from './xml-name.js';

describe('isXmlName', () => {
  const cases: readonly (readonly [string, boolean])[] = [
    ['item', true],
    ['_x', true],
    ['a-b.c_d9', true],
    ['soap:Body', true],
    ['xmlns:soap', true],
    ['été', true],
    ['日本', true],
    ['x😀', true],
    ['', false],
    ['1x', false],
    ['-a', false],
    ['.a', false],
    ['a b', false],
    [':a', false],
    ['a:', false],
    ['a:b:c', false],
    ['a<b', false],
    ['?pi', false],
    ['!--', false],
    ['#text', false],
    ['@id', false],
    ['x\uD800', false],
  ];
  for (const [name, expected] of cases) {
    it(`${JSON.stringify(name)} → ${expected}`, () => assert.equal(isXmlName(name), expected));
  }
});

describe('startsXmlName', () => {
  const cases: readonly (readonly [string, boolean])[] = [
    ['@', false],
    ['-', false],
    ['$', false],
    ['#', false],
    [':', false],
    ['', false],
    ['_', true],
    ['a', true],
    ['é', true],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${expected}`, () => assert.equal(startsXmlName(text), expected));
  }
});

describe('xmlName', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['item', 'item'],
    ['soap:Body', 'soap:Body'],
    ['été', 'été'],
    ['x😀', 'x😀'],
    ['a b', 'a_b'],
    ['1x', '_1x'],
    ['-a', '_-a'],
    ['.a', '_.a'],
    ['', '_'],
    [':a', '_a'],
    ['a:', 'a_'],
    ['a:b:c', 'a_b_c'],
    ['?pi', '_pi'],
    ['!--', '_--'],
    ['<x>', '_x_'],
    ['x y="1"', 'x_y__1_'],
    ['a\tb\nc', 'a_b_c'],
    ['x\uD800y', 'x_y'],
    ['\uDC00', '_'],
  ];
  for (const [key, expected] of cases) {
    it(`${JSON.stringify(key)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(xmlName(key), expected);
      assert.ok(isXmlName(xmlName(key)), 'the result is always a name');
    });
  }
});
