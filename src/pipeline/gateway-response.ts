// The response a pipeline produces: from the upstream (streamed) or made by the gateway.
import type { Readable } from 'node:stream';

/** Response header map, lowercase names. */
export type ResponseHeaders = Record<string, string | string[]>;

export interface GatewayResponse {
  status: number;
  headers: ResponseHeaders;
  /** A stream (upstream bodies), a complete body, or null for none. */
  body: Readable | Uint8Array | string | null;
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
