// Mirror (upstream phase): copies a share of a route's requests to a shadow upstream, fire-and-forget. The
// client's request goes on untouched and first; the copy is a request of its own — its own Exchange, with
// inert stand-ins for the client's req/res, so nothing done for it can touch the client's connection — sent
// through the shadow upstream's `forward` (`ctx.upstream`: its targets, balancer, connection pools and the
// route's path mapping), and its answer is read to the end and dropped. Nothing of the shadow — its latency,
// its errors, its answer — reaches the client's response. The shadow upstream's own resilience settings
// (circuit breaker, passive health, retries) apply to the copies, as they protect that upstream; the route's
// upstream never hears of them.
//
// Bounded on every side: at most `max_in_flight` copies of a route open at once (more are dropped and
// counted), each within `timeout_ms`, each body at most `max_body_bytes` (held in memory, so a route holds
// at most max_in_flight × max_body_bytes). A body is copied chunk by chunk as the route's upstream call reads
// it — a passive listener that never reads, pauses or resumes the client's stream, so it cannot slow or
// backpressure that call — and the copy is sent once the whole body has been seen.
//
// portico_mirror_requests_total{route, result}: sent (the shadow answered, any status, and its answer was
// read), failed (refused, reset, timed out, circuit open), dropped (max_in_flight reached), skipped_body (body
// over max_body_bytes, or never read whole by the route's upstream call).
import type { Readable } from 'node:stream';
import type { Exchange } from '../../pipeline/exchange.js';
import { detachedExchange, readAnswer } from '../../pipeline/detached-exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { HeaderList } from '../../pipeline/header-list.js';
import {
  definePolicy,
  PolicyConfigError,
  type CompileContext,
  type CounterSeries,
  type Policy,
  type RouteUpstream,
} from '../../pipeline/policy.js';
import { MirrorSchema, type MirrorConfig } from './schema.js';

/** The header that marks a shadow request. */
export const MIRROR_HEADER = 'X-Portico-Mirror';

export const mirror = definePolicy({
  name: 'mirror',
  phase: 'upstream',
  summary: "Copies a share of requests to a shadow upstream; the shadow's answer never reaches the client.",
  schema: MirrorSchema,
  create(config, ctx): Policy {
    return createMirror(config, ctx);
  },
});

/** The results of portico_mirror_requests_total. */
export const MIRROR_RESULTS = ['sent', 'failed', 'dropped', 'skipped_body'] as const;
type MirrorResult = (typeof MIRROR_RESULTS)[number];

/**
 * The copies of one route in flight, kept across reloads (the bound holds while an old snapshot's copies are
 * still open). Disposed once no snapshot mirrors the route any more (shutdown, the route gone): the copies
 * still open are cancelled then, so none keeps the shadow upstream's pools (and a shutdown) waiting.
 */
class InFlight {
  count = 0;
  closed = false;
  readonly open = new Set<Exchange>();

  close(): void {
    this.closed = true;
    for (const shadow of this.open) shadow.upstreamCall?.cancel();
  }
}

