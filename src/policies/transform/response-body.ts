// The upstream's response body on its way down: checked for a media type and content coding the plan can
// read, held in memory (never past the route's limit), decoded, rewritten (then wrapped and paginated),
// encoded again, and sent with headers that match the new bytes. A body that cannot be read is refused
// (502) or streams on untouched with a warning. Also what a status change does to a body.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { discardBody, readResponseBody, ResponseBodyTooLargeError } from '../../pipeline/body.js';
import { InvalidBody, rejectedResponse, responseReadProblem } from './body-problems.js';
import {
  ContentCodingError,
  decodeBody,
  DecodedTooLargeError,
  encodeBody,
  parseContentCoding,
} from './body/content-coding.js';
import type { ResponsePlan } from './compile-plans.js';
import { applyResponseHeaderOps } from './header-ops.js';
import { isKind, mediaTypeOf } from './media-type.js';
import type { Warn } from './passed-warning.js';
import { rewriteBody } from './rewrite-body.js';
import { finishResponseValue } from './wrap-and-paginate.js';

/** The response without its body (dropped unread), for a status that carries none. */
export function withoutBody(res: GatewayResponse): GatewayResponse {
  discardBody(res.body);
  const headers = res.headers;
  delete headers['content-length'];
  delete headers['transfer-encoding'];
  return { ...res, body: null };
}

/** Whether the response can carry a body the rules should read. */
export function hasBody(ex: Exchange, status: number, res: GatewayResponse): boolean {
  return res.body !== null && ex.method !== 'HEAD' && status !== 204 && status !== 304 && status !== 206;
}

export async function transformResponseBody(
  ex: Exchange,
  res: GatewayResponse,
  plan: ResponsePlan,
  maxBytes: number,
  reject: boolean,
  warn: Warn,
): Promise<GatewayResponse> {
  const headers = res.headers;
  const bodyPlan = plan.body!;
  const essence = mediaTypeOf(headers['content-type']);
  const codings = parseContentCoding(headers['content-encoding']);
  const refusal = !isKind(essence, bodyPlan.input)
    ? new InvalidBody(`the content type "${essence}" is not ${bodyPlan.input.toUpperCase()}`)
    : codings === null
      ? new InvalidBody(`the content coding "${String(headers['content-encoding'])}" is not supported`)
      : undefined;
  // Not a body the rules can read: it streams on untouched (nothing was read yet).
  if (refusal !== undefined) return invalidResponse(ex, res, refusal, reject, warn, plan);

  let raw: Buffer;
  try {
    raw = await readResponseBody(res, maxBytes);
  } catch (err) {
    throw responseReadProblem(err, maxBytes);
  }
  let decoded = raw;
  if (codings!.length > 0) {
    try {
      decoded = await decodeBody(raw, codings!, maxBytes);
    } catch (err) {
      if (err instanceof DecodedTooLargeError)
        throw responseReadProblem(new ResponseBodyTooLargeError(maxBytes), maxBytes);
      if (err instanceof ContentCodingError)
        return invalidResponse(ex, { ...res, body: raw }, new InvalidBody(err.message), reject, warn, plan);
      throw err;
    }
  }
  if (decoded.length === 0) {
    // Nothing to transform (an empty 200): not worth a warning.
    if (plan.headers !== undefined) applyResponseHeaderOps(plan.headers, ex, headers);
    return { ...res, body: raw };
  }
  const out = rewriteBody(bodyPlan, decoded, ex, (value) => finishResponseValue(value, ex, res, plan));
  if (out instanceof InvalidBody) return invalidResponse(ex, { ...res, body: raw }, out, reject, warn, plan);
  const encoded = codings!.length > 0 ? await encodeBody(out, codings!) : out;
  headers['content-length'] = String(encoded.length);
  delete headers['transfer-encoding'];
  if (bodyPlan.contentType !== undefined) headers['content-type'] = bodyPlan.contentType;
  // The bytes changed: a strong validator or digest of the upstream's would now be wrong.
  const etag = headers['etag'];
  if (typeof etag === 'string' && !etag.startsWith('W/')) headers['etag'] = 'W/' + etag;
  delete headers['content-md5'];
  delete headers['digest'];
  delete headers['content-digest'];
  delete headers['repr-digest'];
  delete headers['accept-ranges'];
  if (plan.headers !== undefined) applyResponseHeaderOps(plan.headers, ex, headers);
  return { ...res, headers, body: encoded };
}

function invalidResponse(
  ex: Exchange,
  res: GatewayResponse,
  invalid: InvalidBody,
  reject: boolean,
  warn: Warn,
  plan: ResponsePlan,
): GatewayResponse {
  if (reject) {
    discardBody(res.body);
    throw rejectedResponse(invalid);
  }
  warn(ex, invalid.reason);
  if (plan.headers !== undefined) applyResponseHeaderOps(plan.headers, ex, res.headers);
  return res;
}
