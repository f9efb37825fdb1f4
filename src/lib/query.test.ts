// `${query.x}` must read the value the router's `match.query` (URLSearchParams) sees, without parsing the
// whole query: these compare the two on fixed cases and on many generated query strings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFormComponent, queryValue } from './query.js';

/** What URLSearchParams answers: the reference. */
function reference(query: string, name: string): string | undefined {
  return new URLSearchParams(query).get(name) ?? undefined;
}

describe('queryValue', () => {
  const cases: readonly (readonly [query: string, name: string, expected: string | undefined])[] = [
    ['', 'a', undefined],
    ['a=1', 'a', '1'],
    ['a=1&b=2', 'b', '2'],
    ['ab=1&a=2', 'a', '2'],
    ['a=1&a=2', 'a', '1'],
    ['a', 'a', ''],
    ['a=', 'a', ''],
    ['=1', '', '1'],
    ['&', 'a', undefined],
    ['a=b=c', 'a', 'b=c'],
    ['b=a&c=1', 'a', undefined],
    ['%61=1', 'a', '1'],
    ['a%3D=1', 'a=', '1'],
    ['a+b=1', 'a b', '1'],
    ['a%2Bb=1', 'a+b', '1'],
    ['a+b=1', 'a+b', undefined],
    ['q=%E2%82%AC', 'q', '€'],
    ['q=%zz%', 'q', '%zz%'],
    ['q=%C3', 'q', '\ufffd'],
    ['q=%ED%A0%80', 'q', '\ufffd\ufffd\ufffd'],
    ['q=caf\u00e9', 'q', 'caf\u00e9'],
  ];
  for (const [query, name, expected] of cases) {
    it(`${JSON.stringify(name)} in ${JSON.stringify(query)}`, () => {
      assert.equal(queryValue(query, name), expected);
      assert.equal(reference(query, name), expected, 'URLSearchParams agrees');
    });
  }

  it('agrees with URLSearchParams on generated query strings', () => {
    const pieces = [
      'a',
      'b',
      'ab',
      '=',
      '&',
      '&',
      '+',
      '%',
      '%2',
      '%41',
      '%2B',
      '%26',
      '%3D',
      '%C3%A9',
      '%E6%97',
      '%FF',
      'é',
      ' ',
    ];
    const names = ['a', 'b', 'ab', 'a b', 'a+b', 'A', 'é', '', '=', '&'];
    let seed = 42;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      let query = '';
      const length = next(12);
      for (let j = 0; j < length; j++) query += pieces[next(pieces.length)];
      for (const name of names) {
        assert.equal(
          queryValue(query, name),
          reference(query, name),
          `${JSON.stringify(name)} in ${JSON.stringify(query)}`,
        );
      }
    }
  });
});

describe('decodeFormComponent', () => {
  const cases: readonly (readonly [raw: string, expected: string])[] = [
    ['plain', 'plain'],
    ['a+b', 'a b'],
    ['a%20b', 'a b'],
    ['a%2bb', 'a+b'],
    ['%E6%97%A5', '日'],
    ['100%', '100%'],
    ['%%41', '%A'],
    ['%4', '%4'],
    ['%E6%97', '\ufffd'],
    ['x%FFy+', 'x\ufffdy '],
    ['%00', '\0'],
  ];
  for (const [raw, expected] of cases) {
    it(`${JSON.stringify(raw)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(decodeFormComponent(raw), expected);
      assert.equal(new URLSearchParams(`v=${raw}`).get('v'), expected, 'URLSearchParams agrees');
    });
  }
});
