// The query part of a cache key: requests that differ only in parameter order or in equivalent
// percent-encodings (RFC 3986 §6.2.2) share one key; any other difference keeps them apart.

/** Whether a code point is unreserved (RFC 3986 §2.3): ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Normalizes percent-encoding (RFC 3986 §6.2.2.1-2): an escaped unreserved character is decoded (`%7E` is
 * `~`), other escapes get uppercase hex (`%2f` is `%2F`). Everything else, `+` and a stray `%` included, is
 * kept as it is: decoding more would merge requests an upstream may tell apart.
 */
export function normalizePercentEncoding(text: string): string {
  let at = text.indexOf('%');
  if (at < 0) return text;
  let out = '';
  let start = 0;
  while (at >= 0) {
    const high = hexValue(text.charCodeAt(at + 1));
    const low = hexValue(text.charCodeAt(at + 2));
    if (high >= 0 && low >= 0) {
      const code = high * 16 + low;
      out += text.slice(start, at);
      out += isUnreserved(code) ? String.fromCharCode(code) : '%' + text.slice(at + 1, at + 3).toUpperCase();
      start = at + 3;
    }
    at = text.indexOf('%', at + 1);
  }
  return out + text.slice(start);
}

/**
 * `raw` (a query without `?`) with empty pieces dropped, encodings normalized and parameters sorted by
 * name. Parameters with the same name keep their order: `a=1&a=2` and `a=2&a=1` are different requests to
 * an upstream that reads the first value, so they must not share a key.
 */
export function normalizeQuery(raw: string): string {
  const pairs: { readonly name: string; readonly piece: string }[] = [];
  for (const rawPiece of raw.split('&')) {
    if (rawPiece === '') continue;
    const piece = normalizePercentEncoding(rawPiece);
    const eq = piece.indexOf('=');
    pairs.push({ name: eq < 0 ? piece : piece.slice(0, eq), piece });
  }
  // Array.prototype.sort is stable (ES2019), which keeps same-name parameters in request order.
  pairs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let out = '';
  for (let i = 0; i < pairs.length; i++) out += (i > 0 ? '&' : '') + (pairs[i]?.piece ?? '');
  return out;
}
