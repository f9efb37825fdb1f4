// Pins the defaults, the settings accepted, and every refused combination with the key it is reported on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePagination, PaginationConfigError, type PaginationConfig } from './compile-pagination.js';

describe('compilePagination: defaulted', () => {
  it('fills every default', () => {
    const p = compilePagination({});
    assert.equal(p.pageParam, 'page');
    assert.equal(p.sizeParam, 'size');
    assert.equal(p.defaultSize, 25);
    assert.equal(p.maxSize, 100);
    assert.equal(p.firstPage, 1);
    assert.equal(p.totalHeader, undefined);
    assert.equal(p.totalField, undefined);
    assert.equal(p.field, 'pagination');
    assert.equal(p.defaultQuery, 'page=1&size=25');
    assert.equal(
      p.pageError,
      'Query parameter "page" must be a whole number of at least 1 (at most 9 digits).',
    );
    assert.equal(
      p.sizeError,
      'Query parameter "size" must be a whole number of at least 1 (at most 9 digits); ' +
        'sizes above 100 are reduced to 100.',
    );
    assert.ok(Object.isFrozen(p));
  });
});

describe('compilePagination: accepted', () => {
  it('takes every setting', () => {
    const p = compilePagination({
      page_param: 'p',
      size_param: 'per_page',
      default_size: 10,
      max_size: 50,
      first_page: 0,
      total_header: 'X-Total-Count',
      total_field: 'meta.total',
      field: 'paging',
    });
    assert.deepEqual(
      [p.pageParam, p.sizeParam, p.defaultSize, p.maxSize, p.firstPage, p.totalField, p.field],
      ['p', 'per_page', 10, 50, 0, 'meta.total', 'paging'],
    );
    assert.equal(p.totalHeader, 'x-total-count', 'lower-cased for Node header objects');
    assert.equal(p.defaultQuery, 'p=0&per_page=10');
    assert.match(p.pageError, /"p" must be a whole number of at least 0/);
  });

  it('allows default_size equal to max_size, and 1', () => {
    assert.equal(compilePagination({ default_size: 100, max_size: 100 }).defaultSize, 100);
    assert.equal(compilePagination({ default_size: 1, max_size: 1 }).maxSize, 1);
  });

  it('percent-encodes names that are not URI-safe', () => {
    const p = compilePagination({ page_param: 'page[number]', size_param: 'page size' });
    assert.equal(p.pageKey, 'page%5Bnumber%5D=');
    assert.equal(p.sizeKey, 'page%20size=');
    assert.equal(p.defaultQuery, 'page%5Bnumber%5D=1&page%20size=25');
  });
});

describe('compilePagination: rejected', () => {
  const cases: readonly (readonly [config: PaginationConfig, key: string, message: string])[] = [
    [{ page_param: '' }, 'page_param', 'page_param must not be empty'],
    [{ size_param: '' }, 'size_param', 'size_param must not be empty'],
    [{ page_param: '\ud800' }, 'page_param', 'page_param must be well-formed Unicode'],
    [{ page_param: 'n', size_param: 'n' }, 'size_param', 'size_param must differ from page_param ("n")'],
    [{ size_param: 'page' }, 'size_param', 'size_param must differ from page_param ("page")'],
    [{ default_size: 0 }, 'default_size', 'default_size must be a whole number of at least 1 (got 0)'],
    [{ default_size: 2.5 }, 'default_size', 'default_size must be a whole number of at least 1 (got 2.5)'],
    [{ max_size: -1 }, 'max_size', 'max_size must be a whole number of at least 1 (got -1)'],
    [{ max_size: NaN }, 'max_size', 'max_size must be a whole number of at least 1 (got NaN)'],
    [{ max_size: Infinity }, 'max_size', 'max_size must be a whole number of at least 1 (got Infinity)'],
    [{ default_size: 200 }, 'default_size', 'default_size (200) must not exceed max_size (100)'],
    [{ default_size: 10, max_size: 5 }, 'default_size', 'default_size (10) must not exceed max_size (5)'],
    [{ first_page: 2 as 0 | 1 }, 'first_page', 'first_page must be 0 or 1'],
    [{ total_header: '' }, 'total_header', 'total_header must be a header name (RFC 9110 token)'],
    [{ total_header: 'X Total' }, 'total_header', 'total_header must be a header name (RFC 9110 token)'],
    [{ total_header: 'X-Total:' }, 'total_header', 'total_header must be a header name (RFC 9110 token)'],
    [{ total_field: '' }, 'total_field', 'total_field must not be empty'],
    [{ field: '' }, 'field', 'field must not be empty'],
  ];
  for (const [config, key, message] of cases) {
    it(JSON.stringify(config), () => {
      assert.throws(
        () => compilePagination(config),
        (error: unknown) =>
          error instanceof PaginationConfigError &&
          error.name === 'PaginationConfigError' &&
          error.key === key &&
          error.message === message,
      );
    });
  }
});
