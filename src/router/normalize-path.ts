// Path normalization before matching (RFC 3986 6.2.2): decode percent-encoded unreserved characters,
// upper-case the remaining escapes, collapse duplicate slashes and remove dot segments (5.2.4). An encoded
// slash (%2F) stays encoded — it is data, never a separator — and %00 is refused. The result is both what
// routes match and what goes upstream, so the gateway and the upstream never disagree about the path.

/** Characters that may need work: "%", or a "/" followed by "/" or ".". */
const NEEDS_WORK = /%|\/\/|\/\./;

/** Returns the normalized path, or null when the path is invalid (bad escape, NUL, not starting with "/"). */
export function normalizePath(path: string): string | null {
  if (path.charCodeAt(0) !== 47 /* / */) return null;
  if (!NEEDS_WORK.test(path)) return path;
  let decoded = path;
  if (path.includes('%')) {
    const d = decodeUnreserved(path);
    if (d === null) return null;
    decoded = d;
  }
  return removeDotSegments(decoded);
}

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

function decodeUnreserved(path: string): string | null {
  let out = '';
  let last = 0;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) !== 37 /* % */) continue;
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    const byte = hi * 16 + lo;
    if (byte === 0) return null;
    out += path.slice(last, i);
    out += isUnreserved(byte) ? String.fromCharCode(byte) : '%' + path.slice(i + 1, i + 3).toUpperCase();
    i += 2;
    last = i + 1;
  }
  return out + path.slice(last);
}

/** RFC 3986 5.2.4, with empty segments (duplicate slashes) dropped as well. */
function removeDotSegments(path: string): string {
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
      out.push(seg);
      trailingSlash = false;
    }
  }
  const joined = '/' + out.join('/');
  return trailingSlash && out.length > 0 ? joined + '/' : joined;
}
