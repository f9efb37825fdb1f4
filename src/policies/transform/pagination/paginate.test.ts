// The pagination member and Link header for real page positions: page math with and without a total,
// the exact links and header text, and links that keep the client's query.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePagination, type PaginationConfig } from './compile-pagination.js';
import { paginate, type PageInfo, type Pagination, type PaginationObject } from './paginate.js';
import { resolvePage } from './resolve-page.js';

function run(query: string, info: PageInfo, config: PaginationConfig = {}, path = '/orders'): Pagination {
  const p = compilePagination(config);
  const req = resolvePage(p, path, query);
  if ('error' in req) assert.fail(req.error);
  return paginate(p, req, info);
}

/** `/orders?page=N&size=S`, the link for a client that sent no other parameter. */
const at = (page: number, size = 25) => `/orders?page=${page}&size=${size}`;

describe('paginate: known total', () => {
  const cases: readonly (readonly [
    name: string,
    query: string,
    total: number,
    expected: Pick<PaginationObject, 'next' | 'prev' | 'last' | 'total_pages'>,
  ])[] = [
    ['first of four', 'page=1', 100, { total_pages: 4, next: at(2), prev: null, last: at(4) }],
    ['middle', 'page=2', 100, { total_pages: 4, next: at(3), prev: at(1), last: at(4) }],
    [
      'last, total a multiple of size',
      'page=4',
      100,
      { total_pages: 4, next: null, prev: at(3), last: at(4) },
    ],
    [
      'total not a multiple of size',
      'page=4',
      101,
      { total_pages: 5, next: at(5), prev: at(3), last: at(5) },
    ],
    ['last partial page', 'page=5', 101, { total_pages: 5, next: null, prev: at(4), last: at(5) }],
    ['one item', 'page=1', 1, { total_pages: 1, next: null, prev: null, last: at(1) }],
    ['exactly one page', 'page=1', 25, { total_pages: 1, next: null, prev: null, last: at(1) }],
    ['one item past one page', 'page=1', 26, { total_pages: 2, next: at(2), prev: null, last: at(2) }],
    ['empty collection', 'page=1', 0, { total_pages: 0, next: null, prev: null, last: at(1) }],
    [
      'past the end of an empty collection',
      'page=3',
      0,
      { total_pages: 0, next: null, prev: at(1), last: at(1) },
    ],
    ['just past the end', 'page=4', 60, { total_pages: 3, next: null, prev: at(3), last: at(3) }],
    ['far past the end', 'page=99', 60, { total_pages: 3, next: null, prev: at(3), last: at(3) }],
  ];
  for (const [name, query, total, expected] of cases) {
    it(`${name}: ${query}, total ${total}`, () => {
      const { object } = run(query, { itemCount: undefined, total });
      const page = Number(query.slice('page='.length));
      assert.deepEqual(object, { page, size: 25, total, first: at(1), ...expected });
    });
  }

  it('the total wins over the item count', () => {
    assert.equal(run('page=1', { itemCount: 25, total: 25 }).object.next, null);
    assert.equal(run('page=1', { itemCount: 3, total: 100 }).object.next, at(2));
  });

  it('first_page 0', () => {
    const config = { first_page: 0 as const };
    assert.deepEqual(run('page=0', { itemCount: 25, total: 50 }, config).object, {
      page: 0,
      size: 25,
      total: 50,
      total_pages: 2,
      next: at(1),
      prev: null,
      first: at(0),
      last: at(1),
    });
    const last = run('page=1', { itemCount: 25, total: 50 }, config).object;
    assert.deepEqual([last.next, last.prev, last.last], [null, at(0), at(1)]);
    assert.deepEqual(run('', { itemCount: 0, total: 0 }, config).object.last, at(0));
    assert.deepEqual(run('page=5', { itemCount: 0, total: 0 }, config).object.prev, at(0));
  });

  it('stays exact at the largest safe total', () => {
    const { object } = run('size=100', { itemCount: 100, total: Number.MAX_SAFE_INTEGER });
    assert.equal(object.total_pages, 90071992547410);
    assert.equal(object.last, '/orders?size=100&page=90071992547410');
    const odd = run('size=7', { itemCount: 7, total: 2 ** 52 + 1 }).object.total_pages;
    assert.equal(odd, Number((2n ** 52n + 1n + 6n) / 7n));
  });

  it('a total that is not a count is unknown', () => {
    for (const total of [-1, 1.5, NaN, Infinity]) {
      const { object } = run('page=1', { itemCount: 25, total });
      assert.deepEqual(object, { page: 1, size: 25, next: at(2), prev: null, first: at(1) }, String(total));
    }
  });
});

