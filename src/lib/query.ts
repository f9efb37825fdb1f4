// Reads one parameter from a raw query string without parsing the rest: the same answer URLSearchParams
// gives (and the router's `match.query` sees), with no allocation beyond the value in the common case.

/**
 * Decodes one name or value as application/x-www-form-urlencoded (WHATWG URL 5.1, what URLSearchParams
 * does): `+` is a space, `%XX` an octet, the octets UTF-8 (invalid ones U+FFFD, a stray `%` kept).
 * RFC 3986 gives `+` no meaning, but HTML forms and every common server decode it this way.
 */
export function decodeFormComponent(raw: string): string {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    // A malformed escape or invalid UTF-8: URLSearchParams' lenient rules, which decodeURIComponent lacks.
    return new URLSearchParams('v=' + raw).get('v') ?? '';
  }
}

/** Whether query[start, end), decoded, is `name`; decodes only when the raw text holds `%` or `+`. */
function nameIs(query: string, start: number, end: number, name: string): boolean {
  for (let i = start; i < end; i++) {
    const c = query.charCodeAt(i);
    if (c === 0x25 /* % */ || c === 0x2b /* + */)
      return decodeFormComponent(query.slice(start, end)) === name;
  }
  return end - start === name.length && query.startsWith(name, start);
}

/**
 * The first value of parameter `name` (already decoded) in `query` (raw, without `?`), or undefined when it
 * is absent. `?a` and `?a=` both give "". Pairs are split on `&` only, as URLSearchParams does.
 */
export function queryValue(query: string, name: string): string | undefined {
  const length = query.length;
  let start = 0;
  while (start < length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = length;
    let eq = query.indexOf('=', start);
    if (eq < 0 || eq > end) eq = end;
    if (end > start && nameIs(query, start, eq, name)) {
      return eq === end ? '' : decodeFormComponent(query.slice(eq + 1, end));
    }
    start = end + 1;
  }
  return undefined;
}

/**
 * `query` (raw, without `?`) without any parameter whose decoded name is `name`; every other piece is kept
 * byte for byte and in order.
 */
export function removeQueryParam(query: string, name: string): string {
  let out = '';
  let kept = 0;
  const length = query.length;
  let start = 0;
  while (start <= length && length > 0) {
    let end = query.indexOf('&', start);
    if (end < 0) end = length;
    let eq = query.indexOf('=', start);
    if (eq < 0 || eq > end) eq = end;
    if (!nameIs(query, start, eq, name)) out += (kept++ > 0 ? '&' : '') + query.slice(start, end);
    start = end + 1;
  }
  return out;
}
