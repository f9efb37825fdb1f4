// The query part of a cache key: order and equivalent encodings do not split keys; anything that could
// change what the upstream sees does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePercentEncoding, normalizeQuery } from './normalize-query.js';

describe('normalizeQuery', () => {
  const cases: readonly (readonly [raw: string, expected: string])[] = [
    ['', ''],
    ['a=1', 'a=1'],
    ['b=2&a=1', 'a=1&b=2'],
    ['a=2&a=1', 'a=2&a=1'],
    ['b=1&a=2&b=0&a=1', 'a=2&a=1&b=1&b=0'],
    ['&&a=1&', 'a=1'],
    ['&', ''],
    ['%7E=%7e', '~=~'],
    ['a=%2f', 'a=%2F'],
    ['a=%2F', 'a=%2F'],
    ['b=1&%61=2', 'a=2&b=1'],
    ['a=%41%42%43%2d%2E%5f', 'a=ABC-._'],
    ['a=%e2%82%ac', 'a=%E2%82%AC'],
    ['a=%zz&b=%', 'a=%zz&b=%'],
    ['a=%4', 'a=%4'],
    ['a=%%41', 'a=%A'],
    ['a=1+2', 'a=1+2'],
    ['a=1%202', 'a=1%202'],
    ['a=1%2B2', 'a=1%2B2'],
    ['a=&a', 'a=&a'],
    ['a&a=', 'a&a='],
    ['a=b=c', 'a=b=c'],
    ['=1&a=2', '=1&a=2'],
    ['B=1&a=2', 'B=1&a=2'],
    ['ab=1&a=2', 'a=2&ab=1'],
    ['a%3D=1&a=2', 'a=2&a%3D=1'],
    ['q=caf\u00e9&p=1', 'p=1&q=caf\u00e9'],
  ];
  for (const [raw, expected] of cases) {
    it(`${JSON.stringify(raw)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizeQuery(raw), expected);
    });
  }

  it('gives one key to reorderings that keep same-name order, and is idempotent', () => {
    const pieces = ['a=1', 'a=2', 'b', 'b=', 'c=%7e', 'c=%7E', 'd=%2f', '%64=x', 'e=+', ''];
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 500; round++) {
      const chosen = Array.from({ length: next(8) }, () => pieces[next(pieces.length)] ?? '');
      // Move one piece past a neighbour with a different name: the key must not change.
      const moved = [...chosen];
      const i = next(Math.max(1, moved.length - 1));
      const [x, y] = [moved[i], moved[i + 1]];
      const nameOf = (piece: string) => normalizePercentEncoding(piece).split('=')[0];
      if (x !== undefined && y !== undefined && nameOf(x) !== nameOf(y)) [moved[i], moved[i + 1]] = [y, x];
      const key = normalizeQuery(chosen.join('&'));
      assert.equal(normalizeQuery(moved.join('&')), key, `${chosen.join('&')} vs ${moved.join('&')}`);
      assert.equal(normalizeQuery(key), key, 'idempotent');
    }
  });
});

describe('normalizePercentEncoding', () => {
  const cases: readonly (readonly [text: string, expected: string])[] = [
    ['plain', 'plain'],
    ['%7e%7E~', '~~~'],
    ['%2f%2F', '%2F%2F'],
    ['%20', '%20'],
    ['%', '%'],
    ['%g1', '%g1'],
    ['100%25', '100%25'],
    ['%30%39%41%5A%61%7A', '09AZaz'],
    ['%2D%2E%5F', '-._'],
    ['%21%2a', '%21%2A'],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePercentEncoding(text), expected);
    });
  }
});
