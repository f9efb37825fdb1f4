// The one rewrite behind the upstream query and every link: page and size set once, all else untouched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePagination } from './compile-pagination.js';
import { pageQuery } from './page-query.js';

const p = compilePagination({});

describe('pageQuery', () => {
  const cases: readonly (readonly [query: string, expected: string])[] = [
    ['', 'page=7&size=25'],
    ['page=2', 'page=7&size=25'],
    ['size=10', 'size=25&page=7'],
    ['size=10&page=2', 'size=25&page=7'],
    ['q=a%20b&tag=x&tag=y', 'q=a%20b&tag=x&tag=y&page=7&size=25'],
    ['q=a%20b&page=2&tag=x&size=3&tag=y', 'q=a%20b&page=7&tag=x&size=25&tag=y'],
    ['page=1&page=2&size=1&size=2&x=1', 'page=7&size=25&x=1'],
    ['x=1&page=1&x=2&page=2&x=3', 'x=1&page=7&x=2&x=3&size=25'],
    ['%70age=2&%73ize=3', 'page=7&size=25'],
    ['pa%67e=2&q=+a+', 'page=7&q=+a+&size=25'],
    ['page', 'page=7&size=25'],
    ['page=&size=', 'page=7&size=25'],
    ['Page=2&pages=3&xpage=4&page%3D=5', 'Page=2&pages=3&xpage=4&page%3D=5&page=7&size=25'],
    ['a=1&&b=2', 'a=1&&b=2&page=7&size=25'],
    ['a=1&', 'a=1&page=7&size=25'],
    ['a=1&&', 'a=1&page=7&size=25'],
    ['&', 'page=7&size=25'],
    ['page=2&', 'page=7&size=25'],
    ['page=2&size=3&', 'page=7&size=25&'],
    ['=1&page=2', '=1&page=7&size=25'],
    ['q=%zz%&r=%E2%82%AC&s=caf\u00e9', 'q=%zz%&r=%E2%82%AC&s=caf\u00e9&page=7&size=25'],
  ];
  for (const [query, expected] of cases) {
    it(`${JSON.stringify(query)} → ${JSON.stringify(expected)}`, () => {
      const split = pageQuery(p, query, 25);
      assert.equal(split.before + 7 + split.after, expected);
    });
  }

  it('splits exactly at the page value', () => {
    assert.deepEqual(pageQuery(p, 'a=1&page=2&b=2', 10), { before: 'a=1&page=', after: '&b=2&size=10' });
    assert.deepEqual(pageQuery(p, 'a=1', 10), { before: 'a=1&page=', after: '&size=10' });
    assert.deepEqual(pageQuery(p, 'size=1', 10), { before: 'size=10&page=', after: '' });
  });

  it('writes configured names percent-encoded and matches them decoded', () => {
    const jsonApi = compilePagination({ page_param: 'page[number]', size_param: 'page[size]' });
    const split = pageQuery(jsonApi, 'page[number]=2&filter[x]=1&page%5Bsize%5D=5', 10);
    assert.equal(split.before + 3 + split.after, 'page%5Bnumber%5D=3&filter[x]=1&page%5Bsize%5D=10');
  });

  it('keeps every other parameter, in order, as URLSearchParams reads it (generated queries)', () => {
    const pieces = ['a', 'page', 'size', 'p%61ge', '=', '=', '&', '&', '+', '%', '%3D', '%26', '1', 'é', 'x'];
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      let query = '';
      const length = next(10);
      for (let j = 0; j < length; j++) query += pieces[next(pieces.length)];
      const split = pageQuery(p, query, 25);
      const rewritten = new URLSearchParams(split.before + 7 + split.after);
      const others = (params: URLSearchParams) =>
        [...params].filter(([name]) => name !== 'page' && name !== 'size');
      const context = JSON.stringify(query);
      assert.deepEqual(rewritten.getAll('page'), ['7'], context);
      assert.deepEqual(rewritten.getAll('size'), ['25'], context);
      assert.deepEqual(others(rewritten), others(new URLSearchParams(query)), context);
    }
  });
});
