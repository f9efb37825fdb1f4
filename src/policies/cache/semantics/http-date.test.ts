// HTTP-date parsing: the three formats of RFC 9110 §5.6.7 and what Date.parse would wrongly accept.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatHttpDate, parseHttpDate } from './http-date.js';

const RFC_EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);
const NOW = Date.UTC(2025, 5, 1);

describe('parseHttpDate', () => {
  const cases: readonly (readonly [value: string, expected: number | undefined])[] = [
    // RFC 9110 §5.6.7 examples, one per format.
    ['Sun, 06 Nov 1994 08:49:37 GMT', RFC_EXAMPLE],
    ['Sunday, 06-Nov-94 08:49:37 GMT', RFC_EXAMPLE],
    ['Sun Nov  6 08:49:37 1994', RFC_EXAMPLE],
    ['Sun Nov 06 08:49:37 1994', RFC_EXAMPLE],
    [' Sun, 06 Nov 1994 08:49:37 GMT ', RFC_EXAMPLE],
    ['Mon, 06 Nov 1994 08:49:37 GMT', RFC_EXAMPLE],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['Wed, 31 Dec 1969 23:59:59 GMT', -1000],
    ['Tue, 29 Feb 2000 12:00:00 GMT', Date.UTC(2000, 1, 29, 12)],
    ['Fri, 31 Dec 1999 23:59:60 GMT', Date.UTC(2000, 0, 1)],
    ['Sat, 01 Jan 0099 00:00:00 GMT', Date.parse('0099-01-01T00:00:00Z')],
    // Two-digit years: at most 50 years ahead of NOW (2025), else the century before.
    ['Sunday, 06-Nov-75 08:49:37 GMT', Date.UTC(2075, 10, 6, 8, 49, 37)],
    ['Sunday, 06-Nov-76 08:49:37 GMT', Date.UTC(1976, 10, 6, 8, 49, 37)],
    ['Sunday, 06-Nov-25 08:49:37 GMT', Date.UTC(2025, 10, 6, 8, 49, 37)],
    ['Sunday, 06-Nov-00 08:49:37 GMT', Date.UTC(2000, 10, 6, 8, 49, 37)],
    // Not HTTP-dates.
    ['0', undefined],
    ['-1', undefined],
    ['', undefined],
    ['2024-01-01', undefined],
    ['2024-01-01T00:00:00Z', undefined],
    ['Sun, 06 Nov 1994 08:49:37', undefined],
    ['Sun, 06 Nov 1994 08:49:37 PST', undefined],
    ['Sun, 06 Nov 1994 08:49:37 +0000', undefined],
    ['sun, 06 nov 1994 08:49:37 gmt', undefined],
    ['Sun, 6 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 06 Nov 94 08:49:37 GMT', undefined],
    ['Sun,06 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 31 Feb 1994 08:49:37 GMT', undefined],
    ['Sun, 00 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 06 Nov 1994 24:00:00 GMT', undefined],
    ['Sun, 06 Nov 1994 08:60:00 GMT', undefined],
    ['Sun, 06 Nov 1994 08:49:61 GMT', undefined],
    ['Sun Nov 6 08:49:37 1994', undefined],
    ['Sun Nov  6 08:49:37 1994 GMT', undefined],
    ['Sun, 06-Nov-94 08:49:37 GMT', undefined],
    ['Sunday, 06 Nov 1994 08:49:37 GMT', undefined],
    ['Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT', undefined],
  ];
  for (const [value, expected] of cases) {
    it(`${JSON.stringify(value)} → ${String(expected)}`, () => {
      assert.equal(parseHttpDate(value, NOW), expected);
    });
  }

  it('reads an asctime-date as GMT whatever the local zone (Date.parse does not)', () => {
    const zone = process.env['TZ'];
    process.env['TZ'] = 'America/New_York';
    try {
      assert.notEqual(Date.parse('Sun Nov  6 08:49:37 1994'), RFC_EXAMPLE);
      assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), RFC_EXAMPLE);
    } finally {
      if (zone === undefined) delete process.env['TZ'];
      else process.env['TZ'] = zone;
    }
  });
});

describe('formatHttpDate', () => {
  it('writes an IMF-fixdate that parses back', () => {
    assert.equal(formatHttpDate(RFC_EXAMPLE), 'Sun, 06 Nov 1994 08:49:37 GMT');
    for (const ms of [0, NOW, Date.UTC(2038, 0, 19, 3, 14, 8)]) {
      assert.equal(parseHttpDate(formatHttpDate(ms)), ms);
    }
  });
});
