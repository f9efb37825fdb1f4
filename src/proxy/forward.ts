// The innermost upstream call: picks a target, builds the upstream path (strip_prefix, base path, query),
// sends the request through the target's undici Pool with the route's timeouts, and returns the response
// with its body still streaming. Failures become 502/504 problems that name no internal host.
import type { Dispatcher } from 'undici';
import type { Exchange } from '../pipeline/exchange.js';
import type { GatewayResponse, ResponseHeaders } from '../pipeline/gateway-response.js';
import type { Problem } from '../http/problem.js';
import { problems } from '../http/problems.js';
import { BodyTooLargeError } from '../http/read-request.js';
import { stripResponseHopByHop } from './hop-by-hop.js';
import type { UpstreamTarget } from './upstream-target.js';

export interface ForwardSettings {
  readonly targets: readonly UpstreamTarget[];
  readonly stripPrefix: boolean;
  readonly preserveHost: boolean;
  /** Whole upstream exchange, body included. */
  readonly totalMs: number | undefined;
  /** Until the response headers. */
  readonly firstByteMs: number | undefined;
  /** Between response body chunks. */
  readonly idleMs: number | undefined;
  readonly maxBodyBytes: number;
}

export function createForwarder(s: ForwardSettings): (ex: Exchange) => Promise<GatewayResponse> {
  const wheel = s.targets.flatMap((t) => Array.from({ length: t.weight }, () => t));
  const single = s.targets.length === 1 ? s.targets[0]! : undefined;
  let next = 0;
  const headersTimeout = Math.min(s.firstByteMs ?? Infinity, s.totalMs ?? Infinity);
  const headersTimeoutOption = Number.isFinite(headersTimeout) ? headersTimeout : 300_000;
  const bodyTimeout = s.idleMs ?? 300_000;

  return function forward(ex: Exchange): Promise<GatewayResponse> {
    const target = single ?? wheel[next++ % wheel.length]!;
    let path = s.stripPrefix ? ex.path.slice(ex.prefixLength) : ex.path;
    if (target.basePath !== '') path = target.basePath + path;
    else if (path === '') path = '/';
    if (ex.query !== '') path += '?' + ex.query;
    // Intake never copies the client's Host and policies may not set it, so appending is enough.
    ex.headers.append('host', s.preserveHost && ex.authority !== '' ? ex.authority : target.hostHeader);
    ex.upstreamTarget = target.origin;

    const abort = new UpstreamAbort();
    ex.onAbort = () => abort.abort(CLIENT_GONE);
    const timer = s.totalMs === undefined ? undefined : setTimeout(onDeadline, s.totalMs, abort);
    const sentAt = performance.now();
    return target.pool
      .request({
        method: ex.method as Dispatcher.HttpMethod,
        path,
        headers: ex.headers.raw,
        body: ex.requestBody,
        signal: abort,
        headersTimeout: headersTimeoutOption,
        bodyTimeout,
      })
      .then(
        (r) => {
          ex.upstreamStatus = r.statusCode;
          ex.upstreamLatencyMs = performance.now() - sentAt;
          if (timer !== undefined) r.body.once('close', () => clearTimeout(timer));
          const headers = r.headers as ResponseHeaders;
          stripResponseHopByHop(headers);
          return { status: r.statusCode, headers, body: r.body, source: 'upstream' as const };
        },
        (err: unknown) => {
          if (timer !== undefined) clearTimeout(timer);
          throw upstreamProblem(err, abort, s, headersTimeout);
        },
      );
  };
}

function onDeadline(abort: UpstreamAbort): void {
  abort.abort(DEADLINE);
}

const CLIENT_GONE = new Error('client closed the connection');
const DEADLINE = new Error('route timeout');

/** Maps an undici/network failure to the problem the client sees. */
function upstreamProblem(
  err: unknown,
  abort: UpstreamAbort,
  s: ForwardSettings,
  headersTimeout: number,
): Problem {
  if (abort.reason === DEADLINE)
    return problems.upstreamTimeout(`The upstream did not answer within ${s.totalMs} ms`, err);
  if (err instanceof BodyTooLargeError || (err as { cause?: unknown }).cause instanceof BodyTooLargeError)
    return problems.payloadTooLarge(s.maxBodyBytes);
  const code = (err as { code?: string }).code ?? '';
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return problems.upstreamTimeout('Connecting to the upstream timed out', err);
    case 'UND_ERR_HEADERS_TIMEOUT':
      return problems.upstreamTimeout(`The upstream did not answer within ${headersTimeout} ms`, err);
    case 'ECONNREFUSED':
      return problems.upstreamUnavailable('The upstream refused the connection', err);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return problems.upstreamUnavailable('The upstream host could not be resolved', err);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return problems.upstreamUnavailable('The upstream host is unreachable', err);
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return problems.badGateway('The upstream closed the connection before answering', err);
    default:
      if (
        code.startsWith('HPE_') ||
        code === 'UND_ERR_INFO' ||
        code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
      )
        return problems.badGateway('The upstream sent an invalid response', err);
      return problems.badGateway('The upstream request failed', err);
  }
}

/**
 * The smallest abort signal undici accepts (an emitter with on/once/removeListener): one per upstream call,
 * cheaper than an AbortController.
 */
class UpstreamAbort {
  aborted = false;
  reason: unknown = undefined;
  private listener: (() => void) | undefined = undefined;

  on(_event: 'abort', fn: () => void): this {
    this.listener = fn;
    return this;
  }
  once(event: 'abort', fn: () => void): this {
    return this.on(event, fn);
  }
  removeListener(_event: 'abort', _fn: () => void): this {
    this.listener = undefined;
    return this;
  }
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const fn = this.listener;
    this.listener = undefined;
    fn?.();
  }
}
