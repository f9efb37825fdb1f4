// One JSON line per request, with the fields the config chose, in that order. The field list is compiled
// into an array of extractors at load time. Request and response bodies, Authorization, Cookie and API keys
// are never among the fields, so they can never be logged.
import type { AccessLogger } from './logger.js';
import type { AccessLogField } from '../config/schema.js';
import type { Exchange } from '../pipeline/exchange.js';

/** Returns the field's JSON value text, or undefined to leave the field out. */
type Extractor = (ex: Exchange, now: number) => string | undefined;

/** Milliseconds with three decimals, formatted from integer microseconds (much cheaper than a double's dtoa). */
export function round3(ms: number): string {
  const us = Math.round(ms * 1000);
  const frac = us % 1000;
  return `${(us - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}
/** For values that can only hold characters JSON never escapes (methods, ids, addresses, route names). */
const plain = (v: string) => '"' + v + '"';
/** For values a client chose (path, query, host, user agent). */
const quoted = (v: string) => JSON.stringify(v);

/** ISO timestamps change once a millisecond; requests in the same millisecond share the string. */
let lastMs = 0;
let lastIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = '"' + new Date(ms).toISOString() + '"';
  }
  return lastIso;
}

const EXTRACTORS: Readonly<Record<AccessLogField, Extractor>> = {
  timestamp: isoNow,
  method: (ex) => plain(ex.method),
  path: (ex) => quoted(ex.path),
  query: (ex) => (ex.query === '' ? undefined : quoted(ex.query)),
  host: (ex) => quoted(ex.host),
  route: (ex) => (ex.routeName === '' ? undefined : plain(ex.routeName)),
  status: (ex) => String(ex.status),
  upstream: (ex) => (ex.upstreamTarget === '' ? undefined : quoted(ex.upstreamTarget)),
  upstream_status: (ex) => (ex.upstreamStatus === 0 ? undefined : String(ex.upstreamStatus)),
  latency_ms: (ex, now) => round3(now - ex.startedAt),
  upstream_latency_ms: (ex) => (ex.upstreamLatencyMs < 0 ? undefined : round3(ex.upstreamLatencyMs)),
  trace_id: (ex) => plain(ex.traceId),
  span_id: (ex) => (ex.spanId === '' ? undefined : plain(ex.spanId)),
  client_ip: (ex) => plain(ex.clientIp),
  bytes_sent: (ex) => String(ex.socket.bytesWritten - ex.socketWrittenAtStart),
  bytes_received: (ex) => String(ex.socket.bytesRead - ex.socketReadAtStart),
  user_agent: (ex) => {
    const ua = ex.req.headers['user-agent'];
    return ua === undefined ? undefined : quoted(ua);
  },
  protocol: (ex) => plain(`HTTP/${ex.req.httpVersion}`),
};

export function createAccessLog(
  fields: readonly AccessLogField[],
  logger: AccessLogger,
): (ex: Exchange) => void {
  const keys = fields.map((f) => `,"${f}":`);
  const extractors = fields.map((f) => EXTRACTORS[f]);
  return function writeAccessLine(ex: Exchange): void {
    const now = performance.now();
    let line = '';
    for (let i = 0; i < extractors.length; i++) {
      const v = extractors[i]!(ex, now);
      if (v !== undefined) line += keys[i]! + v;
    }
    if (ex.problem !== undefined) line += ',"problem":"' + ex.problem + '"';
    if (!ex.res.writableFinished) line += ',"aborted":true';
    logger.write(line === '' ? '{}' : '{' + line.slice(1) + '}');
  };
}