/** `mirror` with its random source (tests pass their own: it returns [0, 1) like Math.random). */
export function createMirror(
  config: MirrorConfig,
  ctx: CompileContext,
  random: () => number = Math.random,
): Policy {
  let shadow: RouteUpstream;
  try {
    shadow = ctx.upstream(config.upstream);
  } catch (err) {
    // Reported at `mirror.upstream`, with its line.
    if (err instanceof PolicyConfigError && err.path.length === 0)
      throw new PolicyConfigError(err.message, ['upstream']);
    throw err;
  }
  const family = ctx.metrics.counter(
    'requests_total',
    'Mirrored requests by route and result (sent, failed, dropped, skipped_body).',
    ['route', 'result'],
  );
  const counted = {} as Record<MirrorResult, CounterSeries>;
  for (const result of MIRROR_RESULTS) counted[result] = family.series({ route: ctx.routeName, result });
  const log = ctx.throttledLog();
  const inFlight = ctx.carryOver(
    `mirror:${ctx.routeName}`,
    () => new InFlight(),
    (f) => f.close(),
  );
  const { percent, max_body_bytes: maxBody, max_in_flight: maxInFlight, timeout_ms: timeoutMs } = config;

  const failed = (copy: Exchange | undefined, err: unknown): void => {
    if (copy !== undefined) inFlight.open.delete(copy);
    inFlight.count--;
    counted.failed.inc();
    log.warn(
      {
        event: 'mirror_failed',
        route: ctx.routeName,
        upstream: shadow.name,
        error: err instanceof Error ? err.message : String(err),
      },
      'a mirrored request failed',
    );
  };

  /** Sends the copy; its outcome is counted (a failure logged, throttled) and goes nowhere else. */
  const send = (ex: Exchange, copy: Exchange): void => {
    if (inFlight.closed) {
      failed(undefined, new Error('the route no longer mirrors'));
      return;
    }
    ex.logField('mirrored', true);
    inFlight.open.add(copy);
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      copy.upstreamCall?.cancel();
    }, timeoutMs);
    timer.unref();
    let answer: Promise<GatewayResponse>;
    try {
      answer = shadow.forward(copy);
    } catch (err) {
      answer = Promise.reject(err as Error);
    }
    answer.then(readToEnd).then(
      () => {
        clearTimeout(timer);
        inFlight.open.delete(copy);
        inFlight.count--;
        counted.sent.inc();
      },
      (err: unknown) => {
        clearTimeout(timer);
        // A cancelled call fails as "the client closed the connection": say why it was cancelled.
        if (late) err = new Error(`no complete answer within ${timeoutMs} ms`);
        else if (inFlight.closed) err = new Error('the route no longer mirrors');
        failed(copy, err);
      },
    );
  };

  return {
    onUpstream(ex: Exchange, next: (ex: Exchange) => Promise<GatewayResponse>): Promise<GatewayResponse> {
      // The marker is the gateway's to set: a client's own never reaches the route's upstream.
      ex.headers.delete(MIRROR_HEADER);
      if (!(random() * 100 < percent)) return next(ex);
      if (inFlight.count >= maxInFlight) {
        counted.dropped.inc();
        return next(ex);
      }
      const body = ex.requestBody;
      if (
        body instanceof Uint8Array ? body.byteLength > maxBody : body !== null && !copyable(ex, body, maxBody)
      ) {
        counted.skipped_body.inc();
        return next(ex);
      }
      inFlight.count++;
      // Taken now: the headers as the upstream call gets them, before it adds its own (Host and others).
      const copy = shadowExchange(ex);
      if (body === null || body instanceof Uint8Array) {
        copy.requestBody = body;
        // The route's call first: the copy is dispatched once that one is on its way.
        let res: Promise<GatewayResponse>;
        try {
          res = next(ex);
        } catch (err) {
          inFlight.count--;
          throw err;
        }
        send(ex, copy);
        return res;
      }
      copyBody(body, maxBody, (whole) => {
        if (whole === null) {
          inFlight.count--;
          counted.skipped_body.inc();
          return;
        }
        copy.requestBody = whole;
        send(ex, copy);
      });
      return next(ex);
    },
  };
}

/**
 * The shadow request: `ex`'s request as the route's upstream call gets it (headers after the request-phase
 * policies, path mapping, client for hash balancing), in an Exchange of its own that the forwarder records
 * its call on. Its req and res are inert stand-ins: nothing done for the copy can reach the client's
 * connection. The headers are marked; Content-Length follows the copied body.
 */
function shadowExchange(ex: Exchange): Exchange {
  const raw = ex.headers.raw;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'content-length' || lower === 'x-portico-mirror') continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  headers.push(MIRROR_HEADER, '1');
  const copy = detachedExchange({
    method: ex.method,
    path: ex.path,
    query: ex.query,
    host: ex.host,
    protocol: ex.protocol,
    clientIp: ex.clientIp,
    headers: new HeaderList(headers),
    authority: ex.authority,
    body: null,
  });
  copy.upstreamPath = ex.upstreamPath;
  copy.prefixLength = ex.prefixLength;
  copy.params = ex.params;
  copy.routeName = ex.routeName;
  copy.consumerId = ex.consumerId;
  return copy;
}

/** Reads a shadow's answer to its end (keeping its connection) and drops it; rejects when it fails. */
function readToEnd(res: GatewayResponse): Promise<void> {
  return readAnswer(res, 0).then(() => undefined);
}

/** A request body the copy can take: not declared larger than the limit, and every chunk still to come. */
function copyable(ex: Exchange, body: Readable, maxBytes: number): boolean {
  const declared = Number(ex.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) return false;
  return !body.readableDidRead && !body.readableEnded && !body.destroyed;
}

/**
 * Keeps a copy of `stream`'s chunks as its reader (the route's upstream call) takes them, and calls `done`
 * once: with the whole body when it ended within `maxBytes`, otherwise with null (past the limit, closed
 * early, or left unread: Node's http server drops every `data` listener when it discards an unread body, so
 * a copy whose listener is gone at the end is incomplete).
 *
 * The listener is prepended with `prependListener`, which — unlike `on('data')` — does not switch the stream
 * to flowing mode: the copy never reads, pauses or resumes the stream; it sees what the reader reads, when
 * it reads it.
 */
export function copyBody(stream: Readable, maxBytes: number, done: (body: Buffer | null) => void): void {
  let chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (body: Buffer | null): void => {
    if (settled) return;
    settled = true;
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onClose);
    chunks = [];
    done(body);
  };
  const onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) settle(null);
    else chunks.push(buf);
  };
  const onEnd = (): void => {
    if (!stream.listeners('data').includes(onData)) settle(null);
    else settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  };
  // After an error too (autoDestroy): a stream that closes before its end never ends.
  const onClose = (): void => settle(null);
  stream.prependListener('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onClose);
}
