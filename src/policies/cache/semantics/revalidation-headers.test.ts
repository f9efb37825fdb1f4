// Conditional requests to the upstream (RFC 9111 §4.3.1) and updating stored fields from its 304
// (RFC 9111 §3.2, §4.3.4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Validators } from './evaluate-conditional.js';
import { mergeNotModified, revalidationHeaders } from './revalidation-headers.js';

const LAST_MODIFIED = 'Sat, 29 Oct 1994 19:43:31 GMT';

describe('revalidationHeaders', () => {
  const cases: readonly (readonly [
    name: string,
    stored: Validators,
    expected: readonly (readonly [string, string])[],
  ])[] = [
    [
      'both validators',
      { etag: '"xyzzy"', lastModified: LAST_MODIFIED },
      [
        ['if-none-match', '"xyzzy"'],
        ['if-modified-since', LAST_MODIFIED],
      ],
    ],
    ['a weak ETag stays weak', { etag: 'W/"xyzzy"' }, [['if-none-match', 'W/"xyzzy"']]],
    ['Last-Modified only', { lastModified: LAST_MODIFIED }, [['if-modified-since', LAST_MODIFIED]]],
    [
      'a malformed ETag is not sent',
      { etag: 'xyzzy', lastModified: LAST_MODIFIED },
      [['if-modified-since', LAST_MODIFIED]],
    ],
    ['an invalid Last-Modified is not sent', { etag: '"a"', lastModified: '0' }, [['if-none-match', '"a"']]],
    ['Date is not a validator to send', { date: LAST_MODIFIED }, []],
    ['nothing', {}, []],
  ];
  for (const [name, stored, expected] of cases) {
    it(name, () => {
      assert.deepEqual(revalidationHeaders(stored), expected);
    });
  }
});

describe('mergeNotModified', () => {
  const stored = {
    'content-type': 'text/html',
    'content-length': '1234',
    'content-encoding': 'gzip',
    etag: '"xyzzy"',
    'cache-control': 'max-age=60',
    date: 'Sat, 29 Oct 1994 19:43:31 GMT',
    age: '30',
    vary: ['Accept-Encoding'],
    'x-kept': '1',
  };
  const notModified = {
    'cache-control': 'max-age=120',
    date: 'Sun, 30 Oct 1994 19:43:31 GMT',
    etag: '"xyzzy"',
    'content-length': '0',
    'content-encoding': 'br',
    'content-type': 'application/json',
    'content-range': 'bytes 0-1/2',
    'transfer-encoding': 'chunked',
    connection: 'close, X-Hop',
    'x-hop': 'v',
    'keep-alive': 'timeout=5',
    'proxy-connection': 'keep-alive',
    upgrade: 'h2c',
    trailer: 'x-checksum',
    te: 'trailers',
    'x-new': ['a', 'b'],
  };

  it('replaces stored fields with the 304 fields, except those that describe the body or one hop', () => {
    assert.deepEqual(mergeNotModified(stored, notModified), {
      'content-type': 'text/html',
      'content-length': '1234',
      'content-encoding': 'gzip',
      etag: '"xyzzy"',
      'cache-control': 'max-age=120',
      date: 'Sun, 30 Oct 1994 19:43:31 GMT',
      vary: ['Accept-Encoding'],
      'x-kept': '1',
      'x-new': ['a', 'b'],
    });
  });

  it("takes the 304's Age", () => {
    assert.equal(mergeNotModified(stored, { age: '2' })['age'], '2');
  });

  it('changes neither input', () => {
    const before = JSON.stringify([stored, notModified]);
    const merged = mergeNotModified(stored, notModified);
    assert.equal(JSON.stringify([stored, notModified]), before);
    assert.notEqual(merged['vary'], stored.vary);
    assert.notEqual(merged['x-new'], notModified['x-new']);
  });

  it('adds what a 304 brings that the caller must judge again', () => {
    const merged = mergeNotModified(
      { 'cache-control': 'max-age=60' },
      {
        'cache-control': 'no-store',
        'set-cookie': ['s=1'],
      },
    );
    assert.deepEqual(merged, { 'cache-control': 'no-store', 'set-cookie': ['s=1'] });
  });
});
