// Path canonicalization before matching (RFC 3986 6.2.2): decode percent-encoded unreserved characters,
// upper-case the remaining escapes, percent-encode the few characters a URI may not hold, collapse
// duplicate slashes, then remove dot segments (5.2.4) — after decoding, so "%2e%2e" is "..". The result is
// what routes match, what authorization and the cache key see, and what goes upstream: the gateway and the
// upstream never read two different paths.
//
// Separators a backend might decode are kept visible: an encoded "/" or "\" stays "%2F" / "%5C" and a raw
// "\" becomes "%5C", so `hasEscapedSeparator` can find them and the route decides (`path_escapes`: refuse by
// default, keep as data, or decode and resolve again). Refused outright: a bad escape, NUL, control
// characters, a fragment, dot segments carrying ";" parameters ("..;" is ".." to Tomcat and Jetty), and
// "." "/" "\" or NUL encoded more than once.

/** Why a path was refused (the detail of the 400). */
export interface PathRefusal {
  readonly refused: string;
}

/** What a route does with an encoded "/" or "\" (Envoy's path_with_escaped_slashes_action). */
export type PathEscapes = 'reject' | 'keep' | 'decode';

const NOT_ABSOLUTE: PathRefusal = { refused: 'the path must start with "/"' };
const BAD_ESCAPE: PathRefusal = { refused: 'the path holds a malformed percent-escape' };
const NUL: PathRefusal = { refused: 'the path holds an encoded NUL' };
const CONTROL: PathRefusal = { refused: 'the path holds a control character or a space' };
const FRAGMENT: PathRefusal = { refused: 'a request target may not carry a fragment ("#")' };
const MULTI_ENCODED: PathRefusal = {
  refused: 'the path holds a double-encoded ".", "/", "\\" or NUL (%252E, %252F, %255C, %2500)',
};
const DOT_PARAMS: PathRefusal = {
  refused: 'a "." or ".." segment carries ";" parameters (read as a dot segment by some servers)',
};

/** "%25" (an encoded "%"), any number of times, then the escape of ".", "/", "\\" or NUL. */
const MULTI_ENCODED_DOT_OR_SEPARATOR = /%25(?:25)*(?:2e|2f|5c|00)/i;

/** Anything that may need work: "%", "\", a character to escape or refuse, "//" or "/.". */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be found
const NEEDS_WORK = /[%\\#"<>`{|}^\x00-\x20\x7f-\uffff]|\/\/|\/\./;

export function isPathRefusal<T>(v: T | PathRefusal): v is PathRefusal {
  return typeof v === 'object' && v !== null && 'refused' in v;
}

/** The canonical path, or why it is refused. Idempotent: a canonical path comes back unchanged. */
export function normalizePath(path: string): string | PathRefusal {
  if (path.charCodeAt(0) !== 47 /* / */) return NOT_ABSOLUTE;
  if (!NEEDS_WORK.test(path)) return path;
  // A backend that decodes twice (IIS, some frameworks) would read "%252e%252e" as "..": refused in any mode.
  if (path.includes('%25') && MULTI_ENCODED_DOT_OR_SEPARATOR.test(path)) return MULTI_ENCODED;
  const escaped = canonicalChars(path);
  if (typeof escaped !== 'string') return escaped;
  return removeDotSegments(escaped);
}

/** True when the canonical path holds an encoded "/" or "\" (escapes are upper-case once canonical). */
export function hasEscapedSeparator(path: string): boolean {
  return path.indexOf('%') !== -1 && (path.includes('%2F') || path.includes('%5C'));
}

/** `path_escapes: decode`: "%2F" and "%5C" become "/", and dot segments are resolved again. */
export function decodeSeparators(path: string): string | PathRefusal {
  return removeDotSegments(path.replace(ESCAPED_SEPARATOR, '/'));
}

const ESCAPED_SEPARATOR = /%2F|%5C/g;

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e // ~
  );
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const HEX = '0123456789ABCDEF';

function pct(c: number): string {
  return '%' + HEX[c >> 4]! + HEX[c & 15]!;
}

/**
 * One pass over the characters: unreserved escapes decoded, other escapes upper-cased, "\" and the
 * characters RFC 3986 does not allow in a path (", <, >, `, {, |, }, ^, bytes above 0x7E) percent-encoded.
 * Node hands the target over as one byte per character, so every character is at most 0xFF.
 */
function canonicalChars(path: string): string | PathRefusal {
  let out = '';
  let last = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    let rep: string;
    if (c === 37 /* % */) {
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return BAD_ESCAPE;
      const byte = hi * 16 + lo;
      if (byte === 0) return NUL;
      rep = isUnreserved(byte) ? String.fromCharCode(byte) : pct(byte);
      out += path.slice(last, i) + rep;
      i += 2;
      last = i + 1;
      continue;
    }
    if (c === 35 /* # */) return FRAGMENT;
    if (c <= 0x20 || c === 0x7f) return CONTROL;
    if (c > 0xff) return BAD_ESCAPE;
    if (
      c === 92 /* \ */ ||
      c > 0x7e ||
      c === 34 /* " */ ||
      c === 60 /* < */ ||
      c === 62 /* > */ ||
      c === 96 /* ` */ ||
      c === 123 /* { */ ||
      c === 124 /* | */ ||
      c === 125 /* } */ ||
      c === 94 /* ^ */
    ) {
      out += path.slice(last, i) + pct(c);
      last = i + 1;
    }
  }
  return last === 0 ? path : out + path.slice(last);
}

/** A "." or ".." segment followed by ";" parameters, literal or encoded. */
const DOT_SEGMENT_WITH_PARAMS = /^\.\.?(;|%3B)/i;

/** RFC 3986 5.2.4, with empty segments (duplicate slashes) dropped as well. */
function removeDotSegments(path: string): string | PathRefusal {
  if (!path.includes('//') && !path.includes('/.')) return path;
  const input = path.split('/');
  const out: string[] = [];
  let trailingSlash = false;
  for (let i = 1; i < input.length; i++) {
    const seg = input[i]!;
    const isLast = i === input.length - 1;
    if (seg === '..') {
      out.pop();
      trailingSlash = isLast;
    } else if (seg === '.' || seg === '') {
      trailingSlash = isLast;
    } else {
      if (seg.charCodeAt(0) === 46 /* . */ && DOT_SEGMENT_WITH_PARAMS.test(seg)) return DOT_PARAMS;
      out.push(seg);
      trailingSlash = false;
    }
  }
  const joined = '/' + out.join('/');
  return trailingSlash && out.length > 0 ? joined + '/' : joined;
}
