// A Redis outage fails every request: the metrics hook sees each failure, the log one line per 10 s.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStoreErrorReporter } from './store-error-reporter.js';

describe('createStoreErrorReporter', () => {
  it('logs the first failure, counts the rest, and logs again after the interval with the count', () => {
    let now = 0;
    const lines: [Readonly<Record<string, unknown>>, string][] = [];
    const seen: Error[] = [];
    const reporter = createStoreErrorReporter({
      store: 'redis',
      log: { warn: (fields, msg) => lines.push([fields, msg]) },
      onError: (err) => seen.push(err),
      now: () => now,
    });
    reporter.failedCheck(new Error('down'));
    for (let i = 0; i < 4; i++) reporter.failedCheck(new Error('down'));
    reporter.connectionError(new Error('connect ECONNREFUSED'));
    now = 9_999;
    reporter.failedCheck(new Error('down'));
    assert.equal(lines.length, 1);
    now = 10_000;
    reporter.failedCheck(new Error('down'));
    assert.equal(seen.length, 7, 'every failed check reaches onError');
    assert.deepEqual(lines, [
      [{ store: 'redis', errors: 1, connectionErrors: 0, error: 'down' }, 'rate_limit_store_error'],
      [
        {
          store: 'redis',
          errors: 6,
          connectionErrors: 1,
          error: 'down',
          connectionError: 'connect ECONNREFUSED',
        },
        'rate_limit_store_error',
      ],
    ]);
  });

  it('a connection error alone is logged too (an outage with no traffic still shows)', () => {
    const lines: string[] = [];
    const reporter = createStoreErrorReporter({
      store: 'redis',
      log: { warn: (_f, msg) => lines.push(msg) },
    });
    reporter.connectionError(new Error('connect ECONNREFUSED'));
    assert.deepEqual(lines, ['rate_limit_store_error']);
  });
});
