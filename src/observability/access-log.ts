// One JSON line per request, with the fields the config chose, in that order. The field list, the sampling
// and the redacted query parameters are compiled into an array of extractors at load time. Request and
// response bodies, Authorization, Cookie and API key headers are never among the fields, so they can never
// be logged; credentials in the query string are replaced by [redacted].
import type { AccessLogger } from './logger.js';
import type { AccessLogField, GatewaySection } from '../config/schema.js';
import type { Exchange } from '../pipeline/exchange.js';

/** What createAccessLog reads from `gateway.access_log`. */
export type AccessLogSettings = Pick<GatewaySection['access_log'], 'fields' | 'sample' | 'redact'>;

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

/** Every field but `query`, which createAccessLog builds with the config's redacted parameters. */
const EXTRACTORS: Readonly<Record<Exclude<AccessLogField, 'query'>, Extractor>> = {
  timestamp: isoNow,
  method: (ex) => plain(ex.method),
  path: (ex) => quoted(ex.path),
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

export function createAccessLog(settings: AccessLogSettings, logger: AccessLogger): (ex: Exchange) => void {
  const { fields, sample } = settings;
  const redact = createQueryRedactor(settings.redact);
  const query: Extractor = (ex) => (ex.query === '' ? undefined : quoted(redact(ex.query)));
  const keys = fields.map((f) => `,"${f}":`);
  const extractors = fields.map((f) => (f === 'query' ? query : EXTRACTORS[f]));
  function writeAccessLine(ex: Exchange): void {
    const now = performance.now();
    let line = '';
    for (let i = 0; i < extractors.length; i++) {
      const v = extractors[i]!(ex, now);
      if (v !== undefined) line += keys[i]! + v;
    }
    if (ex.problem !== undefined) line += ',"problem":"' + ex.problem + '"';
    if (!ex.res.writableFinished) line += ',"aborted":true';
    logger.write(line === '' ? '{}' : '{' + line.slice(1) + '}');
  }
  // Chosen here, so that logging every request (the default) costs nothing more per request.
  if (sample >= 1) return writeAccessLine;
  return function writeSampledAccessLine(ex: Exchange): void {
    // Errors, gateway problems and aborted requests are always written; successes by chance.
    if (ex.status < 400 && ex.problem === undefined && ex.res.writableFinished && Math.random() >= sample)
      return;
    writeAccessLine(ex);
  };
}

const REDACTED = '[redacted]';

/**
 * Replaces the value of every query parameter named in `names` (compared in any case, after percent-decoding)
 * by `[redacted]`, keeping the rest of the query as sent. Both "&" and ";" end a parameter, since some
 * servers split on either. A query with nothing to hide is scanned once and returned as is, without
 * allocating: names are compared in place, character by character, against the names of the same length.
 */
export function createQueryRedactor(names: readonly string[]): (query: string) => string {
  const secret = new Set(names.map((n) => n.toLowerCase()));
  if (secret.size === 0) return (query) => query;
  const byLength: string[][] = [];
  for (const n of secret) (byLength[n.length] ??= []).push(n);
  const isSecret = (query: string, start: number, end: number, encoded: boolean): boolean => {
    if (encoded) {
      const raw = query.slice(start, end);
      try {
        return secret.has(decodeURIComponent(raw).toLowerCase());
      } catch {
        return secret.has(raw.toLowerCase());
      }
    }
    const candidates = byLength[end - start];
    if (candidates === undefined) return false;
    next: for (const name of candidates) {
      for (let i = 0; i < name.length; i++) {
        let c = query.charCodeAt(start + i);
        if (c >= 0x41 && c <= 0x5a) c |= 0x20; // ASCII upper to lower case
        if (c !== name.charCodeAt(i)) continue next;
      }
      return true;
    }
    return false;
  };
  return function redactQuery(query: string): string {
    let out = '';
    let copied = 0;
    let start = 0;
    while (start < query.length) {
      let end = start;
      let eq = -1;
      let encoded = false;
      for (; end < query.length; end++) {
        const c = query.charCodeAt(end);
        if (c === 0x26 /* & */ || c === 0x3b /* ; */) break;
        if (eq !== -1) continue;
        if (c === 0x3d /* = */) eq = end;
        else if (c === 0x25 /* % */) encoded = true;
      }
      if (eq > start && eq + 1 < end && isSecret(query, start, eq, encoded)) {
        out += query.slice(copied, eq + 1) + REDACTED;
        copied = end;
      }
      start = end + 1;
    }
    return copied === 0 ? query : out + query.slice(copied);
  };
}
