// Whether a shared cache stores a response and with what freshness (RFC 9111 §3, §3.5, §4.2.1), including
// the product rules (Set-Cookie, authenticated requests, route TTL).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseHeaders } from './field-value.js';
import { formatHttpDate } from './http-date.js';
import { storability, type StorabilityInput, type UnstorableReason } from './storability.js';

const T = Date.UTC(2025, 0, 1, 12, 0, 0);
const DATE = formatHttpDate(T);
const HOUR = 3_600_000;

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly status?: number;
  readonly response?: ResponseHeaders;
  readonly request?: Readonly<Record<string, string>>;
  readonly authenticated?: boolean;
  readonly keyedByConsumer?: boolean;
  readonly ttlOverrideS?: number;
}

function input(c: Case): StorabilityInput {
  const request = c.request ?? {};
  return {
    method: c.method ?? 'GET',
    status: c.status ?? 200,
    responseHeaders: c.response ?? { date: DATE, 'cache-control': 'max-age=60' },
    requestHeaders: (name) => request[name],
    authenticated: c.authenticated ?? false,
    keyedByConsumer: c.keyedByConsumer ?? false,
    ttlOverrideS: c.ttlOverrideS,
    requestTime: T,
    responseTime: T,
  };
}

describe('storability: refused', () => {
  const cases: readonly (readonly [Case, UnstorableReason])[] = [
    [{ name: 'HEAD', method: 'HEAD' }, 'method'],
    [{ name: 'POST', method: 'POST' }, 'method'],
    [{ name: 'lowercase get (methods are case-sensitive)', method: 'get' }, 'method'],
    [{ name: '206 Partial Content', status: 206 }, 'status'],
    [{ name: '304 Not Modified', status: 304 }, 'status'],
    [{ name: '100 Continue', status: 100 }, 'status'],
    [{ name: 'status 600', status: 600 }, 'status'],
    [{ name: '500 without explicit freshness', status: 500, response: { date: DATE } }, 'status'],
    [{ name: '302 without explicit freshness', status: 302, response: { date: DATE } }, 'status'],
    [
      { name: '500 with a route TTL only', status: 500, response: { date: DATE }, ttlOverrideS: 60 },
      'status',
    ],
    [{ name: 'no-store', response: { 'cache-control': 'no-store, max-age=60' } }, 'no-store'],
    [{ name: 'NO-STORE', response: { 'cache-control': 'NO-STORE' } }, 'no-store'],
    [{ name: 'request no-store', request: { 'cache-control': 'no-store' } }, 'no-store'],
    [
      { name: 'no-store with a route TTL', response: { 'cache-control': 'no-store' }, ttlOverrideS: 60 },
      'no-store',
    ],
    [{ name: 'private', response: { 'cache-control': 'private, max-age=60' } }, 'private'],
    [
      { name: 'private with a field list', response: { 'cache-control': 'private="x-user", max-age=60' } },
      'private',
    ],
    [
      { name: 'private with a route TTL', response: { 'cache-control': 'private' }, ttlOverrideS: 60 },
      'private',
    ],
    [
      { name: 'Set-Cookie', response: { 'cache-control': 'public, max-age=60', 'set-cookie': ['a=1'] } },
      'set-cookie',
    ],
    [
      { name: 'Set-Cookie with a route TTL', response: { 'set-cookie': 'a=1' }, ttlOverrideS: 60 },
      'set-cookie',
    ],
    [{ name: 'Vary: *', response: { 'cache-control': 'max-age=60', vary: '*' } }, 'vary-star'],
    [
      { name: 'Vary: Accept, *', response: { 'cache-control': 'max-age=60', vary: 'Accept, *' } },
      'vary-star',
    ],
    [
      { name: 'Vary lines with *', response: { 'cache-control': 'max-age=60', vary: ['Accept', '*'] } },
      'vary-star',
    ],
    [{ name: 'Authorization header', request: { authorization: 'Bearer x' } }, 'authenticated'],
    [{ name: 'authenticated by the gateway', authenticated: true }, 'authenticated'],
    // Product rule: RFC 9111 §3.5 would store these; Portico does not unless the key holds the consumer.
    [
      {
        name: 'authenticated, public',
        authenticated: true,
        response: { 'cache-control': 'public, max-age=60' },
      },
      'authenticated',
    ],
    [
      { name: 'authenticated, s-maxage', authenticated: true, response: { 'cache-control': 's-maxage=60' } },
      'authenticated',
    ],
    [
      {
        name: 'authenticated, must-revalidate',
        authenticated: true,
        response: { 'cache-control': 'must-revalidate, max-age=60' },
      },
      'authenticated',
    ],
    [
      {
        name: 'must-understand with a status outside the default set',
        status: 302,
        response: { 'cache-control': 'must-understand, max-age=60' },
      },
      'must-understand',
    ],
    [
      {
        name: 'must-understand does not lift no-store',
        response: { 'cache-control': 'must-understand, no-store' },
      },
      'no-store',
    ],
  ];
  for (const [c, reason] of cases) {
    it(c.name, () => {
      assert.deepEqual(storability(input(c)), { storable: false, reason });
    });
  }
});

