// Reading Node-style response header fields: list fields joined, singleton fields by their first line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fieldValue, firstFieldLine, type ResponseHeaders } from './field-value.js';

describe('fieldValue and firstFieldLine', () => {
  const headers: ResponseHeaders = {
    vary: ['Accept', 'Origin'],
    etag: ['"a,b"', '"c"'],
    date: 'Sun, 06 Nov 1994 08:49:37 GMT',
    empty: [],
    none: undefined,
  };
  const cases: readonly (readonly [name: string, joined: string | undefined, first: string | undefined])[] = [
    ['vary', 'Accept, Origin', 'Accept'],
    ['etag', '"a,b", "c"', '"a,b"'],
    ['date', 'Sun, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT'],
    ['empty', undefined, undefined],
    ['none', undefined, undefined],
    ['absent', undefined, undefined],
  ];
  for (const [name, joined, first] of cases) {
    it(name, () => {
      assert.equal(fieldValue(headers, name), joined);
      assert.equal(firstFieldLine(headers, name), first);
    });
  }
});
