// The "Node limit" baseline: a minimal node:http + undici.Pool pass-through proxy to compare Portico with.
// Usage: node baseline-proxy.js <upstream origin>. Prints its port on stdout once listening.
import http from 'node:http';
import { Pool } from 'undici';

const origin = process.argv[2];
if (origin === undefined) {
  process.stderr.write('usage: baseline-proxy <upstream origin, e.g. http://127.0.0.1:8080>\n');
  process.exit(2);
}

// One pool, keep-alive (undici's default); connections grow with the number of concurrent requests.
const pool = new Pool(origin);

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'proxy-connection',
]);

/** The client's raw header pairs minus hop-by-hop headers and host (undici sets host from the origin). */
function requestHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name === undefined || value === undefined) break;
    const lower = name.toLowerCase();
    if (lower === 'host' || HOP_BY_HOP.has(lower)) continue;
    out.push(name, value);
  }
  return out;
}

function responseHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

function badGateway(res: http.ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway\n');
}

const server = http.createServer((req, res) => {
  pool
    .request({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: requestHeaders(req.rawHeaders),
      // No body for requests that have none: undici takes a faster path than for an empty stream.
      body:
        req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
          ? req
          : null,
    })
    .then(
      ({ statusCode, headers, body }) => {
        res.writeHead(statusCode, responseHeaders(headers));
        // pipe() rather than stream.pipeline(): pipeline() costs an AbortController per call on Node 20.
        body.on('error', () => res.destroy());
        body.pipe(res);
      },
      () => badGateway(res),
    );
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('baseline: unexpected address');
  process.stdout.write(`${address.port}\n`);
});

// The harness keeps our stdin open; when it goes away (even if it was killed), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
