// Purge tags from Surrogate-Key and Cache-Tag, and their bounds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseHeaders } from './field-value.js';
import { MAX_SURROGATE_TAG_LENGTH, MAX_SURROGATE_TAGS, surrogateTags } from './surrogate-tags.js';

describe('surrogateTags', () => {
  const long = 'x'.repeat(MAX_SURROGATE_TAG_LENGTH);
  const cases: readonly (readonly [name: string, headers: ResponseHeaders, expected: readonly string[]])[] = [
    ['none', {}, []],
    ['Surrogate-Key, space-separated', { 'surrogate-key': 'a b  c' }, ['a', 'b', 'c']],
    ['Surrogate-Key with tabs and edges', { 'surrogate-key': ' \ta\tb ' }, ['a', 'b']],
    ['Cache-Tag, comma-separated', { 'cache-tag': 'x, y ,z' }, ['x', 'y', 'z']],
    ['Cache-Tag keeps inner spaces', { 'cache-tag': 'product list, home' }, ['product list', 'home']],
    [
      'both, Surrogate-Key first, deduplicated',
      { 'cache-tag': 'b,c', 'surrogate-key': 'a b' },
      ['a', 'b', 'c'],
    ],
    [
      'several lines',
      { 'surrogate-key': ['a b', 'c'], 'cache-tag': ['d', 'a,e'] },
      ['a', 'b', 'c', 'd', 'e'],
    ],
    ['empty pieces dropped', { 'cache-tag': ',, ,a,', 'surrogate-key': '' }, ['a']],
    ['case kept', { 'cache-tag': 'A,a' }, ['A', 'a']],
    ['256 characters kept', { 'cache-tag': long }, [long]],
    ['257 characters dropped', { 'cache-tag': `${long}y,ok` }, ['ok']],
    ['control characters dropped', { 'cache-tag': 'a\u0001b,c\u007f,ok' }, ['ok']],
  ];
  for (const [name, headers, expected] of cases) {
    it(name, () => {
      assert.deepEqual(surrogateTags(headers), expected);
    });
  }

  it(`keeps the first ${MAX_SURROGATE_TAGS} distinct tags`, () => {
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const tags = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const result = surrogateTags({ 'surrogate-key': [...keys, 'k0'].join(' '), 'cache-tag': tags.join(',') });
    assert.deepEqual(result, [...keys, ...tags.slice(0, MAX_SURROGATE_TAGS - keys.length)]);
  });
});
