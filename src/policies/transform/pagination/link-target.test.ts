// Link targets must be valid URI references that stay on this host, whatever the request line held, and
// must mean the same query to a form decoder.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { linkPath, linkQuery } from './link-target.js';

describe('linkPath', () => {
  const cases: readonly (readonly [path: string, expected: string])[] = [
    ['/orders', '/orders'],
    ['/v1/orders/42/items', '/v1/orders/42/items'],
    ["/a-b_c.d~e!$&'()*+,;=:@", "/a-b_c.d~e!$&'()*+,;=:@"],
    ['/a%20b', '/a%20b'],
    ['/a b', '/a%20b'],
    ['/a>b<c"d', '/a%3Eb%3Cc%22d'],
    ['/caf\u00e9', '/caf%C3%A9'],
    ['/\u{1F600}', '/%F0%9F%98%80'],
    ['/\ud800x', '/%EF%BF%BDx'],
    ['/100%', '/100%25'],
    ['/%zz', '/%25zz'],
    ['/a?b#c', '/a%3Fb%23c'],
    ['/[x]{y}|\\^`', '/%5Bx%5D%7By%7D%7C%5C%5E%60'],
    ['//evil.example/x', '/.//evil.example/x'],
    ['///x', '/.///x'],
    ['/\\evil.example/x', '/%5Cevil.example/x'],
    ['', '/'],
    ['orders', '/orders'],
  ];
  for (const [path, expected] of cases) {
    it(`${JSON.stringify(path)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(linkPath(path), expected);
      assert.equal(new URL(expected, 'https://gw.example').host, 'gw.example', 'stays on this host');
    });
  }
});

describe('linkQuery', () => {
  const cases: readonly (readonly [query: string, expected: string])[] = [
    ['', ''],
    ['q=a%20b&tag=x&tag=y', 'q=a%20b&tag=x&tag=y'],
    ["a=!$'()*+,;=:@/?~-._", "a=!$'()*+,;=:@/?~-._"],
    ['q=a+b', 'q=a+b'],
    ['q=<x>;rel="next"', 'q=%3Cx%3E;rel=%22next%22'],
    ['filter[status]=open', 'filter%5Bstatus%5D=open'],
    ['q=100%', 'q=100%25'],
    ['q=%zz%&r=%4', 'q=%25zz%25&r=%254'],
    ['q=a b', 'q=a%20b'],
    ['q=caf\u00e9', 'q=caf%C3%A9'],
    ['q=\ud800', 'q=%EF%BF%BD'],
    ['q=a#b', 'q=a%23b'],
    ['q={a|b}\\^`', 'q=%7Ba%7Cb%7D%5C%5E%60'],
    ['q=\t\u007f', 'q=%09%7F'],
  ];
  for (const [query, expected] of cases) {
    it(`${JSON.stringify(query)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(linkQuery(query), expected);
      assert.deepEqual([...new URLSearchParams(expected)], [...new URLSearchParams(query)], 'same meaning');
    });
  }
});
