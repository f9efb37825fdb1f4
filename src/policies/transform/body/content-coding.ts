// Undoes and reapplies the Content-Encoding of a buffered body (RFC 9110 §8.4) so a transform can read
// and rewrite compressed JSON or XML, bounded so a small compressed body cannot expand without limit.
import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

/** The codings `decodeBody` and `encodeBody` understand; `x-gzip` is gzip (RFC 9110 §8.4.1.3). */
const SUPPORTED: ReadonlySet<string> = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

// The callback forms run on libuv's thread pool; the *Sync forms would stall every request on the loop.
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotliDecompress = promisify(zlib.brotliDecompress);
const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const brotliCompress = promisify(zlib.brotliCompress);

/** Brotli's default quality 11 costs tens of milliseconds per 100 KB; 5 compresses nearly as well. */
const BROTLI_QUALITY = 5;

/** A decoded body (or a step of a chained decoding) would be longer than the limit. */
export class DecodedTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`decoded body exceeds ${limit} bytes`);
    this.name = 'DecodedTooLargeError';
  }
}

/**
 * A body that does not decode with its declared coding (corrupt, truncated, not that format), or a coding
 * this module does not support. The message names the coding and gives zlib's short reason only.
 */
export class ContentCodingError extends Error {
  constructor(
    readonly coding: string,
    message: string,
  ) {
    super(message);
    this.name = 'ContentCodingError';
  }
}

/**
 * The codings of a Content-Encoding header in the order they were applied ("gzip, br" → ['gzip', 'br']),
 * lowercased, without `identity` and empty list elements; `[]` when there are none. Null when any coding
 * is not supported, so the caller can pass the body through untouched instead of misreading it.
 */
export function parseContentCoding(header: string | string[] | undefined): string[] | null {
  if (header === undefined) return [];
  // Repeated header fields are one comma-separated list (RFC 9110 §5.3).
  const text = typeof header === 'string' ? header : header.join(',');
  const codings: string[] = [];
  for (const element of text.split(',')) {
    const coding = element.trim().toLowerCase();
    if (coding === '' || coding === 'identity') continue;
    if (!SUPPORTED.has(coding)) return null;
    codings.push(coding);
  }
  return codings;
}

/**
 * Undoes `codings` (as listed in Content-Encoding, so the last one first). Fails with DecodedTooLargeError
 * when the result, or any intermediate step, would exceed `maxBytes`: zlib stops at the limit rather than
 * after inflating everything, so a gzip bomb costs about `maxBytes` of memory. A body with no codings is
 * held to the same limit, so the result is never longer than `maxBytes`.
 */
export async function decodeBody(
  body: Buffer,
  codings: readonly string[],
  maxBytes: number,
): Promise<Buffer> {
  if (Number.isNaN(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be >= 0, got ${maxBytes}`);
  // zlib accepts 1 ..= buffer.constants.MAX_LENGTH; a limit of 0 is enforced by the length check below.
  const maxOutputLength = Math.max(1, Math.min(Math.floor(maxBytes), bufferConstants.MAX_LENGTH));
  let data = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i] as string;
    try {
      data = await decodeOne(data, coding, { maxOutputLength });
    } catch (error) {
      throw decodeError(error, coding, maxBytes);
    }
  }
  if (data.length > maxBytes) throw new DecodedTooLargeError(maxBytes);
  return data;
}

/** Applies `codings` in order, as the matching Content-Encoding header would list them. */
export async function encodeBody(body: Buffer, codings: readonly string[]): Promise<Buffer> {
  let data = body;
  for (const coding of codings) data = await encodeOne(data, coding);
  return data;
}

function decodeOne(data: Buffer, coding: string, options: { maxOutputLength: number }): Promise<Buffer> {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return gunzip(data, options);
    case 'deflate':
      // RFC 9110 §8.4.1.2 says zlib-wrapped (RFC 1950), but many servers send raw deflate (RFC 1951).
      // Checking the two header bytes is what inflate does first, without paying for a failed attempt.
      return hasZlibHeader(data) ? inflate(data, options) : inflateRaw(data, options);
    case 'br':
      return brotliDecompress(data, options);
    case 'identity':
      return Promise.resolve(data);
    default:
      return Promise.reject(new ContentCodingError(coding, `content coding "${coding}" is not supported`));
  }
}

async function encodeOne(data: Buffer, coding: string): Promise<Buffer> {
  try {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return await gzip(data);
      case 'deflate':
        return await deflate(data);
      case 'br':
        return await brotliCompress(data, {
          params: {
            [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
            [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
          },
        });
      case 'identity':
        return data;
      default:
        throw new ContentCodingError(coding, `content coding "${coding}" is not supported`);
    }
  } catch (error) {
    if (error instanceof ContentCodingError) throw error;
    throw new ContentCodingError(coding, `content coding "${coding}" could not be applied: ${reason(error)}`);
  }
}

/**
 * Whether the body starts with a valid RFC 1950 header: compression method 8 (deflate), a window of at
 * most 32 KB, and the two bytes as a big-endian number divisible by 31.
 */
function hasZlibHeader(data: Buffer): boolean {
  if (data.length < 2) return false;
  const cmf = data[0] as number;
  const flg = data[1] as number;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

function decodeError(error: unknown, coding: string, maxBytes: number): Error {
  if (error instanceof ContentCodingError) return error;
  // zlib reports passing maxOutputLength as a RangeError with this code.
  if (error instanceof RangeError && 'code' in error && error.code === 'ERR_BUFFER_TOO_LARGE') {
    return new DecodedTooLargeError(maxBytes);
  }
  return new ContentCodingError(coding, `content coding "${coding}" could not be decoded: ${reason(error)}`);
}

/** zlib's own message ("incorrect header check", "unexpected end of file"), kept short, never a stack. */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  if (message === '') return 'invalid data';
  return message.length > 100 ? `${message.slice(0, 100)}…` : message;
}
