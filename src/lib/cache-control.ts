// Parses Cache-Control (RFC 9111 §5.2) for requests and responses in one scan without regular expressions,
// reading malformed or contradictory directives the conservative way (the response goes stale sooner).

import { isTchar, skipOws } from './http-token.js';

/** The largest delta-seconds a cache needs to represent: larger values become this (RFC 9111 §1.2.2). */
export const DELTA_SECONDS_MAX = 2147483648;

/** The directives of one Cache-Control field. Durations are in seconds, as on the wire. */
export interface CacheControl {
  /** `max-age`: 0 when its argument is missing or not delta-seconds (read as stale, RFC 9111 §4.2.1). */
  readonly maxAge: number | undefined;
  /** `s-maxage` (responses), read as max-age is. */
  readonly sMaxAge: number | undefined;
  readonly noStore: boolean;
  /**
   * `no-cache`. A field-name list (`no-cache="set-cookie"`) is ignored and the directive read as
   * unqualified, which RFC 9111 §5.2.2.4 allows: revalidating everything is the conservative reading.
   */
  readonly noCache: boolean;
  /** `private`; a field-name list is read as unqualified too (§5.2.2.7): a shared cache never stores. */
  readonly private: boolean;
  readonly public: boolean;
  readonly mustRevalidate: boolean;
  readonly proxyRevalidate: boolean;
  readonly mustUnderstand: boolean;
  readonly noTransform: boolean;
  /** `immutable` (RFC 8246). */
  readonly immutable: boolean;
  /** `stale-while-revalidate` (RFC 5861 §3); undefined when absent or its argument is invalid. */
  readonly staleWhileRevalidate: number | undefined;
  /** `stale-if-error` (RFC 5861 §4); undefined when absent or its argument is invalid. */
  readonly staleIfError: number | undefined;
  /** `max-stale` (requests): Infinity without an argument; undefined when absent or invalid. */
  readonly maxStale: number | undefined;
  /** `min-fresh` (requests); undefined when absent or invalid. */
  readonly minFresh: number | undefined;
  /** `only-if-cached` (requests). */
  readonly onlyIfCached: boolean;
  /**
   * `max-age` or `s-maxage` appears more than once with different values. The first value is kept in the
   * field above, but RFC 9111 §4.2.1 lets a cache treat such a response as stale, and storability does.
   */
  readonly conflicting: boolean;
}

/** A directive's argument: absent (undefined), its text, or null when the directive is malformed. */
type Argument = string | null | undefined;

/**
 * Parses Cache-Control field lines (several are one comma-separated list, RFC 9110 §5.3). Directive names
 * are case-insensitive; arguments may be tokens or quoted-strings (RFC 9111 §5.2); the first occurrence
 * of a directive wins. Unknown directives are ignored (§5.2.3).
 */
export function parseCacheControl(value: string | readonly string[] | undefined): CacheControl {
  const directives = new Map<string, Argument>();
  let conflicting = false;
  const text = typeof value === 'string' ? value : value === undefined ? '' : value.join(', ');
  scanDirectives(text, (name, argument) => {
    if (!directives.has(name)) directives.set(name, argument);
    else if (name === 'max-age' || name === 's-maxage') {
      conflicting ||= lifetime(directives.get(name)) !== lifetime(argument);
    }
  });
  const optional = (name: string): number | undefined => {
    const argument = directives.get(name);
    return typeof argument === 'string' ? parseDeltaSeconds(argument) : undefined;
  };
  const maxStale = directives.get('max-stale');
  return {
    maxAge: directives.has('max-age') ? lifetime(directives.get('max-age')) : undefined,
    sMaxAge: directives.has('s-maxage') ? lifetime(directives.get('s-maxage')) : undefined,
    noStore: directives.has('no-store'),
    noCache: directives.has('no-cache'),
    private: directives.has('private'),
    public: directives.has('public'),
    mustRevalidate: directives.has('must-revalidate'),
    proxyRevalidate: directives.has('proxy-revalidate'),
    mustUnderstand: directives.has('must-understand'),
    noTransform: directives.has('no-transform'),
    immutable: directives.has('immutable'),
    staleWhileRevalidate: optional('stale-while-revalidate'),
    staleIfError: optional('stale-if-error'),
    maxStale: directives.has('max-stale') && maxStale === undefined ? Infinity : optional('max-stale'),
    minFresh: optional('min-fresh'),
    onlyIfCached: directives.has('only-if-cached'),
    conflicting,
  };
}

/** A max-age or s-maxage argument in seconds: a missing or invalid one means already stale (§4.2.1). */
function lifetime(argument: Argument): number {
  return typeof argument === 'string' ? (parseDeltaSeconds(argument) ?? 0) : 0;
}

/**
 * delta-seconds (RFC 9111 §1.2.2): one or more digits, nothing else; undefined otherwise. Values past
 * 2^31 are 2^31.
 */
export function parseDeltaSeconds(text: string): number | undefined {
  if (text.length === 0) return undefined;
  let seconds = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    seconds = Math.min(seconds * 10 + digit, DELTA_SECONDS_MAX);
  }
  return seconds;
}

const COMMA = 0x2c;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Calls `visit` with each directive's lowercase name and argument. Text after a directive and before the
 * next comma makes it malformed: its name still counts (so `no-store junk` still forbids storing) but its
 * argument is null. Text that does not start with a token is skipped up to the next comma.
 */
function scanDirectives(text: string, visit: (name: string, argument: Argument) => void): void {
  const length = text.length;
  let i = 0;
  while (i < length) {
    i = skipOws(text, i);
    if (i >= length) break;
    if (text.charCodeAt(i) === COMMA) {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < length && isTchar(text.charCodeAt(i))) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    let argument: Argument;
    i = skipOws(text, i);
    if (i < length && text.charCodeAt(i) === EQUALS) {
      i = skipOws(text, i + 1);
      if (i < length && text.charCodeAt(i) === DQUOTE) {
        const quoted = readQuotedString(text, i);
        argument = quoted.text;
        i = quoted.end;
      } else {
        const start = i;
        while (i < length && isTchar(text.charCodeAt(i))) i++;
        argument = text.slice(start, i);
      }
      i = skipOws(text, i);
    }
    if (i < length && text.charCodeAt(i) !== COMMA) {
      argument = null;
      i = skipToComma(text, i);
    }
    if (name.length > 0) visit(name, argument);
  }
}

/** The unescaped content of the quoted-string at `start` (RFC 9110 §5.6.4); null text when unterminated. */
function readQuotedString(text: string, start: number): { text: string | null; end: number } {
  let content = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === DQUOTE) return { text: content, end: i + 1 };
    if (c === BACKSLASH && i + 1 < text.length) i++;
    content += text.charAt(i);
    i++;
  }
  return { text: null, end: i };
}

/** Index of the next comma at or after `i` that is not inside a quoted-string (or the end). */
function skipToComma(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === COMMA) return i;
    i = c === DQUOTE ? readQuotedString(text, i).end : i + 1;
  }
  return i;
}
