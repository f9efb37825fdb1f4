// Entity-tag syntax (RFC 9110 §8.8.3) and If-None-Match lists, with the RFC's comparison table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseEntityTag, parseEntityTagList, weakMatch, type EntityTag } from './entity-tag.js';

const strong = (opaque: string): EntityTag => ({ weak: false, opaque: `"${opaque}"` });
const weak = (opaque: string): EntityTag => ({ weak: true, opaque: `"${opaque}"` });

describe('parseEntityTag', () => {
  const cases: readonly (readonly [text: string, expected: EntityTag | undefined])[] = [
    ['"xyzzy"', strong('xyzzy')],
    ['W/"xyzzy"', weak('xyzzy')],
    ['""', strong('')],
    [' "a" ', strong('a')],
    ['"a,b"', strong('a,b')],
    ['"caf\u00e9"', strong('caf\u00e9')],
    ['xyzzy', undefined],
    ['w/"x"', undefined],
    ['W/ "x"', undefined],
    ['"a"b', undefined],
    ['"a" "b"', undefined],
    ['"a b"', undefined],
    ['"a', undefined],
    ['"a\\"b"', undefined],
    ['*', undefined],
    ['', undefined],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => {
      assert.deepEqual(parseEntityTag(text), expected);
    });
  }
});

describe('parseEntityTagList', () => {
  const cases: readonly (readonly [text: string, any: boolean, tags: readonly EntityTag[]])[] = [
    ['*', true, []],
    [' * ', true, []],
    // RFC 9110 §13.1.2 examples.
    ['"xyzzy"', false, [strong('xyzzy')]],
    ['W/"xyzzy"', false, [weak('xyzzy')]],
    ['"xyzzy", "r2d2xxxx", "c3piozzzz"', false, [strong('xyzzy'), strong('r2d2xxxx'), strong('c3piozzzz')]],
    ['W/"xyzzy", W/"r2d2xxxx", W/"c3piozzzz"', false, [weak('xyzzy'), weak('r2d2xxxx'), weak('c3piozzzz')]],
    ['"a",W/"b"', false, [strong('a'), weak('b')]],
    ['"a,b", "c"', false, [strong('a,b'), strong('c')]],
    ['junk, "b"', false, [strong('b')]],
    ['"a"junk, "b"', false, [strong('b')]],
    ['*, "a"', false, [strong('a')]],
    ['"a, "b"', false, [strong('b')]],
    [', ,"a",,', false, [strong('a')]],
    ['', false, []],
  ];
  for (const [text, any, tags] of cases) {
    it(JSON.stringify(text), () => {
      assert.deepEqual(parseEntityTagList(text), { any, tags });
    });
  }
});

describe('weakMatch', () => {
  // RFC 9110 §8.8.3.2 table: weak comparison matches in all but the second row.
  const cases: readonly (readonly [a: EntityTag, b: EntityTag, expected: boolean])[] = [
    [weak('1'), weak('1'), true],
    [weak('1'), weak('2'), false],
    [weak('1'), strong('1'), true],
    [strong('1'), strong('1'), true],
    [strong('1'), strong('2'), false],
  ];
  for (const [a, b, expected] of cases) {
    it(`${a.weak ? 'W/' : ''}${a.opaque} vs ${b.weak ? 'W/' : ''}${b.opaque}`, () => {
      assert.equal(weakMatch(a, b), expected);
      assert.equal(weakMatch(b, a), expected);
    });
  }
});
