// UTC calendar periods for quotas: a day runs from 00:00:00.000 UTC to the next midnight, a month from the
// 1st at midnight UTC to the 1st of the next month. Leap seconds do not exist here (Unix time).

export type QuotaPeriod = 'day' | 'month';

export interface CalendarPeriod {
  /** Days since the epoch (day) or months since January 1970 (month): equal for every instant of one period. */
  readonly index: number;
  /** Epoch milliseconds of the period's first instant. */
  readonly start: number;
  /** Epoch milliseconds of the next period's first instant. */
  readonly end: number;
}

const DAY_MS = 86_400_000;

/** The UTC calendar period that holds `epochMs`. */
export function calendarPeriod(epochMs: number, period: QuotaPeriod): CalendarPeriod {
  if (period === 'day') {
    const index = Math.floor(epochMs / DAY_MS);
    return { index, start: index * DAY_MS, end: (index + 1) * DAY_MS };
  }
  const d = new Date(epochMs);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  return {
    index: (year - 1970) * 12 + month,
    start: Date.UTC(year, month, 1),
    end: Date.UTC(year, month + 1, 1),
  };
}
