// Hop-by-hop header handling (RFC 9110 7.6.1): these headers describe one connection and are never
// forwarded, and neither is any header the Connection header names.

/** Always connection-specific (lowercase). `expect` is answered by the gateway itself (100-continue). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Lowercase header names listed in a Connection header value. */
export function connectionTokens(value: string): string[] {
  // The common values name no header.
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return NONE;
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') out.push(t);
  }
  return out;
}

const NONE: string[] = [];

/** Removes hop-by-hop headers from an upstream response header map, in place. */
export function stripResponseHopByHop(headers: Record<string, string | string[] | undefined>): void {
  const connection = headers['connection'];
  if (connection !== undefined) {
    for (const t of connectionTokens(Array.isArray(connection) ? connection.join(',') : connection))
      delete headers[t];
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
}
