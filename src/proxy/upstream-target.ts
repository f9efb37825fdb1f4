// One upstream server: its origin, the Host header it expects, an optional base path, and the keep-alive
// undici Pool all routes share for it (carried over across reloads while its settings are unchanged).
import { Pool } from 'undici';

export interface UpstreamTarget {
  /** "http://host:port" */
  readonly origin: string;
  /** Host header for the upstream: host[:port] as written in the URL. */
  readonly hostHeader: string;
  /** Path of the URL without a trailing slash ("" for none); prepended to every forwarded path. */
  readonly basePath: string;
  readonly weight: number;
  readonly pool: Pool;
}

export interface PoolSettings {
  readonly connectTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly connections: number | undefined;
  /** TLS server name when connecting to an address resolved from a host name (SNI and certificate check). */
  readonly servername?: string;
}

export function createPool(origin: string, s: PoolSettings): Pool {
  return new Pool(origin, {
    connections: s.connections ?? null,
    connectTimeout: s.connectTimeoutMs,
    keepAliveTimeout: s.keepAliveTimeoutMs,
    // keep_alive_timeout_ms caps the upstream's own Keep-Alive hint too (undici takes the smaller).
    keepAliveMaxTimeout: s.keepAliveTimeoutMs,
    ...(s.servername !== undefined ? { connect: { servername: s.servername } } : {}),
    // Per-request timeouts are set on each request from the route's settings.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
}

/** Splits an upstream URL into origin, Host header and base path. Throws on anything else in it. */
export function parseUpstreamUrl(url: string): { origin: string; hostHeader: string; basePath: string } {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error('only http:// and https:// are supported');
  if (u.username !== '' || u.password !== '')
    throw new Error('credentials in the URL are not allowed; use headers');
  if (u.search !== '' || u.hash !== '')
    throw new Error('a query or fragment is not allowed in an upstream URL');
  const basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  return { origin: u.origin, hostHeader: u.host, basePath };
}
