// The benchmark's upstream: a separate node:http process answering every request with a small fixed JSON.
import http from 'node:http';
import { json10kBody } from './json10k.js';

// About 100 bytes, so the proxies' per-request overhead (not payload copying) dominates.
const BODY = Buffer.from(
  JSON.stringify({
    service: 'portico-bench-upstream',
    status: 'ok',
    items: [1, 2, 3, 4, 5],
    note: 'fixed response body',
  }) + '\n',
);

// The transformation scenarios' body: about 10 KB of JSON records, each with a card number to mask.
const BODY_10K = json10kBody();
const HEADERS_10K = { 'content-type': 'application/json', 'content-length': String(BODY_10K.byteLength) };

const HEADERS = {
  'content-type': 'application/json',
  'content-length': String(BODY.byteLength),
};

const server = http.createServer((req, res) => {
  // Drain any request body before answering so proxies that stream bodies see normal back-pressure.
  req.on('end', () => {
    if (req.url === '/json10k') {
      res.writeHead(200, HEADERS_10K);
      res.end(BODY_10K);
      return;
    }
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
  req.resume();
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('upstream: unexpected address');
  process.stdout.write(`${address.port}\n`);
});

// The harness keeps our stdin open; when it goes away (even if it was killed), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
