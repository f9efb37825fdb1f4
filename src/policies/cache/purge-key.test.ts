// The key a purge names: a URL or the key form, canonicalized as the cache builds its keys (path normalized,
// query sorted, host lowercased without port); anything else is refused with a reason.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { purgeKey } from './purge-key.js';

describe('purgeKey', () => {
  const cases: readonly (readonly [given: string, key: string])[] = [
    // The key form, as stored and as documented.
    ['/v1/products?\n127.0.0.1', '/v1/products?\n127.0.0.1'],
    ['/v1/products?page=1\napi.example.com', '/v1/products?page=1\napi.example.com'],
    // The port and the case of the host do not matter: requests are keyed by the host alone.
    ['/v1/products?\n127.0.0.1:18100', '/v1/products?\n127.0.0.1'],
    ['/v1/products?\nAPI.Example.COM:8443', '/v1/products?\napi.example.com'],
    ['/v1/products?\n[::1]:8080', '/v1/products?\n[::1]'],
    ['/v1/products?\n[::1]', '/v1/products?\n[::1]'],
    // The path and query as the cache keys them.
    ['/v1/products?b=2&a=1\nh', '/v1/products?a=1&b=2\nh'],
    ['/v1/products\nh', '/v1/products?\nh'],
    ['/v1//x/../products/%7euser?%7E=1\nh', '/v1/products/~user?~=1\nh'],
    // A full key keeps its route and consumer parts.
    ['/v1/products?\n127.0.0.1:18100\nr:products\nc:alice', '/v1/products?\n127.0.0.1\nr:products\nc:alice'],
    // A URL as a client sends it.
    ['http://127.0.0.1:18100/v1/products', '/v1/products?\n127.0.0.1'],
    ['http://127.0.0.1/v1/products?b=2&a=1', '/v1/products?a=1&b=2\n127.0.0.1'],
    ['HTTPS://API.example.com:443/v1/products?page=1#top', '/v1/products?page=1\napi.example.com'],
    ['http://[::1]:8080/x', '/x?\n[::1]'],
    ['http://h', '/?\nh'],
  ];
  for (const [given, key] of cases)
    it(`${JSON.stringify(given)} → ${JSON.stringify(key)}`, () => assert.equal(purgeKey(given), key));

  it('refuses what names no entry, saying why', () => {
    for (const given of [
      '/v1/products?',
      '/v1/products?\n',
      'v1/products?\nh',
      'http://',
      'http://h/a/%2500',
      '/x%00?\nh',
      'ftp://h/x',
    ]) {
      const r = purgeKey(given);
      assert.equal(typeof r, 'object', given);
      assert.match((r as { refused: string }).refused, /\w/, given);
    }
  });
});
