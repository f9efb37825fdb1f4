// Writes a GatewayResponse to the client: status and headers once, then the body — streamed for upstream
// bodies (an upstream failure mid-body closes the client connection rather than truncating silently).
import { discardBody } from './body.js';
import type { Exchange } from './exchange.js';
import type { GatewayResponse } from './gateway-response.js';

export function writeResponse(ex: Exchange, r: GatewayResponse): void {
  const res = ex.res;
  ex.status = r.status;
  if (r.problem !== undefined) ex.problem = r.problem;
  if (res.headersSent || res.destroyed) {
    discardBody(r.body);
    return;
  }
  if (ex.lifecycle.draining) res.shouldKeepAlive = false;
  const body = r.body;
  if (body === null) {
    res.writeHead(r.status, r.headers);
    res.end();
  } else if (typeof body === 'string' || body instanceof Uint8Array) {
    const headers = r.headers;
    if (r.source === 'gateway') headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(r.status, headers);
    res.end(body);
  } else if ('pipeTo' in body) {
    res.writeHead(r.status, r.headers);
    body.pipeTo(res);
  } else {
    res.writeHead(r.status, r.headers);
    // pipe() rather than stream.pipeline(): on Node 20 pipeline() builds an AbortController per call. An
    // upstream failure mid-body destroys the client connection (never a silently truncated response); a
    // client that goes away cancels the upstream through Exchange.upstreamCall.
    body.once('error', () => res.destroy());
    body.pipe(res);
  }
}
