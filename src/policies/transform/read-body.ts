// Reads a whole body into memory for a body transform, never more than the route's limit: a request body
// from the client's stream, a response body from whatever the pipeline holds (the upstream's streaming
// body, another stream, or bytes already in memory).
import type { Readable } from 'node:stream';
import { ResponseBodyTooLargeError, type GatewayResponse } from '../../pipeline/gateway-response.js';

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
