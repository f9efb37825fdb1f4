// What the transform answers when it cannot, or will not, transform a body: the reason a body cannot be
// read (logged when it passes, put in the problem when it is rejected), and the problems for a body over
// the route's limit, one that cannot be read, and one refused under `on_invalid_body: reject`.
import type { Exchange } from '../../pipeline/exchange.js';
import { RequestBodyTooLargeError, ResponseBodyTooLargeError } from '../../pipeline/body.js';
import { Problem } from '../../problems/problem.js';
import { problems } from '../../problems/catalog.js';

/** A body the rules cannot read: the reason goes to the log (pass) or the problem (reject). */
export class InvalidBody {
  constructor(
    readonly reason: string,
    /** The status a rejected request gets: 400 (unreadable) or 415 (not the expected media type). */
    readonly status: 400 | 415 = 400,
  ) {}
}

/** 413 for a request body over `limit`. */
export function tooLarge(ex: Exchange, limit: number): Problem {
  // The rest of the body is never read: the connection closes after the answer.
  ex.res.shouldKeepAlive = false;
  return problems.payloadTooLarge(limit);
}

/** The problem for a request body that could not be read whole (`err`, from reading it). */
export function requestReadProblem(ex: Exchange, err: unknown, maxBytes: number): Problem {
  if (err instanceof RequestBodyTooLargeError) return tooLarge(ex, maxBytes);
  // The gateway's own limit (limits.max_body_bytes), hit while streaming.
  const limit = (err as { limit?: unknown }).limit;
  if (typeof limit === 'number') return tooLarge(ex, limit);
  return problems.badRequest('The request body could not be read');
}

/** The problem for a request body refused under `on_invalid_body: reject`: 415 or 400. */
export function rejectedRequest(invalid: InvalidBody): Problem {
  return invalid.status === 415
    ? problems.unsupportedMediaType(`The request body cannot be transformed: ${invalid.reason}`)
    : problems.badRequest(`The request body cannot be transformed: ${invalid.reason}`);
}

/** The problem for an upstream response refused under `on_invalid_body: reject`. */
export function rejectedResponse(invalid: InvalidBody): Problem {
  return problems.badGateway(`The upstream response cannot be transformed: ${invalid.reason}`);
}

/** The problem for an upstream response body that could not be read whole (`err`, from reading it). */
export function responseReadProblem(err: unknown, maxBytes: number): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof ResponseBodyTooLargeError)
    return problems.badGateway(
      `The upstream response exceeds the ${maxBytes} bytes this route can transform`,
    );
  const code = (err as { code?: unknown }).code;
  if (code === 'PORTICO_ROUTE_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return problems.upstreamTimeout('The upstream did not send its whole response in time', err);
  return problems.badGateway('The upstream response ended early', err);
}
