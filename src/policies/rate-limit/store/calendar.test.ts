import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calendarPeriod } from './calendar.js';

const at = (iso: string) => Date.parse(iso);

describe('calendarPeriod', () => {
  it('a UTC day runs from midnight to midnight, whatever the local zone', () => {
    const p = calendarPeriod(at('2026-11-28T23:59:59.999Z'), 'day');
    assert.equal(new Date(p.start).toISOString(), '2026-11-28T00:00:00.000Z');
    assert.equal(new Date(p.end).toISOString(), '2026-11-29T00:00:00.000Z');
    const next = calendarPeriod(at('2026-11-29T00:00:00.000Z'), 'day');
    assert.equal(next.index, p.index + 1);
    assert.equal(next.start, p.end);
  });

  it('months: 28, 29, 30 and 31 days, and December into January', () => {
    const cases: [string, string, string][] = [
      ['2026-02-14T12:00:00Z', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
      ['2028-02-29T23:59:59.999Z', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
      ['2026-04-30T23:00:00Z', '2026-04-01T00:00:00.000Z', '2026-05-01T00:00:00.000Z'],
      ['2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
      ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00.000Z', '1970-02-01T00:00:00.000Z'],
    ];
    for (const [instant, start, end] of cases) {
      const p = calendarPeriod(at(instant), 'month');
      assert.deepEqual(
        [new Date(p.start).toISOString(), new Date(p.end).toISOString()],
        [start, end],
        instant,
      );
    }
    assert.equal(calendarPeriod(at('1970-01-15T00:00:00Z'), 'month').index, 0);
    assert.equal(calendarPeriod(at('2027-01-01T00:00:00Z'), 'month').index, 57 * 12);
    assert.equal(
      calendarPeriod(at('2027-01-01T00:00:00Z'), 'month').index,
      calendarPeriod(at('2026-12-31T23:59:59.999Z'), 'month').index + 1,
    );
  });
});