describe('storability: stored', () => {
  interface Expected {
    readonly freshnessMs: number;
    readonly staleWhileRevalidateMs?: number;
    readonly staleIfErrorMs?: number;
    readonly mustRevalidate?: boolean;
    readonly initialAgeMs?: number;
  }
  const cases: readonly (readonly [Case, Expected])[] = [
    [{ name: 'max-age' }, { freshnessMs: 60_000 }],
    [
      {
        name: 'keyed by consumer',
        authenticated: true,
        request: { authorization: 'Basic eDp5' },
        keyedByConsumer: true,
      },
      { freshnessMs: 60_000 },
    ],
    [
      {
        name: 's-maxage wins over max-age and forbids stale',
        response: { 'cache-control': 'max-age=60, s-maxage=10' },
      },
      { freshnessMs: 10_000, mustRevalidate: true },
    ],
    [{ name: 'max-age=abc: stale', response: { 'cache-control': 'max-age=abc' } }, { freshnessMs: 0 }],
    [
      { name: 'conflicting max-age: stale', response: { 'cache-control': 'max-age=60, max-age=30' } },
      { freshnessMs: 0 },
    ],
    [
      {
        name: 'conflicting max-age with a route TTL',
        response: { 'cache-control': 'max-age=60, max-age=30' },
        ttlOverrideS: 5,
      },
      { freshnessMs: 5000 },
    ],
    [
      { name: 'no-cache: stored, always revalidated', response: { 'cache-control': 'no-cache, max-age=60' } },
      { freshnessMs: 0, mustRevalidate: true },
    ],
    [
      {
        name: 'qualified no-cache read as no-cache',
        response: { 'cache-control': 'no-cache="set-cookie", max-age=60' },
      },
      { freshnessMs: 0, mustRevalidate: true },
    ],
    [
      {
        name: 'a route TTL does not make no-cache fresh',
        response: { 'cache-control': 'no-cache' },
        ttlOverrideS: 60,
      },
      { freshnessMs: 0, mustRevalidate: true },
    ],
    [{ name: 'a route TTL replaces max-age', ttlOverrideS: 10 }, { freshnessMs: 10_000 }],
    [
      {
        name: 'a route TTL replaces max-age=0',
        response: { 'cache-control': 'max-age=0' },
        ttlOverrideS: 10,
      },
      { freshnessMs: 10_000 },
    ],
    [
      { name: 'a route TTL stands in for missing freshness', response: { date: DATE }, ttlOverrideS: 30 },
      { freshnessMs: 30_000 },
    ],
    [{ name: 'a route TTL of 1.5 s', ttlOverrideS: 1.5 }, { freshnessMs: 1500 }],
    [{ name: 'a negative route TTL is 0', ttlOverrideS: -1 }, { freshnessMs: 0 }],
    [
      {
        name: 'no heuristic freshness from Last-Modified',
        response: { date: DATE, 'last-modified': formatHttpDate(T - 10 * HOUR) },
      },
      { freshnessMs: 0 },
    ],
    [
      { name: '404 without freshness: stored, stale', status: 404, response: { date: DATE } },
      { freshnessMs: 0 },
    ],
    [{ name: '204', status: 204 }, { freshnessMs: 60_000 }],
    [{ name: '500 with max-age', status: 500 }, { freshnessMs: 60_000 }],
    [
      { name: '302 with public only', status: 302, response: { 'cache-control': 'public' } },
      { freshnessMs: 0 },
    ],
    [
      { name: '307 with Expires', status: 307, response: { date: DATE, expires: formatHttpDate(T + HOUR) } },
      { freshnessMs: HOUR },
    ],
    [
      { name: 'Expires − Date', response: { date: DATE, expires: formatHttpDate(T + HOUR) } },
      { freshnessMs: HOUR },
    ],
    [
      { name: 'Expires without Date: from arrival', response: { expires: formatHttpDate(T + HOUR) } },
      { freshnessMs: HOUR },
    ],
    [
      {
        name: 'Expires with an invalid Date: from arrival',
        response: { date: 'now', expires: formatHttpDate(T + HOUR) },
      },
      { freshnessMs: HOUR },
    ],
    [
      {
        name: 'Expires with Date 1 h earlier than arrival',
        response: { date: formatHttpDate(T - HOUR), expires: formatHttpDate(T + HOUR) },
      },
      { freshnessMs: 2 * HOUR, initialAgeMs: HOUR },
    ],
    [{ name: 'Expires: 0', response: { date: DATE, expires: '0' } }, { freshnessMs: 0 }],
    [{ name: 'Expires: -1', response: { date: DATE, expires: '-1' } }, { freshnessMs: 0 }],
    [
      { name: 'Expires in the past', response: { date: DATE, expires: formatHttpDate(T - HOUR) } },
      { freshnessMs: 0 },
    ],
    [
      {
        name: 'Expires lines that differ: stale',
        response: { date: DATE, expires: [formatHttpDate(T + HOUR), formatHttpDate(T + 2 * HOUR)] },
      },
      { freshnessMs: 0 },
    ],
    [
      {
        name: 'Expires lines that agree',
        response: { date: DATE, expires: [formatHttpDate(T + HOUR), formatHttpDate(T + HOUR)] },
      },
      { freshnessMs: HOUR },
    ],
    [
      {
        name: 'max-age beats Expires (RFC 9111 §5.3)',
        response: { date: DATE, expires: formatHttpDate(T + HOUR), 'cache-control': 'max-age=10' },
      },
      { freshnessMs: 10_000 },
    ],
    [
      {
        name: 'max-age=0 beats Expires',
        response: { date: DATE, expires: formatHttpDate(T + HOUR), 'cache-control': 'max-age=0' },
      },
      { freshnessMs: 0 },
    ],
    [
      {
        name: 'RFC 5861 windows',
        response: { 'cache-control': 'max-age=600, stale-while-revalidate=30, stale-if-error=1200' },
      },
      { freshnessMs: 600_000, staleWhileRevalidateMs: 30_000, staleIfErrorMs: 1_200_000 },
    ],
    [
      {
        name: 'must-revalidate',
        response: { 'cache-control': 'max-age=60, must-revalidate, stale-if-error=60' },
      },
      { freshnessMs: 60_000, staleIfErrorMs: 60_000, mustRevalidate: true },
    ],
    [
      { name: 'proxy-revalidate', response: { 'cache-control': 'max-age=60, proxy-revalidate' } },
      { freshnessMs: 60_000, mustRevalidate: true },
    ],
    [
      {
        name: 'must-understand with a known status',
        response: { 'cache-control': 'must-understand, max-age=60' },
      },
      { freshnessMs: 60_000 },
    ],
    [
      { name: 'upstream Age', response: { 'cache-control': 'max-age=60', age: '15' } },
      { freshnessMs: 60_000, initialAgeMs: 15_000 },
    ],
    [
      {
        name: 'Vary with a field name',
        response: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' },
      },
      { freshnessMs: 60_000 },
    ],
  ];
  for (const [c, expected] of cases) {
    it(c.name, () => {
      assert.deepEqual(storability(input(c)), {
        storable: true,
        staleWhileRevalidateMs: 0,
        staleIfErrorMs: 0,
        mustRevalidate: false,
        initialAgeMs: 0,
        responseTime: T,
        ...expected,
      });
    });
  }

  it('measures the initial age from the request and response times', () => {
    const result = storability({ ...input({ name: 'timed' }), requestTime: T - 2000, responseTime: T });
    assert.equal(result.storable && result.initialAgeMs, 2000);
  });
});
