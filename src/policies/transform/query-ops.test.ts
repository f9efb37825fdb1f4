import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testExchange } from '../../pipeline/testing.js';
import { applyQueryOps, compileQueryOps } from './query-ops.js';

function run(config: Parameters<typeof compileQueryOps>[0], query: string): string {
  const ex = testExchange([]);
  ex.query = query;
  return applyQueryOps(compileQueryOps(config, ['query'])!, ex, query);
}

describe('query edits', () => {
  it('removes, renames, sets and adds, keeping other parameters byte for byte and in order', () => {
    assert.equal(
      run(
        { remove: ['debug'], rename: { q: 'search' }, set: { source: 'gateway' }, add: { tag: 'edge' } },
        'q=blue%20mug&debug=1&x=1&x=2&y',
      ),
      'search=blue%20mug&x=1&x=2&y&source=gateway&tag=edge',
    );
  });

  it('compares names decoded and encodes new names and values', () => {
    assert.equal(run({ remove: ['a b'] }, 'a+b=1&a%20b=2&c=3'), 'c=3');
    assert.equal(run({ set: { 'k&v': 'a=b c/ü' } }, ''), 'k%26v=a%3Db%20c%2F%C3%BC');
  });

  it('set replaces every value of the name, renamed ones included', () => {
    assert.equal(run({ set: { page: '1' } }, 'page=3&a=1&page=4'), 'a=1&page=1');
    assert.equal(run({ rename: { p: 'page' }, set: { page: '1' } }, 'p=3'), 'page=1');
  });

  it('renders templates from the request before the edits', () => {
    assert.equal(run({ set: { copy: '${query.page}-${method}' } }, 'page=2'), 'page=2&copy=2-GET');
  });

  it('drops empty pieces and returns "" when nothing is left', () => {
    assert.equal(run({ remove: ['a'] }, 'a=1&&a=2&'), '');
  });

  it('is undefined for an empty block', () => {
    assert.equal(compileQueryOps({}, ['query']), undefined);
    assert.equal(compileQueryOps(undefined, ['query']), undefined);
  });
});
