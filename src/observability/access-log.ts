// One JSON line per request, with the fields the config chose, in that order. The field list, the sampling
// and the redacted query parameters are compiled into field codes at load time. Request and
// response bodies, Authorization, Cookie and API key headers are never among the fields, so they can never
// be logged; credentials in the query string are replaced by [redacted].
import type { AccessLogger } from './logger.js';
import type { AccessLogField, GatewaySection } from '../config/gateway-schema.js';
import type { Exchange } from '../pipeline/exchange.js';

/** What createAccessLog reads from `gateway.access_log`. */
export type AccessLogSettings = Pick<GatewaySection['access_log'], 'fields' | 'sample' | 'redact'>;

/** Milliseconds with three decimals, formatted from integer microseconds (much cheaper than a double's dtoa). */
export function round3(ms: number): string {
  const us = Math.round(ms * 1000);
  const frac = us % 1000;
  return `${(us - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** Characters JSON must escape, and anything beyond ASCII. */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;
const NON_ASCII = /[\u007f-\uffff]/g;
const toUnicodeEscape = (c: string) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
/**
 * A JSON string literal in pure ASCII, for values a client chose (path, query, host, user agent): lines are
 * ASCII so the access logger can copy them byte for byte. Plain values skip JSON.stringify.
 */
export function quoted(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return '"' + v + '"';
  return JSON.stringify(v).replace(NON_ASCII, toUnicodeEscape);
}

/**
 * ISO timestamps: under load nearly every request lands in a new millisecond, so the string is cached per
 * second ("2026-11-28T06:19:37.") and only the milliseconds are appended.
 */
let lastSecond = -1;
let secondPrefix = '';
function isoNow(): string {
  const ms = Date.now();
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    secondPrefix = '"' + new Date(second * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - second * 1000;
  return secondPrefix + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac + 'Z"';
}

/** Field codes: the line is built by one function switching on them (one call site, no per-field closures). */
const CODES: Readonly<Record<AccessLogField, number>> = {
  timestamp: 0,
  method: 1,
  path: 2,
  query: 3,
  host: 4,
  route: 5,
  status: 6,
  upstream: 7,
  upstream_status: 8,
  latency_ms: 9,
  upstream_latency_ms: 10,
  trace_id: 11,
  span_id: 12,
  client_ip: 13,
  bytes_sent: 14,
  bytes_received: 15,
  user_agent: 16,
  protocol: 17,
  consumer: 18,
};

export function createAccessLog(settings: AccessLogSettings, logger: AccessLogger): (ex: Exchange) => void {
  const { fields, sample } = settings;
  const redact = createQueryRedactor(settings.redact);
  const keys = fields.map((f) => `"${f}":`);
  const codes = Int32Array.from(fields, (f) => CODES[f]);
  const n = codes.length;
  const worker = logger.worker === undefined ? '' : '"worker":' + logger.worker;
  function writeAccessLine(ex: Exchange): void {
    let line = '';
    let sep = '{';
    for (let i = 0; i < n; i++) {
      let v: string | undefined;
      switch (codes[i]) {
        case 0:
          v = isoNow();
          break;
        case 1:
          v = '"' + ex.method + '"';
          break;
        case 2:
          v = quoted(ex.path);
          break;
        case 3:
          if (ex.query !== '') v = quoted(redact(ex.query));
          break;
        case 4:
          v = quoted(ex.host);
          break;
        case 5:
          if (ex.routeName !== '') v = '"' + ex.routeName + '"';
          break;
        case 6:
          v = '' + ex.status;
          break;
        case 7:
          if (ex.upstreamTarget !== '') v = quoted(ex.upstreamTarget);
          break;
        case 8:
          if (ex.upstreamStatus !== 0) v = '' + ex.upstreamStatus;
          break;
        case 9:
          v = round3(performance.now() - ex.startedAt);
          break;
        case 10:
          if (ex.upstreamLatencyMs >= 0) v = round3(ex.upstreamLatencyMs);
          break;
        case 11:
          v = '"' + ex.traceId + '"';
          break;
        case 12:
          if (ex.spanId !== '') v = '"' + ex.spanId + '"';
          break;
        case 13:
          v = '"' + ex.clientIp + '"';
          break;
        case 14:
          v = '' + (ex.socket.bytesWritten - ex.socketWrittenAtStart);
          break;
        case 15:
          v = '' + (ex.socket.bytesRead - ex.socketReadAtStart);
          break;
        case 16: {
          const ua = ex.req.headers['user-agent'];
          if (ua !== undefined) v = quoted(ua);
          break;
        }
        case 17:
          v = '"HTTP/' + ex.req.httpVersion + '"';
          break;
        case 18:
          if (ex.consumerId !== '') v = quoted(ex.consumerId);
          break;
      }
      if (v !== undefined) {
        line += sep + keys[i]! + v;
        sep = ',';
      }
    }
    if (ex.logFields !== '') {
      // Policies' own members, each rendered with a leading comma.
      line += sep === '{' ? '{' + ex.logFields.slice(1) : ex.logFields;
      sep = ',';
    }
    if (ex.problem !== undefined) {
      line += sep + '"problem":"' + ex.problem + '"';
      sep = ',';
    }
    if (ex.fallback !== undefined) {
      line += sep + '"fallback":"' + ex.fallback + '"';
      sep = ',';
    }
    if (!ex.res.writableFinished) {
      line += sep + '"aborted":true';
      sep = ',';
    }
    if (worker !== '') {
      line += sep + worker;
      sep = ',';
    }
    logger.write(sep === '{' ? '{}' : line + '}');
  }
  // Chosen here, so that logging every request (the default) costs nothing more per request.
  if (sample >= 1) return writeAccessLine;
  return function writeSampledAccessLine(ex: Exchange): void {
    // Errors, gateway problems, fallbacks and aborted requests are always written; successes by chance.
    if (
      ex.status < 400 &&
      ex.problem === undefined &&
      ex.fallback === undefined &&
      ex.res.writableFinished &&
      Math.random() >= sample
    )
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
