// The request header fields the cache looks at — Cache-Control, Range, the conditionals and the headers that
// can poison a cache — found in one pass over the raw header list.
import type { Exchange } from '../../pipeline/exchange.js';

/**
 * Request headers that change what some upstreams answer (the URL, host, scheme or method they act on) —
 * the usual cache-poisoning vectors. They are not in the key, so a request carrying one bypasses the cache
 * unless the route lists it in `vary`.
 */
const OVERRIDE_HEADERS: ReadonlySet<string> = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-host',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-prefix',
  'x-original-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** The override headers a route with these (lowercase) `vary` names does not key by. */
export function unkeyedOverrides(declaredVary: readonly string[]): ReadonlySet<string> {
  return new Set([...OVERRIDE_HEADERS].filter((h) => !declaredVary.includes(h)));
}

/** The request header fields the cache looks at, found in one pass over the header list. */
export function scanRequest(
  ex: Exchange,
  overrides: ReadonlySet<string>,
): { cacheControl: string | undefined; bypass: boolean; conditional: boolean } {
  const raw = ex.headers.raw;
  let cacheControl: string | undefined;
  let bypass = false;
  let conditional = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Every name looked for starts with c, r, i or x: the common headers skip the lowercasing.
    const c = name.charCodeAt(0) | 0x20;
    if (c !== 0x63 && c !== 0x72 && c !== 0x69 && c !== 0x78) continue;
    const lower = name.toLowerCase();
    if (lower === 'cache-control')
      cacheControl = cacheControl === undefined ? raw[i + 1] : cacheControl + ', ' + raw[i + 1];
    else if (lower === 'range' || overrides.has(lower)) bypass = true;
    else if (lower === 'if-none-match' || lower === 'if-modified-since') conditional = true;
  }
  return { cacheControl, bypass, conditional };
}
