// The innermost upstream call: picks an endpoint of the route's upstream group, builds the upstream path
// (strip_prefix, base path, query), dispatches through the endpoint's undici Pool with the route's
// timeouts, and returns the response with its body still streaming. With a circuit breaker or retries
// configured it goes through the resilient path: fail fast while the circuit is open, and retry failed
// tries on other endpoints within the route's deadline and the retry budget. Failures become 502/503/504
// problems that name no internal host.
import type { Dispatcher } from 'undici';
import type { Exchange } from '../pipeline/exchange.js';
import type { GatewayResponse } from '../pipeline/gateway-response.js';
import type { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import { BodyTooLargeError } from '../pipeline/body.js';
import { afterWaitingInput, CLIENT_GONE, DEADLINE, UpstreamCall } from './upstream-call.js';
import type { Endpoint, UpstreamGroup } from './upstream-group.js';
import { retryingForward, hashKeyOf } from './retrying-forward.js';

export interface ForwardSettings {
  readonly group: UpstreamGroup;
  /** The route's base path (a URL upstream); undefined: each endpoint's own (a named upstream's targets). */
  readonly basePath?: string | undefined;
  readonly stripPrefix: boolean;
  readonly preserveHost: boolean;
  /** Whole upstream exchange, body included (every try of it). */
  readonly totalMs: number | undefined;
  /** Until the response headers. */
  readonly firstByteMs: number | undefined;
  /** Between response body chunks. */
  readonly idleMs: number | undefined;
  readonly maxBodyBytes: number;
}

/** One try's dispatch settings. */
export interface TryOptions {
  readonly headersTimeout: number;
  /** performance.now() at which the whole exchange must be over (Infinity: no route deadline). */
  readonly deadlineAt: number;
  readonly body: Dispatcher.DispatchOptions['body'];
  /** Turns a failure into what the promise rejects with (the problem, or the raw error for retries). */
  readonly toError: (err: Error) => unknown;
}

const NEVER = (): boolean => false;

/**
 * What undici's own headers and body timeouts get beyond ours, which they only back up. undici counts them
 * in half-second ticks of its timer wheel; after a pause of the gateway one tick passes, and a timeout that
 * was nearly due would fail the call before our timers had read an answer waiting in the socket.
 */
const UNDICI_BACKSTOP_MS = 1000;

export function createForwarder(s: ForwardSettings): (ex: Exchange) => Promise<GatewayResponse> {
  const group = s.group;
  const headersTimeout = Math.min(s.firstByteMs ?? Infinity, s.totalMs ?? Infinity);
  const bodyTimeout = s.idleMs ?? 300_000;
  const toProblem = (err: Error): Problem => upstreamProblem(err, s, headersTimeout);
  const hashKey = group.balance === 'hash' ? hashKeyOf(group.hashOn) : undefined;
  const dispatchTry = (ex: Exchange, e: Endpoint, o: TryOptions): Promise<GatewayResponse> =>
    tryEndpoint(ex, e, o, s, bodyTimeout, group);
  const resilient =
    group.retry !== undefined ||
    group.breaker !== undefined ||
    group.endpoints.some((e) => e.breaker !== undefined);
  if (resilient) return retryingForward(s, group, headersTimeout, dispatchTry, toProblem, hashKey);

  const headersTimeoutOption = Number.isFinite(headersTimeout) ? headersTimeout : 300_000;
  return function forward(ex: Exchange): Promise<GatewayResponse> {
    const e = group.pick(NEVER, hashKey?.(ex))!;
    return dispatchTry(ex, e, {
      headersTimeout: headersTimeoutOption,
      deadlineAt: s.totalMs === undefined ? Infinity : performance.now() + s.totalMs,
      body: ex.requestBody,
      toError: toProblem,
    });
  };
}

/** Dispatches one try to `e`; resolves at the response headers, the body still streaming. */
function tryEndpoint(
  ex: Exchange,
  e: Endpoint,
  o: TryOptions,
  s: ForwardSettings,
  bodyTimeout: number,
  group: UpstreamGroup,
): Promise<GatewayResponse> {
  let path = ex.upstreamPath ?? (s.stripPrefix ? ex.path.slice(ex.prefixLength) : ex.path);
  if (s.stripPrefix && ex.upstreamTarget === '' && ex.prefixLength > 0) {
    // The part the upstream does not see (Spring, ASP.NET and others build links with it), after whatever
    // prefix a trusted proxy in front already removed.
    const prefix = ex.path.slice(0, ex.prefixLength);
    const outer = ex.headers.get('x-forwarded-prefix');
    ex.headers.set('X-Forwarded-Prefix', outer === undefined ? prefix : outer.replace(/\/$/, '') + prefix);
  }
  const basePath = s.basePath ?? e.basePath;
  if (basePath !== '') path = basePath + path;
  else if (path === '') path = '/';
  if (ex.query !== '') path += '?' + ex.query;
  // Intake never copies the client's Host and policies may not set it; a retry replaces the previous try's.
  const host = s.preserveHost && ex.authority !== '' ? ex.authority : e.hostHeader;
  if (ex.upstreamTarget === '') ex.headers.append('host', host);
  else ex.headers.set('host', host);
  ex.upstreamTarget = e.origin;
  e.pending++;

  return new Promise<GatewayResponse>((resolve, reject) => {
    const call = new UpstreamCall(ex, resolve, reject, o.toError);
    call.endpoint = e;
    call.group = group;
    // Our own headers timer (undici's fires 0.5–1 s late: see UpstreamCall.onConnect), only when it ends
    // before the deadline; otherwise the deadline timer answers first anyway.
    if (o.headersTimeout < o.deadlineAt - performance.now()) call.headersTimeoutMs = o.headersTimeout;
    if (s.idleMs !== undefined) call.idleTimeoutMs = s.idleMs;
    ex.upstreamCall = call;
    if (o.deadlineAt !== Infinity)
      call.timer = setTimeout(onDeadline, Math.max(0, o.deadlineAt - performance.now()), call);
    ex.upstreamSentAt = call.sentAt = performance.now();
    e.pool.dispatch(
      {
        method: ex.method as Dispatcher.HttpMethod,
        path,
        headers: ex.headers.raw,
        body: o.body,
        headersTimeout: o.headersTimeout + UNDICI_BACKSTOP_MS,
        bodyTimeout: bodyTimeout + UNDICI_BACKSTOP_MS,
      },
      call,
    );
  });
}

function onDeadline(call: UpstreamCall): void {
  // A response that arrived before the deadline wins even when this timer fires late (the gateway was
  // blocked): the call ends as that response is read, and the abort then does nothing.
  afterWaitingInput(deadlinePassed, call);
}

function deadlinePassed(call: UpstreamCall): void {
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
