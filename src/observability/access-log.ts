// One JSON line per request, with the fields the config chose, in that order. The field list is compiled
// into an array of extractors at load time. Request and response bodies, Authorization, Cookie and API keys
// are never among the fields, so they can never be logged.
import type { AccessLogger } from './logger.js';
import type { AccessLogField } from '../config/schema.js';
import type { Exchange } from '../pipeline/exchange.js';

type Extractor = (ex: Exchange, now: number) => string | number | undefined;

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** ISO timestamps change once a millisecond; requests in the same millisecond share the string. */
let lastMs = 0;
let lastIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

const EXTRACTORS: Readonly<Record<AccessLogField, Extractor>> = {
  timestamp: isoNow,
  method: (ex) => ex.method,
  path: (ex) => ex.path,
  query: (ex) => (ex.query === '' ? undefined : ex.query),
  host: (ex) => ex.host,
  route: (ex) => (ex.routeName === '' ? undefined : ex.routeName),
  status: (ex) => ex.status,
  upstream: (ex) => (ex.upstreamTarget === '' ? undefined : ex.upstreamTarget),
  upstream_status: (ex) => (ex.upstreamStatus === 0 ? undefined : ex.upstreamStatus),
  latency_ms: (ex, now) => round3(now - ex.startedAt),
  upstream_latency_ms: (ex) => (ex.upstreamLatencyMs < 0 ? undefined : round3(ex.upstreamLatencyMs)),
  trace_id: (ex) => ex.traceId,
  span_id: (ex) => (ex.spanId === '' ? undefined : ex.spanId),
  client_ip: (ex) => ex.clientIp,
  bytes_sent: (ex) => ex.req.socket.bytesWritten - ex.socketWrittenAtStart,
  bytes_received: (ex) => ex.req.socket.bytesRead - ex.socketReadAtStart,
  user_agent: (ex) => ex.req.headers['user-agent'],
  protocol: (ex) => `HTTP/${ex.req.httpVersion}`,
};

export function createAccessLog(
  fields: readonly AccessLogField[],
  logger: AccessLogger,
): (ex: Exchange) => void {
  const names = [...fields];
  const extractors = names.map((f) => EXTRACTORS[f]);
  return function writeAccessLine(ex: Exchange): void {
    const now = performance.now();
    const line: Record<string, string | number | boolean> = {};
    for (let i = 0; i < extractors.length; i++) {
      const v = extractors[i]!(ex, now);
      if (v !== undefined) line[names[i]!] = v;
    }
    if (ex.problem !== undefined) line.problem = ex.problem;
    if (!ex.res.writableFinished) line.aborted = true;
    logger.write(line);
  };
}
