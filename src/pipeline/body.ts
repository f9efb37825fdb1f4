// Bodies in the pipeline: the errors a body fails with once it passes a limit, reading one whole (never
// more than a limit) and dropping one nobody will read. Shared by the intake, the proxy and the policies
// that hold bodies (transform, cache, fallback, the token endpoint).
import type { Readable } from 'node:stream';
import type { GatewayResponse } from './gateway-response.js';

/** The request body passed gateway.limits.max_body_bytes while streaming. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** A response body passed the limit of the policy that wanted to hold it. */
export class ResponseBodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the response body exceeds ${limit} bytes`);
    this.name = 'ResponseBodyTooLargeError';
  }
}

/** A request body passed the transform's limit. */
export class RequestBodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the request body exceeds ${limit} bytes`);
    this.name = 'RequestBodyTooLargeError';
  }
}

/**
 * Reads a stream to its end. Past `maxBytes` it stops reading and rejects with `tooLarge(maxBytes)`; the
 * unread rest stays in the stream (the caller closes the connection instead of draining it).
 */
export function readStream(
  stream: Readable,
  maxBytes: number,
  tooLarge: (limit: number) => Error,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > maxBytes) {
        cleanup();
        stream.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    // A stream destroyed without an error (the client went away) never ends.
    const onClose = (): void => {
      cleanup();
      reject(new Error('the body stream closed before its end'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/** The whole response body as bytes (empty for none); rejects with ResponseBodyTooLargeError past the limit. */
export function readResponseBody(res: GatewayResponse, maxBytes: number): Promise<Buffer> {
  const body = res.body;
  if (body === null) return Promise.resolve(Buffer.alloc(0));
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes =
      typeof body === 'string'
        ? Buffer.from(body)
        : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (bytes.length > maxBytes) return Promise.reject(new ResponseBodyTooLargeError(maxBytes));
    return Promise.resolve(bytes);
  }
  if ('collect' in body) return body.collect(maxBytes);
  return readStream(body, maxBytes, (limit) => {
    body.destroy();
    return new ResponseBodyTooLargeError(limit);
  });
}

/** Drops a body nobody will read: a stream is destroyed (closing the upstream connection it reads from). */
export function discardBody(body: GatewayResponse['body']): void {
  if (body !== null && typeof body === 'object' && 'destroy' in body) body.destroy();
}
