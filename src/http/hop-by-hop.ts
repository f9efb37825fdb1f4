// Hop-by-hop header handling (RFC 9110 7.6.1): these headers describe one connection and are never
// forwarded, and neither is any header the Connection header names.
import { util as undiciUtil } from 'undici';

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

/**
 * The upstream's raw response headers as a header map, without hop-by-hop headers — built without them
 * rather than deleting them afterwards (a deleted key turns the object into a slow dictionary).
 */
export function parseResponseHeaders(raw: readonly Buffer[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = undiciUtil.headerNameToString(raw[i]!);
    const value = raw[i + 1]!.toString('latin1');
    if (HOP_BY_HOP.has(key)) {
      if (key === 'connection') connection = connection === undefined ? value : connection + ',' + value;
      continue;
    }
    if (key === '__proto__') continue;
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (typeof prev === 'string') out[key] = [prev, value];
    else prev.push(value);
  }
  if (connection !== undefined) for (const t of connectionTokens(connection)) delete out[t];
  return out;
}
