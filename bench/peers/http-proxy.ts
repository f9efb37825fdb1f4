// Peer: node-http-proxy 1.18 behind a node:http server, forwarding every request to the bench upstream
// through an http.Agent with keepAlive (without an agent it sends `Connection: close` upstream).
// Usage: node peers/http-proxy.js <upstream origin>. Prints its port on stdout once listening.
import http from 'node:http';
import httpProxy from 'http-proxy';
import { announcePort, exitWithHarness, upstreamOrigin } from './serve.js';

const origin = upstreamOrigin('http-proxy');

const proxy = httpProxy.createProxyServer({
  target: origin,
  agent: new http.Agent({ keepAlive: true }),
});

proxy.on('error', (_err, _req, res) => {
  // `res` is a socket only for WebSocket upgrades, which the benchmark does not send.
  if (!(res instanceof http.ServerResponse)) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway\n');
});

const server = http.createServer((req, res) => proxy.web(req, res));

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => announcePort(server, 'http-proxy'));
exitWithHarness();
