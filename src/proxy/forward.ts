// The innermost upstream call: picks a target, builds the upstream path (strip_prefix, base path, query),
// dispatches through the target's undici Pool with the route's timeouts, and returns the response with
// its body still streaming. Failures become 502/504 problems that name no internal host.
import type { Dispatcher } from 'undici';
import type { Exchange } from '../pipeline/exchange.js';
import type { GatewayResponse } from '../pipeline/gateway-response.js';
import type { Problem } from '../http/problem.js';
import { problems } from '../http/problems.js';
import { BodyTooLargeError } from '../http/read-request.js';
import { CLIENT_GONE, DEADLINE, UpstreamCall } from './upstream-call.js';
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
  const toProblem = (err: Error) => upstreamProblem(err, s, headersTimeout);

  return function forward(ex: Exchange): Promise<GatewayResponse> {
    const target = single ?? wheel[next++ % wheel.length]!;
    let path = s.stripPrefix ? ex.path.slice(ex.prefixLength) : ex.path;
    if (target.basePath !== '') path = target.basePath + path;
    else if (path === '') path = '/';
    if (ex.query !== '') path += '?' + ex.query;
    // Intake never copies the client's Host and policies may not set it, so appending is enough.
    ex.headers.append('host', s.preserveHost && ex.authority !== '' ? ex.authority : target.hostHeader);
    ex.upstreamTarget = target.origin;

    return new Promise<GatewayResponse>((resolve, reject) => {
      const call = new UpstreamCall(ex, resolve, reject, toProblem);
      ex.upstreamCall = call;
      if (s.totalMs !== undefined) call.timer = setTimeout(onDeadline, s.totalMs, call);
      ex.upstreamSentAt = call.sentAt = performance.now();
      target.pool.dispatch(
        {
          method: ex.method as Dispatcher.HttpMethod,
          path,
          headers: ex.headers.raw,
          body: ex.requestBody,
          headersTimeout: headersTimeoutOption,
          bodyTimeout,
        },
        call,
      );
    });
  };
}

function onDeadline(call: UpstreamCall): void {
  call.abort(DEADLINE);
}

/** Maps an undici/network failure to the problem the client sees. */
function upstreamProblem(err: unknown, s: ForwardSettings, headersTimeout: number): Problem {
  if (err === DEADLINE) return problems.upstreamTimeout(`The upstream did not answer within ${s.totalMs} ms`);
  if (err === CLIENT_GONE) return problems.badGateway('The client closed the connection');
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
