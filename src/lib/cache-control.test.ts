// Cache-Control parsing: the forms RFC 9111 §5.2 allows, the malformed ones it asks to read
// conservatively, and the request directives.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DELTA_SECONDS_MAX,
  parseCacheControl,
  parseDeltaSeconds,
  type CacheControl,
} from './cache-control.js';

const NONE: CacheControl = {
  maxAge: undefined,
  sMaxAge: undefined,
  noStore: false,
  noCache: false,
  private: false,
  public: false,
  mustRevalidate: false,
  proxyRevalidate: false,
  mustUnderstand: false,
  noTransform: false,
  immutable: false,
  staleWhileRevalidate: undefined,
  staleIfError: undefined,
  maxStale: undefined,
  minFresh: undefined,
  onlyIfCached: false,
  conflicting: false,
};

describe('parseCacheControl', () => {
  const cases: readonly (readonly [
    value: string | readonly string[] | undefined,
    expected: Partial<CacheControl>,
  ])[] = [
    [undefined, {}],
    ['', {}],
    [[], {}],
    ['max-age=60', { maxAge: 60 }],
    // RFC 5861 §3 and §4 examples.
    ['max-age=600, stale-while-revalidate=30', { maxAge: 600, staleWhileRevalidate: 30 }],
    ['max-age=600, stale-if-error=1200', { maxAge: 600, staleIfError: 1200 }],
    ['MAX-AGE=60, Public, No-Transform', { maxAge: 60, public: true, noTransform: true }],
    ['max-age="60"', { maxAge: 60 }],
    ['max-age="6\\0"', { maxAge: 60 }],
    ['max-age = 60', { maxAge: 60 }],
    ['max-age=abc', { maxAge: 0 }],
    ['max-age', { maxAge: 0 }],
    ['max-age=', { maxAge: 0 }],
    ['max-age=-1', { maxAge: 0 }],
    ['max-age=1.5', { maxAge: 0 }],
    ['max-age=+5', { maxAge: 0 }],
    ['max-age=60 junk', { maxAge: 0 }],
    ['max-age=60;x=1', { maxAge: 0 }],
    ['max-age="60', { maxAge: 0 }],
    ['max-age=0', { maxAge: 0 }],
    ['max-age=007', { maxAge: 7 }],
    ['max-age=2147483647', { maxAge: 2147483647 }],
    ['max-age=2147483649', { maxAge: DELTA_SECONDS_MAX }],
    ['max-age=99999999999999999999999', { maxAge: DELTA_SECONDS_MAX }],
    ['max-age=60, max-age=60', { maxAge: 60 }],
    ['max-age=60, max-age=120', { maxAge: 60, conflicting: true }],
    ['max-age=60, max-age=abc', { maxAge: 60, conflicting: true }],
    ['max-age=abc, max-age=0', { maxAge: 0 }],
    ['s-maxage=10, s-maxage=20', { sMaxAge: 10, conflicting: true }],
    [['max-age=60', 'max-age=30'], { maxAge: 60, conflicting: true }],
    ['stale-if-error=abc, stale-if-error=60', { staleIfError: undefined }],
    ['s-maxage=30, max-age=60', { sMaxAge: 30, maxAge: 60 }],
    [['max-age=60', 'no-cache'], { maxAge: 60, noCache: true }],
    ['no-cache="set-cookie, x-foo", max-age=5', { noCache: true, maxAge: 5 }],
    ['no-cache=set-cookie', { noCache: true }],
    ['private="x-user", max-age=5', { private: true, maxAge: 5 }],
    ['ext="a \\" , max-age=1", max-age=3', { maxAge: 3 }],
    ['ext="unterminated, max-age=3', {}],
    ['no-store junk', { noStore: true }],
    ['no-store=1', { noStore: true }],
    [',,, max-age=1 ,', { maxAge: 1 }],
    ['"junk", max-age=5', { maxAge: 5 }],
    ['=5, max-age=5', { maxAge: 5 }],
    ['max-age=5,public', { maxAge: 5, public: true }],
    ['\tpublic\t,\tmax-age=5', { maxAge: 5, public: true }],
    ['stale-while-revalidate=30, stale-if-error=abc', { staleWhileRevalidate: 30 }],
    ['stale-while-revalidate', {}],
    ['must-revalidate, proxy-revalidate', { mustRevalidate: true, proxyRevalidate: true }],
    ['must-understand, no-store', { mustUnderstand: true, noStore: true }],
    ['max-age=31536000, immutable', { maxAge: 31536000, immutable: true }],
    ['unknown-ext=42, community="UCI"', {}],
    // Request directives (RFC 9111 §5.2.1).
    ['max-stale', { maxStale: Infinity }],
    ['max-stale=5', { maxStale: 5 }],
    ['max-stale=x', { maxStale: undefined }],
    ['min-fresh=10, only-if-cached', { minFresh: 10, onlyIfCached: true }],
    ['min-fresh=ten', {}],
    ['no-cache, max-age=0', { noCache: true, maxAge: 0 }],
  ];
  for (const [value, expected] of cases) {
    it(JSON.stringify(value), () => {
      assert.deepEqual(parseCacheControl(value), { ...NONE, ...expected });
    });
  }
});

describe('parseDeltaSeconds', () => {
  const cases: readonly (readonly [text: string, expected: number | undefined])[] = [
    ['0', 0],
    ['42', 42],
    ['0042', 42],
    ['2147483648', DELTA_SECONDS_MAX],
    ['4294967296', DELTA_SECONDS_MAX],
    ['', undefined],
    [' 1', undefined],
    ['1 ', undefined],
    ['-1', undefined],
    ['1e3', undefined],
    ['0x10', undefined],
    ['١٢', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${String(expected)}`, () => {
      assert.equal(parseDeltaSeconds(text), expected);
    });
  }
});
