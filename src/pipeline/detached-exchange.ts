// Requests the gateway makes on its own, with no client connection behind them (a webhook delivery, an
// outbound callback): an Exchange whose req and res are inert stand-ins, so nothing done for it can reach a
// client, and the reading of its answer into memory.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Exchange } from './exchange.js';
import type { BodySink, GatewayResponse, ResponseHeaders } from './gateway-response.js';
import { HeaderList } from './header-list.js';

/** A request a policy sends to an upstream by itself (`RouteUpstream.send`). */
export interface UpstreamRequest {
  readonly method: string;
  /**
   * The path as a client of the route would have sent it: the route's mapping applies (strip_prefix of the
   * first `prefixLength` characters) and the upstream's base path is prepended.
   */
  readonly path: string;
  /** Raw query string without "?" ("" or absent: none). */
  readonly query?: string;
  /** Length of the route prefix in `path` (strip_prefix), default 0. */
  readonly prefixLength?: number;
  /** Replaces the route's mapping, as `Exchange.upstreamPath`: sent as is after the upstream's base path. */
  readonly upstreamPath?: string;
  /** Flat [name, value, …] list; Host and Content-Length are the gateway's to set. */
  readonly headers: readonly string[];
  readonly body: Uint8Array | null;
  /** Longest the whole exchange may take, body included (the route's own timeouts apply too). */
  readonly timeoutMs: number;
  /** Most answer body bytes kept (default 64 KiB); the rest is read and dropped. */
  readonly maxAnswerBytes?: number;
}

/** The upstream's answer to an {@link UpstreamRequest}. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: ResponseHeaders;
  /** The body, at most `maxAnswerBytes` of it. */
  readonly body: Buffer;
  /** The upstream target that answered (its origin). */
  readonly target: string;
}

const NO_CLIENT_REQUEST = Object.freeze({
  socket: Object.freeze({ bytesWritten: 0, bytesRead: 0 }),
}) as unknown as IncomingMessage;
const NO_CLIENT_RESPONSE = Object.freeze({}) as unknown as ServerResponse;

/** An Exchange for a request no client made: inert req/res, the given method, path, headers and body. */
export function detachedExchange(init: {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: HeaderList;
  readonly body: Uint8Array | null;
  readonly host?: string;
  readonly clientIp?: string;
  readonly protocol?: 'http' | 'https';
  readonly authority?: string;
}): Exchange {
  const ex = new Exchange({
    req: NO_CLIENT_REQUEST,
    res: NO_CLIENT_RESPONSE,
    startedAt: performance.now(),
    method: init.method,
    path: init.path,
    query: init.query,
    host: init.host ?? '',
    protocol: init.protocol ?? 'http',
    clientIp: init.clientIp ?? '',
    headers: init.headers,
    authority: init.authority ?? '',
    requestBody: null,
  });
  ex.requestBody = init.body;
  return ex;
}

/**
 * Sends `req` through `forward` (a route's upstream call) within `req.timeoutMs` and reads the answer into
 * memory. Rejects with the upstream failure (a Problem: refused, reset, timed out, circuit open).
 */
export async function sendDetached(
  forward: (ex: Exchange) => Promise<GatewayResponse>,
  req: UpstreamRequest,
  routeName: string,
): Promise<UpstreamAnswer> {
  const headers: string[] = [];
  for (let i = 0; i + 1 < req.headers.length; i += 2) {
    const lower = req.headers[i]!.toLowerCase();
    if (lower === 'host' || lower === 'content-length' || lower === 'transfer-encoding') continue;
    headers.push(req.headers[i]!, req.headers[i + 1]!);
  }
  const ex = detachedExchange({
    method: req.method,
    path: req.path,
    query: req.query ?? '',
    headers: new HeaderList(headers),
    body: req.body,
  });
  ex.prefixLength = req.prefixLength ?? 0;
  ex.upstreamPath = req.upstreamPath;
  ex.routeName = routeName;
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    ex.upstreamCall?.cancel();
  }, req.timeoutMs);
  try {
    const res = await forward(ex);
    const body = await readAnswer(res, req.maxAnswerBytes ?? 65_536);
    return { status: res.status, headers: res.headers, body, target: ex.upstreamTarget };
  } catch (err) {
    // A cancelled call fails as "the client closed the connection": say why it was cancelled.
    if (late) throw new Error(`no complete answer within ${req.timeoutMs} ms`, { cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a response body to its end, keeping at most `max` bytes; rejects when it ends early. */
export function readAnswer(res: GatewayResponse, max: number): Promise<Buffer> {
  const body = res.body;
  if (body === null) return Promise.resolve(Buffer.alloc(0));
  if (typeof body === 'string') return Promise.resolve(Buffer.from(body).subarray(0, max));
  if (body instanceof Uint8Array) return Promise.resolve(Buffer.from(body).subarray(0, max));
  const kept: Buffer[] = [];
  let size = 0;
  const keep = (chunk: Buffer): void => {
    if (size >= max) return;
    const part = chunk.length <= max - size ? chunk : chunk.subarray(0, max - size);
    kept.push(Buffer.from(part));
    size += part.length;
  };
  if (!('pipeTo' in body)) {
    return new Promise<Buffer>((resolve, reject) => {
      body.on('data', (c: Buffer) => keep(c));
      body.on('end', () => resolve(Buffer.concat(kept, size)));
      body.on('error', reject);
    });
  }
  return new Promise<Buffer>((resolve, reject) => {
    const sink: BodySink = {
      write: (chunk) => {
        keep(chunk);
        return true;
      },
      end: (chunk) => {
        if (chunk !== undefined) keep(chunk);
        resolve(Buffer.concat(kept, size));
      },
      destroy: () => reject(new Error('the answer ended early')),
      on: () => sink,
    };
    body.pipeTo(sink);
  });
}
