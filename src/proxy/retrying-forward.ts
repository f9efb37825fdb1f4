// The resilient upstream path: a circuit breaker that fails fast while the upstream is failing, and
// retries of failed tries on other endpoints — only when it is safe (idempotent methods, or a request that
// never reached the upstream), only within the route's deadline and the retry budget, with exponential
// backoff and full jitter, and only with a body that can be replayed (buffered under a size limit).
import type { Readable } from 'node:stream';
import type { Exchange } from '../pipeline/exchange.js';
import type { GatewayResponse, StreamingBody } from '../pipeline/gateway-response.js';
import { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import { BodyTooLargeError, readStream } from '../pipeline/body.js';
import { backoffMs } from './resilience/backoff.js';
import type { CircuitPermit } from './resilience/circuit-breaker.js';
import { CLIENT_GONE, DEADLINE } from './upstream-call.js';
import type { Endpoint, UpstreamGroup } from './upstream-group.js';
import type { ForwardSettings, TryOptions } from './forward.js';

/** RFC 9110 section 9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** How a try failed, for the retry decision. */
type FailureKind = 'connect' | 'timeout' | 'reset' | 'final';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function failureKind(err: unknown): FailureKind {
  if (err === DEADLINE || err === CLIENT_GONE || err instanceof BodyTooLargeError) return 'final';
  const code = (err as { code?: string }).code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'timeout';
  return 'reset';
}

/** The balancer's key for `balance: hash`, from `hash_on`. */
export function hashKeyOf(spec: string): (ex: Exchange) => string | undefined {
  if (spec === 'ip') return (ex) => ex.clientIp;
  if (spec === 'consumer') return (ex) => (ex.consumerId !== '' ? ex.consumerId : ex.clientIp);
  if (spec.startsWith('header:')) {
    const name = spec.slice(7).toLowerCase();
    return (ex) => ex.headers.get(name);
  }
  const cookie = spec.slice(7);
  return (ex) => cookieValue(ex.headers.get('cookie'), cookie);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The whole request body, to resend on a retry (the intake already bounds it by max_body_bytes). */
function readBody(body: Readable): Promise<Buffer> {
  return readStream(body, Number.MAX_SAFE_INTEGER, (limit) => new BodyTooLargeError(limit));
}

export function retryingForward(
  s: ForwardSettings,
  group: UpstreamGroup,
  headersTimeout: number,
  dispatchTry: (ex: Exchange, e: Endpoint, o: TryOptions) => Promise<GatewayResponse>,
  toProblem: (err: Error) => Problem,
  hashKey: ((ex: Exchange) => string | undefined) | undefined,
): (ex: Exchange) => Promise<GatewayResponse> {
  const retry = group.retry;
  const raw = (err: Error): unknown => err;

  return async function forwardWithRetries(ex: Exchange): Promise<GatewayResponse> {
    const deadlineAt = s.totalMs === undefined ? Infinity : performance.now() + s.totalMs;
    const idempotent = IDEMPOTENT.has(ex.method);
    let body: TryOptions['body'] = ex.requestBody;
    let replayable = body === null;
    if (body instanceof Uint8Array) replayable = true;
    else if (retry !== undefined && body !== null) {
      const length = Number(ex.headers.get('content-length') ?? NaN);
      // Known and small enough: hold it so a retry can send it again. Otherwise it streams, once.
      if (length <= retry.bufferBodyBytes) {
        try {
          body = await readBody(body);
        } catch (err) {
          throw toProblem(err as Error);
        }
        replayable = true;
      }
    }
    retry?.budget.request();
    const key = hashKey?.(ex);
    const tried: Endpoint[] = [];
    const skip = (e: Endpoint): boolean => tried.includes(e);
    let failure: Problem | undefined;
    let retries = 0;
    // A retried 5xx, its body unread: what the client gets if no later try answers (docs/resilience.md,
    // Retries). It used to be destroyed at once, so the client got the later try's 502/503 problem instead.
    let last5xx: GatewayResponse | undefined;
    const passOn = (problem: Problem, clientGone = false): GatewayResponse => {
      if (last5xx === undefined) throw problem;
      if (clientGone) {
        (last5xx.body as StreamingBody).destroy();
        throw problem;
      }
      return last5xx;
    };
    /** The backoff; then false when the deadline has passed, so no try starts after it. */
    const backOff = async (): Promise<boolean> => {
      try {
        await pause(ex, retries, deadlineAt);
      } catch (err) {
        (last5xx?.body as StreamingBody | undefined)?.destroy();
        throw err;
      }
      // The backoff ends at the deadline when it would sleep past it; a try started then was sent to the
      // upstream after the deadline. Timers fire on whole milliseconds: under one left counts as passed.
      return deadlineAt - performance.now() >= 1;
    };

    const mayRetry = (kind: FailureKind | '5xx'): boolean => {
      if (retry === undefined || retries >= retry.attempts || kind === 'final') return false;
      if (!replayable) return false;
      if (kind === 'connect') {
        if (!retry.onConnectFailure) return false;
      } else if (!idempotent) return false;
      else if (kind === 'timeout' && !retry.onTimeout) return false;
      else if (kind === 'reset' && !retry.onReset) return false;
      else if (kind === '5xx' && !retry.on5xx) return false;
      if (performance.now() >= deadlineAt) return false;
      if (!retry.budget.tryRetry()) {
        group.events?.budgetExhausted?.();
        return false;
      }
      group.events?.retried?.();
      return true;
    };

    for (;;) {
      const e = group.pick(skip, key) ?? group.pick(() => false, key)!;
      const breaker = e.breaker ?? group.breaker;
      let permit: CircuitPermit | undefined;
      if (breaker !== undefined) {
        permit = breaker.acquire();
        if (permit === undefined) {
          tried.push(e);
          // With a breaker per target another target may still take it.
          if (e.breaker !== undefined && group.endpoints.some((t) => !skip(t))) continue;
          return passOn(failure ?? problems.circuitOpen(breaker.retryAfterMs()));
        }
      }
      tried.push(e);
      const remaining = deadlineAt - performance.now();
      const perTry = Math.min(headersTimeout, retry?.perTryTimeoutMs ?? Infinity, remaining);
      let res: GatewayResponse;
      try {
        res = await dispatchTry(ex, e, {
          headersTimeout: Number.isFinite(perTry) ? Math.max(1, perTry) : 300_000,
          deadlineAt,
          body,
          toError: raw,
        });
      } catch (err) {
        const kind = failureKind(err);
        if (err === CLIENT_GONE) permit?.release();
        else permit?.failure();
        const problem = err instanceof Problem ? err : toProblem(err as Error);
        if (!mayRetry(kind)) return passOn(problem, err === CLIENT_GONE);
        failure = problem;
        retries++;
        if (!(await backOff())) return passOn(toProblem(DEADLINE));
        continue;
      }
      const failed = res.status >= 500;
      if (failed) permit?.failure();
      else permit?.success();
      if (failed && retry !== undefined && retry.statuses.has(res.status) && mayRetry('5xx')) {
        (last5xx?.body as StreamingBody | undefined)?.destroy();
        last5xx = res;
        failure = undefined; // the last 5xx is passed on if no later try answers
        retries++;
        if (!(await backOff())) return passOn(toProblem(DEADLINE));
        continue;
      }
      (last5xx?.body as StreamingBody | undefined)?.destroy();
      return res;
    }

    /** Backoff before the next try; never past the deadline; the client leaving ends it. */
    function pause(ex: Exchange, n: number, deadline: number): Promise<void> {
      const wait = Math.min(
        backoffMs(n - 1, retry!.backoffMs, retry!.maxBackoffMs),
        deadline - performance.now(),
      );
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, Math.max(0, wait));
        ex.upstreamCall = {
          cancel() {
            clearTimeout(timer);
            reject(problems.badGateway('The client closed the connection'));
          },
        };
      });
    }
  };
}
