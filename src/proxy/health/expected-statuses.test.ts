// The expected-statuses config form: what each accepted spec lets through, and the message for each bad one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expectedStatuses } from './expected-statuses.js';

describe('expectedStatuses', () => {
  const accepted: readonly {
    readonly spec: readonly (number | string)[] | undefined;
    readonly yes: readonly number[];
    readonly no: readonly number[];
  }[] = [
    { spec: undefined, yes: [200, 204, 301, 399], no: [100, 199, 400, 503] },
    { spec: [200], yes: [200], no: [201, 204, 500] },
    { spec: ['2xx'], yes: [200, 250, 299], no: [199, 300] },
    { spec: ['5XX', 404], yes: [404, 500, 599], no: [400, 403, 200] },
    { spec: ['200-204', '418'], yes: [200, 204, 418], no: [205, 417, 419] },
    { spec: [' 301 - 302 ', 100, 599], yes: [100, 301, 302, 599], no: [300, 303] },
    { spec: ['2xx', '200-210', 200], yes: [200, 210, 299], no: [300] },
  ];
  for (const { spec, yes, no } of accepted)
    it(`accepts ${JSON.stringify(spec) ?? 'undefined (the default)'}`, () => {
      const isExpected = expectedStatuses(spec);
      assert.deepEqual(
        [...yes, ...no].map((status) => isExpected(status)),
        [...yes.map(() => true), ...no.map(() => false)],
      );
    });

  it('is false for numbers that are not statuses at all', () => {
    const isExpected = expectedStatuses(['1xx', '2xx', '3xx', '4xx', '5xx']);
    assert.deepEqual(
      [0, 99, 600, 1000, -200, 200.5, NaN].map((status) => isExpected(status)),
      [false, false, false, false, false, false, false],
    );
  });

  const rejected: readonly { readonly spec: readonly (number | string)[]; readonly message: RegExp }[] = [
    { spec: [], message: /expected statuses: the list is empty/ },
    { spec: [99], message: /expected statuses: entry 0 \(99\) is not an HTTP status \(100-599\)$/ },
    { spec: [600], message: /entry 0 \(600\) is not an HTTP status/ },
    { spec: [200.5], message: /entry 0 \(200\.5\) is not an HTTP status/ },
    { spec: ['6xx'], message: /entry 0 \("6xx"\) is not a status, a class like "2xx" or a range/ },
    { spec: ['2xxx'], message: /entry 0 \("2xxx"\) is not a status/ },
    { spec: ['ok'], message: /entry 0 \("ok"\) is not a status/ },
    { spec: [''], message: /entry 0 \(""\) is not a status/ },
    { spec: ['200-'], message: /entry 0 \("200-"\) is not a status/ },
    { spec: ['300-200'], message: /entry 0 \("300-200"\) is a range whose start is above its end/ },
    { spec: ['200-700'], message: /entry 0 \("200-700"\) is not an HTTP status/ },
    {
      spec: [200, 'x', 700],
      message: /expected statuses: entry 1 \("x"\) is not a status.*; entry 2 \(700\) is not an HTTP status/,
    },
  ];
  for (const { spec, message } of rejected)
    it(`rejects ${JSON.stringify(spec)}`, () => {
      assert.throws(() => expectedStatuses(spec), message);
    });
});
