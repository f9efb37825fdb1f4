// Answers a client's conditional GET or HEAD from a stored response (RFC 9111 §4.3.2, RFC 9110 §13.2.2),
// and picks the header fields of the 304 that answer it (RFC 9110 §15.4.5).

import { parseEntityTag, parseEntityTagList, weakMatch } from './entity-tag.js';
import { firstFieldLine, type RequestHeaderGetter, type ResponseHeaders } from './field-value.js';
import { parseHttpDate } from './http-date.js';

/** A stored response's validators, as their field values. */
export interface Validators {
  readonly etag?: string | undefined;
  readonly lastModified?: string | undefined;
  /** Date: what If-Modified-Since is compared with when Last-Modified is missing (RFC 9111 §4.3.2). */
  readonly date?: string | undefined;
}

/** The validators of stored response header fields. */
export function validatorsOf(headers: ResponseHeaders): Validators {
  return {
    etag: firstFieldLine(headers, 'etag'),
    lastModified: firstFieldLine(headers, 'last-modified'),
    date: firstFieldLine(headers, 'date'),
  };
}

/**
 * Whether a GET or HEAD that the stored response can satisfy gets a 304 or the full response (the caller
 * checks the method). If-None-Match, when present, decides alone (RFC 9110 §13.1.3, §13.2.2 step 3): `*`
 * matches; otherwise a member must match the stored ETag under weak comparison (§13.1.2); malformed members
 * are ignored. Without it, If-Modified-Since (a valid HTTP-date, else ignored) gives 304 when Last-Modified,
 * or Date when that is missing, is not later (RFC 9111 §4.3.2). A stored response always has a Date when the
 * cache appends one on receipt, as RFC 9110 §6.6.1 requires. If-Match and If-Unmodified-Since do not apply
 * to a cache (RFC 9111 §4.3.2) and are not looked at.
 */
export function evaluateConditional(
  requestHeaders: RequestHeaderGetter,
  stored: Validators,
): 'not-modified' | 'full' {
  const ifNoneMatch = requestHeaders('if-none-match');
  if (ifNoneMatch !== undefined) {
    const list = parseEntityTagList(ifNoneMatch);
    if (list.any) return 'not-modified';
    const etag = stored.etag === undefined ? undefined : parseEntityTag(stored.etag);
    return etag !== undefined && list.tags.some((tag) => weakMatch(tag, etag)) ? 'not-modified' : 'full';
  }
  const ifModifiedSince = requestHeaders('if-modified-since');
  const since = ifModifiedSince === undefined ? undefined : parseHttpDate(ifModifiedSince);
  if (since === undefined) return 'full';
  const modifiedText = stored.lastModified ?? stored.date;
  const modified = modifiedText === undefined ? undefined : parseHttpDate(modifiedText);
  return modified !== undefined && modified <= since ? 'not-modified' : 'full';
}

/**
 * What a 304 carries (RFC 9110 §15.4.5): the fields a 200 would have had among Cache-Control,
 * Content-Location, Date, ETag, Expires and Vary, plus Last-Modified when there is no ETag (the one other
 * piece of metadata that helps a cache update). The caller adds Age.
 */
export function notModifiedHeaders(storedHeaders: ResponseHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of NOT_MODIFIED_FIELDS) copyField(storedHeaders, name, out);
  if (storedHeaders['etag'] === undefined) copyField(storedHeaders, 'last-modified', out);
  return out;
}

const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary'] as const;

function copyField(from: ResponseHeaders, name: string, to: Record<string, string | string[]>): void {
  const value = from[name];
  if (value !== undefined) to[name] = typeof value === 'string' ? value : [...value];
}
