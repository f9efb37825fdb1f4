// What a client's page and size become: defaults, clamping, refusals with their sentence, and the upstream
// query that carries the resolved values while every other parameter passes untouched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePagination, type PaginationConfig } from './compile-pagination.js';
import { resolvePage, type PageError, type PageRequest } from './resolve-page.js';

const defaults = compilePagination({});

function resolved(query: string, config: PaginationConfig = {}): PageRequest {
  const result = resolvePage(compilePagination(config), '/orders', query);
  if ('error' in result) assert.fail(`expected a page for ${JSON.stringify(query)}, got: ${result.error}`);
  return result;
}

describe('resolvePage: accepted', () => {
  const cases: readonly (readonly [query: string, page: number, size: number, upstream: string])[] = [
    ['', 1, 25, 'page=1&size=25'],
    ['page=3', 3, 25, 'page=3&size=25'],
    ['size=10', 1, 10, 'size=10&page=1'],
    ['page=2&size=50', 2, 50, 'page=2&size=50'],
    ['page=007&size=01', 7, 1, 'page=7&size=1'],
    ['page=999999999', 999999999, 25, 'page=999999999&size=25'],
    ['size=100', 1, 100, 'size=100&page=1'],
    ['size=101', 1, 100, 'size=100&page=1'],
    ['page=2&size=999999999', 2, 100, 'page=2&size=100'],
    ['q=a%20b&tag=x&tag=y', 1, 25, 'q=a%20b&tag=x&tag=y&page=1&size=25'],
    ['q=a%20b&page=2&tag=x&size=5&tag=y', 2, 5, 'q=a%20b&page=2&tag=x&size=5&tag=y'],
    ['page=2&x=1&page=abc&size=5&size=0', 2, 5, 'page=2&x=1&size=5'],
    ['q=a+b&page=%32&size=1%30', 2, 10, 'q=a+b&page=2&size=10'],
    ['%70age=4&si%7Ae=3', 4, 3, 'page=4&size=3'],
    ['Page=3&pages=4', 1, 25, 'Page=3&pages=4&page=1&size=25'],
    ['q=%zz%&s=caf\u00e9&e=%E2%82%AC', 1, 25, 'q=%zz%&s=caf\u00e9&e=%E2%82%AC&page=1&size=25'],
    ['a=1&&b=2&', 1, 25, 'a=1&&b=2&page=1&size=25'],
  ];
  for (const [query, page, size, upstream] of cases) {
    it(JSON.stringify(query), () => {
      const result = resolved(query);
      assert.deepEqual(result, {
        page,
        size,
        upstreamQuery: upstream,
        clientPath: '/orders',
        clientQuery: query,
      });
    });
  }

  it('first_page 0: page 0 is the default and accepted', () => {
    assert.equal(resolved('', { first_page: 0 }).upstreamQuery, 'page=0&size=25');
    assert.equal(resolved('page=0', { first_page: 0 }).page, 0);
    assert.equal(resolved('page=1', { first_page: 0 }).page, 1);
  });

  it('custom names, default and maximum', () => {
    const config = { page_param: 'p', size_param: 'per_page', default_size: 10, max_size: 50 };
    assert.deepEqual(
      [resolved('', config).size, resolved('per_page=70&p=2', config).upstreamQuery],
      [10, 'per_page=50&p=2'],
    );
    assert.equal(resolved('page=9&size=9', config).upstreamQuery, 'page=9&size=9&p=1&per_page=10');
  });

  it('JSON:API style names, sent raw or encoded', () => {
    const config = { page_param: 'page[number]', size_param: 'page[size]' };
    const raw = resolved('page[number]=2&page[size]=10&filter[status]=open', config);
    assert.deepEqual([raw.page, raw.size], [2, 10]);
    assert.equal(raw.upstreamQuery, 'page%5Bnumber%5D=2&page%5Bsize%5D=10&filter[status]=open');
    assert.equal(resolved('page%5Bnumber%5D=3', config).page, 3);
  });
});

describe('resolvePage: refused', () => {
  const pageError: PageError = {
    error: 'Query parameter "page" must be a whole number of at least 1 (at most 9 digits).',
    param: 'page',
  };
  const sizeError: PageError = {
    error:
      'Query parameter "size" must be a whole number of at least 1 (at most 9 digits); ' +
      'sizes above 100 are reduced to 100.',
    param: 'size',
  };
  const cases: readonly (readonly [query: string, expected: PageError])[] = [
    ['page=abc', pageError],
    ['page=-1', pageError],
    ['page=1.5', pageError],
    ['page=1e3', pageError],
    ['page=', pageError],
    ['page', pageError],
    ['page=0', pageError],
    ['page=1234567890', pageError],
    ['page=0000000001', pageError],
    ['page=+1', pageError],
    ['page=%2B1', pageError],
    ['page=1+', pageError],
    ['page=%201', pageError],
    ['page=0x10', pageError],
    ['page=1,2', pageError],
    ['page=Infinity', pageError],
    ['page=%D9%A3', pageError],
    ['page=%EF%BC%93', pageError],
    ['page=abc&page=2', pageError],
    ['size=abc', sizeError],
    ['size=0', sizeError],
    ['size=000', sizeError],
    ['size=-5', sizeError],
    ['size=', sizeError],
    ['size=2.0', sizeError],
    ['size=1e2', sizeError],
    ['size=1234567890', sizeError],
    ['page=2&size=0&size=5', sizeError],
    ['page=x&size=x', pageError],
  ];
  for (const [query, expected] of cases) {
    it(JSON.stringify(query), () => {
      assert.deepEqual(resolvePage(defaults, '/orders', query), expected);
    });
  }

  it('names the configured parameter and first page', () => {
    const p = compilePagination({ page_param: 'p', size_param: 'n', first_page: 0, max_size: 40 });
    assert.deepEqual(resolvePage(p, '/', 'p=-1'), {
      error: 'Query parameter "p" must be a whole number of at least 0 (at most 9 digits).',
      param: 'p',
    });
    assert.deepEqual(resolvePage(p, '/', 'n=0'), {
      error:
        'Query parameter "n" must be a whole number of at least 1 (at most 9 digits); ' +
        'sizes above 40 are reduced to 40.',
      param: 'n',
    });
  });
});
