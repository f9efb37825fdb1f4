// The response a pipeline produces: from the upstream (streamed) or made by the gateway.
import type { Readable } from 'node:stream';

/** Where a streaming body writes: the client response, or a wrapper around it (a cache copying the body). */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): void;
  destroy(): void;
  on(event: 'drain', listener: () => void): unknown;
}

/** A body that writes itself into the client response on demand (the upstream's, without a Readable). */
export interface StreamingBody {
  pipeTo(dest: BodySink): void;
  /**
   * Reads the whole body into memory, for a policy that rewrites it. Rejects with `BodyTooLargeError` as
   * soon as more than `maxBytes` arrived (the rest is not read: the upstream call is aborted), or with the
   * failure that ended the body early.
   */
  collect(maxBytes: number): Promise<Buffer>;
  destroy(): void;
}

/** Response header map, lowercase names. */
export type ResponseHeaders = Record<string, string | string[]>;

export interface GatewayResponse {
  status: number;
  headers: ResponseHeaders;
  /** The upstream's streaming body, another stream, a complete body, or null for none. */
  body: StreamingBody | Readable | Uint8Array | string | null;
  /** Who made it: the upstream, or the gateway itself (problems, policies). */
  readonly source: 'upstream' | 'gateway';
  /** For gateway-made responses: the named reason, logged as `problem`. */
  readonly problem?: string;
}

export function gatewayResponse(
  status: number,
  headers: ResponseHeaders,
  body: string | Uint8Array | null,
  problem?: string,
): GatewayResponse {
  return problem === undefined
    ? { status, headers, body, source: 'gateway' }
    : { status, headers, body, source: 'gateway', problem };
}
