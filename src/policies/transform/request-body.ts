// The request body on its way up: checked for a media type and content coding the plan can read, held in
// memory (never past the route's limit), decoded, rewritten, and sent on with a matching Content-Length,
// Content-Encoding and Content-Type. A body that cannot be read is refused or passed on with a warning.
import type { Exchange } from '../../pipeline/exchange.js';
import { readStream, RequestBodyTooLargeError } from '../../pipeline/body.js';
import { InvalidBody, rejectedRequest, requestReadProblem, tooLarge } from './body-problems.js';
import {
  ContentCodingError,
  decodeBody,
  DecodedTooLargeError,
  parseContentCoding,
} from './body/content-coding.js';
import type { BodyPlan } from './compile-plans.js';
import { isKind, mediaTypeOf } from './media-type.js';
import type { Warn } from './passed-warning.js';
import { rewriteBody } from './rewrite-body.js';

export async function transformRequestBody(
  ex: Exchange,
  plan: BodyPlan,
  maxBytes: number,
  reject: boolean,
  warn: Warn,
): Promise<void> {
  const headers = ex.headers;
  const essence = mediaTypeOf(headers.get('content-type'));
  const codings = parseContentCoding(headers.getAll('content-encoding'));
  const refusal = !isKind(essence, plan.input)
    ? new InvalidBody(`the content type "${essence}" is not ${plan.input.toUpperCase()}`, 415)
    : codings === null
      ? new InvalidBody(
          `the content coding "${headers.getAll('content-encoding').join(', ')}" is not supported`,
          415,
        )
      : undefined;
  if (refusal !== undefined) return invalidRequest(ex, refusal, reject, warn);
  if (Number(headers.get('content-length') ?? 0) > maxBytes) throw tooLarge(ex, maxBytes);

  const body = ex.requestBody!;
  let raw: Buffer;
  try {
    raw =
      body instanceof Uint8Array
        ? Buffer.from(body.buffer, body.byteOffset, body.byteLength)
        : await readStream(body, maxBytes, (l) => new RequestBodyTooLargeError(l));
  } catch (err) {
    throw requestReadProblem(ex, err, maxBytes);
  }
  if (raw.length > maxBytes) throw tooLarge(ex, maxBytes);
  ex.requestBody = raw;
  if (raw.length === 0) return;
  let decoded = raw;
  if (codings!.length > 0) {
    try {
      decoded = await decodeBody(raw, codings!, maxBytes);
    } catch (err) {
      if (err instanceof DecodedTooLargeError) throw tooLarge(ex, maxBytes);
      if (err instanceof ContentCodingError)
        return invalidRequest(ex, new InvalidBody(err.message), reject, warn);
      throw err;
    }
  }
  const out = rewriteBody(plan, decoded, ex, undefined);
  if (out instanceof InvalidBody) return invalidRequest(ex, out, reject, warn);
  ex.requestBody = out;
  headers.set('content-length', String(out.length));
  if (codings!.length > 0) headers.delete('content-encoding');
  if (plan.contentType !== undefined) headers.set('content-type', plan.contentType);
}

function invalidRequest(ex: Exchange, invalid: InvalidBody, reject: boolean, warn: Warn): void {
  if (reject) throw rejectedRequest(invalid);
  warn(ex, invalid.reason);
}
