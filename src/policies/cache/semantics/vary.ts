// Which request header fields select a stored response (RFC 9111 §4.1) and how their values become part of
// a cache key: the response's Vary plus the route's declared fields, and a normalized, escaped rendering.

import type { RequestHeaderGetter } from './field-value.js';
import { isToken, skipOws } from '../../../lib/http-token.js';

/**
 * The lowercase, deduplicated, sorted union of the response's Vary members and the route's `declared`
 * field names; '*' when either holds `*` (RFC 9111 §4.1: such a response never matches a later request).
 * A member that is not a field name (a token, RFC 9110 §12.5.5) also gives '*': there is no way to tell
 * which requests it should match, so the response is treated as unmatchable.
 */
export function varySpec(
  responseVary: string | readonly string[] | undefined,
  declared: readonly string[],
): string[] | '*' {
  const names = new Set<string>();
  const lines =
    responseVary === undefined ? [] : typeof responseVary === 'string' ? [responseVary] : responseVary;
  for (const member of [...lines.flatMap((line) => line.split(',')), ...declared]) {
    const name = member.trim().toLowerCase();
    if (name === '') continue;
    if (name === '*' || !isToken(name)) return '*';
    names.add(name);
  }
  return [...names].sort();
}

/**
 * The request's values for the fields of `spec`, serialized for a cache key: `name=value` pairs joined by
 * `&`, a missing field written as its bare name so that it differs from an empty one. Values are trimmed and
 * lose the whitespace around list commas outside quoted-strings, as RFC 9111 §4.1 allows ("gzip , br" and
 * "gzip,br" select the same response); case is kept. Everything outside A-Z a-z 0-9 - . _ ~ is
 * percent-escaped, so the result holds no separator a key might use.
 */
export function varyValues(spec: readonly string[], requestHeaders: RequestHeaderGetter): string {
  let out = '';
  for (let i = 0; i < spec.length; i++) {
    const name = spec[i] ?? '';
    const value = requestHeaders(name);
    if (i > 0) out += '&';
    out += escapeKeyPart(name);
    if (value !== undefined) out += '=' + escapeKeyPart(normalizeFieldValue(value));
  }
  return out;
}

const COMMA = 0x2c;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Trims `value` and drops the optional whitespace around commas that are not inside a quoted-string. */
export function normalizeFieldValue(value: string): string {
  let out = '';
  let quoted = false;
  let i = skipOws(value, 0);
  while (i < value.length) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH && i + 1 < value.length) {
        out += value.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) {
      quoted = true;
    } else if (c === COMMA) {
      out = trimEndOws(out) + ',';
      i = skipOws(value, i + 1);
      continue;
    }
    out += value.charAt(i);
    i++;
  }
  return quoted ? out : trimEndOws(out);
}

function trimEndOws(text: string): string {
  let end = text.length;
  while (end > 0) {
    const c = text.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  return end === text.length ? text : text.slice(0, end);
}

const KEY_SAFE = new Uint8Array(128);
for (const c of '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')
  KEY_SAFE[c.charCodeAt(0)] = 1;

/** Percent-escapes every code unit outside the unreserved set: %XX below 0x100, %uXXXX above. Injective. */
function escapeKeyPart(text: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && KEY_SAFE[c] === 1) continue;
    out += text.slice(start, i);
    out += c < 0x100 ? '%' + hex(c, 2) : '%u' + hex(c, 4);
    start = i + 1;
  }
  return start === 0 ? text : out + text.slice(start);
}

function hex(code: number, width: number): string {
  return code.toString(16).toUpperCase().padStart(width, '0');
}
