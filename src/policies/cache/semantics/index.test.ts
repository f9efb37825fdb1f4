// One stored response through its life, using only the folder's public API: stored, served fresh, answered
// with 304s, revalidated upstream, updated from the upstream's 304 and judged again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ageHeader,
  currentAgeMs,
  evaluateConditional,
  fieldValue,
  firstFieldLine,
  formatHttpDate,
  freshnessState,
  mergeNotModified,
  notModifiedHeaders,
  revalidationHeaders,
  storability,
  surrogateTags,
  validatorsOf,
  varySpec,
  varyValues,
  type RequestHeaderGetter,
  type StorabilityInput,
} from './index.js';

const T = Date.UTC(2025, 2, 1, 9, 0, 0);
const noHeaders: RequestHeaderGetter = () => undefined;

function judge(
  responseHeaders: StorabilityInput['responseHeaders'],
  requestTime: number,
  responseTime: number,
) {
  return storability({
    method: 'GET',
    status: 200,
    responseHeaders,
    requestHeaders: noHeaders,
    authenticated: false,
    keyedByConsumer: false,
    ttlOverrideS: undefined,
    requestTime,
    responseTime,
  });
}

describe('cache semantics, end to end', () => {
  const upstream = {
    date: formatHttpDate(T - 2000),
    'cache-control': 'max-age=60, stale-while-revalidate=30',
    etag: 'W/"v1"',
    'last-modified': formatHttpDate(T - 3_600_000),
    vary: 'Accept-Encoding',
    'surrogate-key': 'product-1 products',
    'content-type': 'application/json',
  };

  it('stores, serves, answers conditionals, revalidates and refreshes', () => {
    const stored = judge(upstream, T - 100, T);
    assert.ok(stored.storable);
    assert.equal(stored.initialAgeMs, 2000);
    assert.deepEqual(varySpec(upstream.vary, []), ['accept-encoding']);
    assert.equal(
      varyValues(['accept-encoding'], (name) => (name === 'accept-encoding' ? 'gzip, br' : undefined)),
      'accept-encoding=gzip%2Cbr',
    );
    assert.deepEqual(surrogateTags(upstream), ['product-1', 'products']);

    // 10 s later: fresh, 12 s old.
    assert.equal(freshnessState(stored, T + 10_000), 'fresh');
    assert.equal(ageHeader(currentAgeMs(stored, T + 10_000)), '12');

    // The client revalidates its copy: a 304 with the metadata RFC 9110 §15.4.5 lists.
    const ifNoneMatch: RequestHeaderGetter = (name) => (name === 'if-none-match' ? '"v1"' : undefined);
    assert.equal(evaluateConditional(ifNoneMatch, validatorsOf(upstream)), 'not-modified');
    assert.deepEqual(Object.keys(notModifiedHeaders(upstream)).sort(), [
      'cache-control',
      'date',
      'etag',
      'vary',
    ]);

    // 70 s later: inside stale-while-revalidate; the revalidation is conditional.
    assert.equal(freshnessState(stored, T + 70_000), 'stale-while-revalidate');
    assert.deepEqual(revalidationHeaders(validatorsOf(upstream)), [
      ['if-none-match', 'W/"v1"'],
      ['if-modified-since', upstream['last-modified']],
    ]);

    // The upstream answers 304 at T + 71 s; the merged response is judged again from that exchange.
    const merged = mergeNotModified(upstream, {
      date: formatHttpDate(T + 71_000),
      'cache-control': 'max-age=120',
    });
    assert.equal(fieldValue(merged, 'cache-control'), 'max-age=120');
    assert.equal(firstFieldLine(merged, 'content-type'), 'application/json');
    const refreshed = judge(merged, T + 70_500, T + 71_000);
    assert.ok(refreshed.storable);
    assert.equal(refreshed.freshnessMs, 120_000);
    assert.equal(freshnessState(refreshed, T + 150_000), 'fresh');
    assert.equal(freshnessState(refreshed, T + 191_000), 'stale');
  });

  it('drops the entry when the upstream 304 forbids storing', () => {
    const merged = mergeNotModified(upstream, { 'cache-control': 'no-store' });
    assert.deepEqual(judge(merged, T, T), { storable: false, reason: 'no-store' });
  });
});