describe('paginate: unknown total', () => {
  const cases: readonly (readonly [
    name: string,
    query: string,
    itemCount: number | undefined,
    next: string | null,
  ])[] = [
    ['full page: maybe more', 'page=1', 25, at(2)],
    ['partial page: the last', 'page=1', 10, null],
    ['empty page', 'page=3', 0, null],
    ['more items than asked: not a page the gateway sized', 'page=1', 30, null],
    ['nothing known: next always offered', 'page=2', undefined, at(3)],
  ];
  for (const [name, query, itemCount, next] of cases) {
    it(name, () => {
      const { object } = run(query, { itemCount, total: undefined });
      const page = Number(query.slice('page='.length));
      assert.deepEqual(object, { page, size: 25, next, prev: page > 1 ? at(page - 1) : null, first: at(1) });
      assert.ok(!('total' in object) && !('total_pages' in object) && !('last' in object));
    });
  }

  it('a last page exactly full offers one next page, which comes back empty', () => {
    assert.equal(run('page=4', { itemCount: 25, total: undefined }).object.next, at(5));
    assert.equal(run('page=5', { itemCount: 0, total: undefined }).object.next, null);
  });
});

describe('paginate: Link header', () => {
  it('first, prev, next, last in that order', () => {
    assert.equal(
      run('page=2', { itemCount: 25, total: 100 }).link,
      '</orders?page=1&size=25>; rel="first", </orders?page=1&size=25>; rel="prev", ' +
        '</orders?page=3&size=25>; rel="next", </orders?page=4&size=25>; rel="last"',
    );
  });

  it('leaves out absent relations', () => {
    assert.equal(
      run('', { itemCount: 25, total: 100 }).link,
      '</orders?page=1&size=25>; rel="first", </orders?page=2&size=25>; rel="next", ' +
        '</orders?page=4&size=25>; rel="last"',
    );
    assert.equal(
      run('page=4', { itemCount: 25, total: 100 }).link,
      '</orders?page=1&size=25>; rel="first", </orders?page=3&size=25>; rel="prev", ' +
        '</orders?page=4&size=25>; rel="last"',
    );
    assert.equal(
      run('page=1', { itemCount: 3, total: undefined }).link,
      '</orders?page=1&size=25>; rel="first"',
    );
    assert.equal(
      run('page=3', { itemCount: 25, total: undefined }).link,
      '</orders?page=1&size=25>; rel="first", </orders?page=2&size=25>; rel="prev", ' +
        '</orders?page=4&size=25>; rel="next"',
    );
  });

  it('carries the same links as the body', () => {
    const { object, link } = run('page=2&status=open', { itemCount: 25, total: 60 });
    const expected = [
      [object.first, 'first'],
      [object.prev, 'prev'],
      [object.next, 'next'],
      [object.last, 'last'],
    ]
      .map(([target, rel]) => `<${target}>; rel="${rel}"`)
      .join(', ');
    assert.equal(link, expected);
  });
});

describe('paginate: link targets', () => {
  it("keep the client's other parameters byte for byte, in order, with the size made explicit", () => {
    const { object } = run('q=a%20b&tag=x&tag=y&page=2&sort=-date', { itemCount: 25, total: 200 });
    assert.equal(object.next, '/orders?q=a%20b&tag=x&tag=y&page=3&sort=-date&size=25');
    assert.equal(object.prev, '/orders?q=a%20b&tag=x&tag=y&page=1&sort=-date&size=25');
  });

  it('carry the clamped size and drop repeated page and size parameters', () => {
    const { object } = run('size=500&q=a+b&page=2&size=7&page=9', { itemCount: 100, total: undefined });
    assert.equal(object.size, 100);
    assert.equal(object.next, '/orders?size=100&q=a+b&page=3');
  });

  it('use the configured, encoded names', () => {
    const config = { page_param: 'page[number]', size_param: 'page[size]' };
    const { object } = run('page[number]=2&filter[status]=open', { itemCount: 25, total: 60 }, config);
    assert.equal(object.next, '/orders?page%5Bnumber%5D=3&filter%5Bstatus%5D=open&page%5Bsize%5D=25');
  });

  it('cannot be used to forge link relations or another host', () => {
    const { link, object } = run(
      'q=%3E;x>;%20rel="last",</evil>',
      { itemCount: 25, total: undefined },
      {},
      '//evil.example/x>',
    );
    assert.equal(
      object.first,
      '/.//evil.example/x%3E?q=%3E;x%3E;%20rel=%22last%22,%3C/evil%3E&page=1&size=25',
    );
    assert.equal(link.split('>').length, 3, 'only the two delimiters');
    assert.ok(!/[\s"<>\\^`{|}]/.test(object.first));
    assert.equal(new URL(object.first, 'https://gw.example').host, 'gw.example');
  });
});
