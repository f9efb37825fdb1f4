// The age of a stored response (RFC 9111 §4.2.3): what it was on arrival, corrected for the upstream's
// Age and for clock skew, plus the time it has since spent in the cache.

import { DELTA_SECONDS_MAX, parseDeltaSeconds } from '../../../lib/cache-control.js';
import { firstFieldLine, type ResponseHeaders } from './field-value.js';
import { parseHttpDate } from './http-date.js';

/** What a stored response's age is computed from. */
export interface AgeBasis {
  /** The corrected initial age in milliseconds (RFC 9111 §4.2.3). */
  readonly initialAgeMs: number;
  /** When the response was received (ms since the epoch): `response_time` of §4.2.3. */
  readonly responseTime: number;
}

/**
 * `corrected_initial_age` of RFC 9111 §4.2.3, in milliseconds: the larger of the apparent age (receipt
 * minus Date, never negative, so a Date in the future counts as 0) and the upstream's Age plus the time
 * the request took. A missing or invalid Date or Age counts as 0.
 */
export function initialAgeMs(headers: ResponseHeaders, requestTime: number, responseTime: number): number {
  const ageText = firstFieldLine(headers, 'age');
  const ageValue = ageText === undefined ? 0 : (parseDeltaSeconds(ageText.trim()) ?? 0);
  const dateText = firstFieldLine(headers, 'date');
  const dateValue = dateText === undefined ? undefined : parseHttpDate(dateText, responseTime);
  const apparentAge = dateValue === undefined ? 0 : Math.max(0, responseTime - dateValue);
  const responseDelay = Math.max(0, responseTime - requestTime);
  return Math.max(apparentAge, ageValue * 1000 + responseDelay);
}

/** `current_age` of RFC 9111 §4.2.3 at `now`, in milliseconds (a clock that went back adds nothing). */
export function currentAgeMs(entry: AgeBasis, now: number): number {
  return entry.initialAgeMs + Math.max(0, now - entry.responseTime);
}

/** The Age field value for an age in milliseconds: whole seconds, rounded down, at most 2^31 (§5.1). */
export function ageHeader(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return seconds > 0 ? String(Math.min(seconds, DELTA_SECONDS_MAX)) : '0';
}
