// Makes the client's path and query safe to write inside a Link header's `<...>` and a JSON link: the
// request target may hold characters RFC 3986 forbids (Node accepts `"`, `<`, `>`, `\`, `[` and non-ASCII
// in a request line), and a `>` would end the URI reference early and let a client forge link relations.

// RFC 3986 §3.3 and §3.4: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; a query also allows
// "/" and "?". A `%` not followed by two hex digits is not pct-encoded.
const PATH_UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})/u;
const PATH_UNSAFE_ALL = new RegExp(PATH_UNSAFE.source, 'gu');
const QUERY_UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]|%(?![0-9A-Fa-f]{2})/u;
const QUERY_UNSAFE_ALL = new RegExp(QUERY_UNSAFE.source, 'gu');

/**
 * The client's path as a path-absolute reference: kept as is when valid, otherwise with the forbidden
 * characters percent-encoded. Never a network-path reference: `//host/x` would point at another host
 * (and `/\host` does in browsers), so a path starting with `//` gets the `/.` prefix the WHATWG URL
 * serializer uses for the same reason; it resolves back to the same path (RFC 3986 §5.2.4).
 */
export function linkPath(path: string): string {
  let safe = PATH_UNSAFE.test(path) ? path.replace(PATH_UNSAFE_ALL, percentEncode) : path;
  if (!safe.startsWith('/')) safe = '/' + safe;
  return safe.startsWith('//') ? '/.' + safe : safe;
}

/**
 * The client's raw query, kept as is when valid, otherwise with the forbidden characters percent-encoded.
 * Decoded as application/x-www-form-urlencoded the result means the same: a stray `%` becomes `%25`
 * (which decodes to `%` as the stray one did) and a non-ASCII character its UTF-8 escapes.
 */
export function linkQuery(query: string): string {
  return QUERY_UNSAFE.test(query) ? query.replace(QUERY_UNSAFE_ALL, percentEncode) : query;
}

function percentEncode(char: string): string {
  try {
    return encodeURIComponent(char);
  } catch {
    // A lone surrogate: URLSearchParams reads it as U+FFFD, so write that.
    return '%EF%BF%BD';
  }
}
