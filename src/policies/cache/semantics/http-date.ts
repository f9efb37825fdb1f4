// Parses HTTP-date (RFC 9110 §5.6.7) strictly. Date.parse is not fit for this: it reads "0" as the year
// 2000, takes zone names other than GMT, and reads an asctime-date in the local zone.

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
const MONTH_INDEX: Readonly<Record<string, number>> = Object.fromEntries(
  MONTHS.split('|').map((name, index) => [name, index]),
);
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTHS}) (\\d{4}) ${TIME} GMT$`,
);
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTHS})-(\\d{2}) ${TIME} GMT$`,
);
// Sun Nov  6 08:49:37 1994
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTHS}) ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * The instant an HTTP-date names, in milliseconds since the epoch, or undefined when `value` is not one of
 * the three formats of RFC 9110 §5.6.7 (case-sensitive, GMT only, a real calendar day). The day name is
 * not checked against the date, as most recipients do not. `now` places the two-digit year of an
 * rfc850-date: one more than 50 years ahead means the century before.
 */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  const text = value.trim();
  let match = IMF_FIXDATE.exec(text);
  if (match !== null) return instant(match[3], match[2], match[1], match[4], match[5], match[6]);
  match = ASCTIME_DATE.exec(text);
  if (match !== null) return instant(match[6], match[1], match[2], match[3], match[4], match[5]);
  match = RFC850_DATE.exec(text);
  if (match === null) return undefined;
  const nowYear = new Date(now).getUTCFullYear();
  let year = nowYear - (nowYear % 100) + Number(match[3]);
  if (year > nowYear + 50) year -= 100;
  return instant(String(year), match[2], match[1], match[4], match[5], match[6]);
}

/** Builds the instant from matched parts; undefined for a day the month lacks or a time past 23:59:60. */
function instant(
  yearText: string | undefined,
  monthName: string | undefined,
  dayText: string | undefined,
  hourText: string | undefined,
  minuteText: string | undefined,
  secondText: string | undefined,
): number | undefined {
  const year = Number(yearText);
  const month = MONTH_INDEX[monthName ?? ''];
  const day = Number(dayText?.trim());
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  if (month === undefined || hour > 23 || minute > 59 || second > 60) return undefined;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, takes years 0-99 literally.
  date.setUTCFullYear(year, month, day);
  if (day < 1 || date.getUTCMonth() !== month) return undefined;
  // Second 60 is a leap second (RFC 9110 §5.6.7); it rolls over to the next minute.
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** Formats `ms` as an IMF-fixdate, the form a sender generates (RFC 9110 §5.6.7). */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
