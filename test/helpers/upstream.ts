// Real upstream servers for tests: node:http on an ephemeral loopback port, recording what reached them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Every request that reached this upstream, in order. */
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

export type UpstreamHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
) => void | Promise<void>;

/** Default handler: 200 JSON echo of method, url and headers. */
export const echoHandler: UpstreamHandler = (req, res, body) => {
  const text = JSON.stringify({
    method: req.method,
    url: req.url,
    headers: req.headers,
    bodyLength: body.length,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/**
 * Starts an upstream. With `stream: true` the handler gets the request unread (body is empty) so it can
 * stream; otherwise the body is collected first and recorded.
 */
export async function startUpstream(
  handler: UpstreamHandler = echoHandler,
  opts: { stream?: boolean } = {},
): Promise<TestUpstream> {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    if (opts.stream) {
      received.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.alloc(0),
      });
      void handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      void handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
