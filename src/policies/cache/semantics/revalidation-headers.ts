// Revalidating a stored response with the upstream: the validators a conditional request sends (RFC 9111
// §4.3.1) and how a 304 updates the stored header fields (RFC 9111 §3.2, §4.3.4).

import { parseEntityTag } from './entity-tag.js';
import type { Validators } from './evaluate-conditional.js';
import { fieldValue, type ResponseHeaders } from './field-value.js';
import { parseHttpDate } from './http-date.js';

/**
 * The header fields that make a revalidation request conditional: If-None-Match with the stored ETag, weak
 * or strong as stored, and If-Modified-Since with the stored Last-Modified. RFC 9111 §4.3.1 asks for both
 * when both exist (an upstream that ignores one still reads the other). A malformed validator is not sent.
 */
export function revalidationHeaders(stored: Validators): [name: string, value: string][] {
  const out: [string, string][] = [];
  const etag = stored.etag?.trim();
  if (etag !== undefined && parseEntityTag(etag) !== undefined) out.push(['if-none-match', etag]);
  const lastModified = stored.lastModified?.trim();
  if (lastModified !== undefined && parseHttpDate(lastModified) !== undefined) {
    out.push(['if-modified-since', lastModified]);
  }
  return out;
}

/**
 * Fields a 304 never updates in the stored response: Content-Length (RFC 9111 §3.2), fields describing the
 * stored bytes (Content-Encoding, Content-Range, Content-Type: updating them would mislabel the body, which
 * §3.2 lets a cache avoid), and hop-by-hop fields, which are never stored (§3.1, RFC 9110 §7.6.1).
 */
const NOT_UPDATED_BY_304: ReadonlySet<string> = new Set([
  'content-length',
  'content-encoding',
  'content-range',
  'content-type',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The stored header fields updated with those of a 304 (RFC 9111 §4.3.4, §3.2): each field the 304 carries
 * replaces the stored one, except those in NOT_UPDATED_BY_304 and those its Connection field names. Age is
 * the 304's or none: the stored Age described the old response's trip, and the validated response is as
 * old as the 304. The result is a new object. The caller judges the result again (storability, with the
 * revalidation's request and response times): a 304 may add no-store, private or Set-Cookie.
 */
export function mergeNotModified(
  storedHeaders: ResponseHeaders,
  freshHeaders: ResponseHeaders,
): Record<string, string | string[]> {
  const skip = connectionOptions(freshHeaders);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(storedHeaders)) {
    if (value !== undefined && name !== 'age') out[name] = typeof value === 'string' ? value : [...value];
  }
  for (const [name, value] of Object.entries(freshHeaders)) {
    if (value === undefined || NOT_UPDATED_BY_304.has(name) || skip.has(name)) continue;
    out[name] = typeof value === 'string' ? value : [...value];
  }
  return out;
}

/** The lowercase field names listed in Connection (RFC 9110 §7.6.1). */
function connectionOptions(headers: ResponseHeaders): ReadonlySet<string> {
  const value = fieldValue(headers, 'connection');
  if (value === undefined) return EMPTY;
  return new Set(value.split(',').map((name) => name.trim().toLowerCase()));
}

const EMPTY: ReadonlySet<string> = new Set();
