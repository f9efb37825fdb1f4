// A client's conditional GET against a stored response (RFC 9110 §13.1-13.2, RFC 9111 §4.3.2) and the
// fields of the 304 that answers it (RFC 9110 §15.4.5).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateConditional,
  notModifiedHeaders,
  validatorsOf,
  type Validators,
} from './evaluate-conditional.js';

const LAST_MODIFIED = 'Sat, 29 Oct 1994 19:43:31 GMT';
const EARLIER = 'Fri, 28 Oct 1994 19:43:31 GMT';
const LATER = 'Sun, 30 Oct 1994 19:43:31 GMT';

describe('evaluateConditional', () => {
  const stored: Validators = { etag: '"xyzzy"', lastModified: LAST_MODIFIED, date: LATER };
  const cases: readonly (readonly [
    name: string,
    request: Readonly<Record<string, string>>,
    stored: Validators,
    expected: 'not-modified' | 'full',
  ])[] = [
    ['no conditional', {}, stored, 'full'],
    ['If-None-Match matches', { 'if-none-match': '"xyzzy"' }, stored, 'not-modified'],
    [
      'If-None-Match in a list',
      { 'if-none-match': '"r2d2xxxx", "xyzzy", "c3piozzzz"' },
      stored,
      'not-modified',
    ],
    ['If-None-Match does not match', { 'if-none-match': '"r2d2xxxx"' }, stored, 'full'],
    ['weak W/"xyzzy" matches stored "xyzzy"', { 'if-none-match': 'W/"xyzzy"' }, stored, 'not-modified'],
    [
      '"xyzzy" matches stored W/"xyzzy"',
      { 'if-none-match': '"xyzzy"' },
      { etag: 'W/"xyzzy"' },
      'not-modified',
    ],
    ['W/ on both', { 'if-none-match': 'W/"xyzzy"' }, { etag: 'W/"xyzzy"' }, 'not-modified'],
    ['etag comparison is case-sensitive', { 'if-none-match': '"XYZZY"' }, stored, 'full'],
    ['etag with a comma', { 'if-none-match': '"a,b"' }, { etag: '"a,b"' }, 'not-modified'],
    ['one part of an etag with a comma', { 'if-none-match': '"a"' }, { etag: '"a,b"' }, 'full'],
    ['unquoted member ignored', { 'if-none-match': 'xyzzy' }, stored, 'full'],
    [
      'malformed member skipped, valid one matches',
      { 'if-none-match': 'xyzzy, "xyzzy"' },
      stored,
      'not-modified',
    ],
    ['*', { 'if-none-match': '*' }, stored, 'not-modified'],
    ['* without a stored ETag', { 'if-none-match': '*' }, { lastModified: LAST_MODIFIED }, 'not-modified'],
    ['a tag and no stored ETag', { 'if-none-match': '"xyzzy"' }, { lastModified: LAST_MODIFIED }, 'full'],
    ['malformed stored ETag', { 'if-none-match': '"xyzzy"' }, { etag: 'xyzzy' }, 'full'],
    // If-None-Match takes precedence (RFC 9110 §13.1.3, §13.2.2).
    [
      'If-None-Match mismatch beats a matching IMS',
      { 'if-none-match': '"other"', 'if-modified-since': LATER },
      stored,
      'full',
    ],
    [
      'malformed If-None-Match still hides IMS',
      { 'if-none-match': 'junk', 'if-modified-since': LATER },
      stored,
      'full',
    ],
    ['IMS equal to Last-Modified', { 'if-modified-since': LAST_MODIFIED }, stored, 'not-modified'],
    ['IMS after Last-Modified', { 'if-modified-since': LATER }, stored, 'not-modified'],
    ['IMS before Last-Modified', { 'if-modified-since': EARLIER }, stored, 'full'],
    [
      'IMS as rfc850-date',
      { 'if-modified-since': 'Saturday, 29-Oct-94 19:43:31 GMT' },
      stored,
      'not-modified',
    ],
    ['IMS as asctime-date', { 'if-modified-since': 'Sat Oct 29 19:43:31 1994' }, stored, 'not-modified'],
    ['IMS invalid date ignored', { 'if-modified-since': 'yesterday' }, stored, 'full'],
    ['IMS "0" ignored', { 'if-modified-since': '0' }, stored, 'full'],
    ['IMS with two dates ignored', { 'if-modified-since': `${LATER}, ${LATER}` }, stored, 'full'],
    [
      'IMS against Date when Last-Modified is missing',
      { 'if-modified-since': LATER },
      { date: LAST_MODIFIED },
      'not-modified',
    ],
    [
      'IMS before Date when Last-Modified is missing',
      { 'if-modified-since': EARLIER },
      { date: LAST_MODIFIED },
      'full',
    ],
    ['IMS with neither Last-Modified nor Date', { 'if-modified-since': LATER }, {}, 'full'],
    ['IMS with an invalid Last-Modified', { 'if-modified-since': LATER }, { lastModified: 'soon' }, 'full'],
    ['If-Match is not for a cache', { 'if-match': '"nope"' }, stored, 'full'],
    ['If-Unmodified-Since is not for a cache', { 'if-unmodified-since': EARLIER }, stored, 'full'],
  ];
  for (const [name, request, validators, expected] of cases) {
    it(name, () => {
      assert.equal(
        evaluateConditional((field) => request[field], validators),
        expected,
      );
    });
  }
});

describe('validatorsOf', () => {
  it('reads ETag, Last-Modified and Date, first lines only', () => {
    assert.deepEqual(validatorsOf({ etag: ['"a"', '"b"'], 'last-modified': LAST_MODIFIED, date: LATER }), {
      etag: '"a"',
      lastModified: LAST_MODIFIED,
      date: LATER,
    });
    assert.deepEqual(validatorsOf({}), { etag: undefined, lastModified: undefined, date: undefined });
  });
});

describe('notModifiedHeaders', () => {
  const full = {
    'cache-control': 'max-age=60',
    'content-location': '/doc.en',
    date: LATER,
    etag: '"xyzzy"',
    expires: LATER,
    vary: ['Accept-Encoding', 'Accept-Language'],
    'last-modified': LAST_MODIFIED,
    'content-type': 'text/html',
    'content-length': '1234',
    'content-encoding': 'gzip',
    'x-custom': '1',
  };
  it('keeps the fields RFC 9110 §15.4.5 lists, without Last-Modified when there is an ETag', () => {
    assert.deepEqual(notModifiedHeaders(full), {
      'cache-control': 'max-age=60',
      'content-location': '/doc.en',
      date: LATER,
      etag: '"xyzzy"',
      expires: LATER,
      vary: ['Accept-Encoding', 'Accept-Language'],
    });
  });
  it('keeps Last-Modified when there is no ETag', () => {
    assert.deepEqual(
      notModifiedHeaders({ date: LATER, 'last-modified': LAST_MODIFIED, 'content-type': 'a/b' }),
      {
        date: LATER,
        'last-modified': LAST_MODIFIED,
      },
    );
  });
  it('copies field lines rather than sharing the stored array', () => {
    const vary = notModifiedHeaders(full)['vary'];
    assert.ok(Array.isArray(vary));
    assert.notEqual(vary, full.vary);
  });
  it('is empty for a response without any of them', () => {
    assert.deepEqual(notModifiedHeaders({ 'content-type': 'text/plain' }), {});
  });
});
