// The guard reads each connection's chunks from Node's own HTTP parser, so the socket stays "consumed" (its
// reads go straight to the C++ parser, no `data` listener). These tests run a real node:http server with the
// guard and a raw client that splits a pipelined stream across reads at many points: every request must get
// its own verdict, in order, whether its head arrived whole, cut in two, or shared a read with others — and
// the fallback (a socket no longer consumed) must judge the same stream the same way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { rawRequest } from '../../test/helpers/raw-http.js';
import { guardConnection, guardOf } from './request-line-guard.js';

const STREAM = [
  'GET /a HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /d?q=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET  /e HTTP/1.1\r\nHost: x\r\n\r\n',
].join('');
const EXPECTED = ['ok /a', 'ok /b', 'ok /c', 'ok /d?q=1', 'malformed /e'];

interface GuardedServer {
  readonly port: number;
  /** For each connection: whether the guard left the socket consumed by the parser (added no listener). */
  readonly consumed: boolean[];
  readonly close: () => Promise<void>;
}

/**
 * A server answering each request with its verdict; `unconsume` hands each socket back to the JS stream
 * before the guard is set, `unconsumeAtFirst` once its first request has arrived.
 */
async function startServer(unconsume: boolean, unconsumeAtFirst = false): Promise<GuardedServer> {
  const consumed: boolean[] = [];
  const server = http.createServer((req, res) => {
    const verdict = guardOf(req.socket)?.take(req.url ?? '') ?? 'no guard';
    if (unconsumeAtFirst) req.socket.on('data', () => undefined);
    req.resume();
    req.on('end', () => {
      if (verdict !== 'ok') res.shouldKeepAlive = false;
      res.end(`${verdict} ${req.url}`);
    });
  });
  server.on('connection', (socket: Socket) => {
    if (unconsume) socket.on('data', () => undefined);
    const listeners = socket.listenerCount('data');
    guardConnection(socket, 16_384, () => 1_000_000);
    // Node's server keeps its own `data` listener, idle while the parser consumes the socket.
    consumed.push(socket.listenerCount('data') === listeners);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    consumed,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The response bodies (each a verdict and a target) in a raw byte stream. */
function verdicts(text: string): string[] {
  return [...text.matchAll(/\r\n\r\n((?:ok|malformed|unverified|no guard) [^\r\n]*?)(?=HTTP\/1\.1 |$)/g)].map(
    (m) => m[1]!,
  );
}

/** The stream cut at the given offsets. */
function cut(offsets: readonly number[]): string[] {
  const parts: string[] = [];
  let at = 0;
  for (const o of offsets) {
    parts.push(STREAM.slice(at, o));
    at = o;
  }
  parts.push(STREAM.slice(at));
  return parts;
}

const SPLITS: readonly (readonly [string, readonly number[]])[] = [
  ['one write', []],
  ['cut inside the first request line', [4]],
  ['cut inside the body that holds a request line', [60, 75]],
  [
    'cut inside a chunk-size line and before the last CRLF of a head',
    [130, 139, STREAM.indexOf('GET  /e') - 2],
  ],
  ['cut inside the doubled space', [STREAM.indexOf('GET  /e') + 4]],
  ['every 23 bytes', Array.from({ length: Math.floor(STREAM.length / 23) }, (_, i) => (i + 1) * 23)],
];

for (const unconsume of [false, true]) {
  describe(`request-line guard on a real server (${unconsume ? 'fallback: data listener' : 'following the parser'})`, () => {
    let server: GuardedServer;
    before(async () => {
      server = await startServer(unconsume);
    });
    after(() => server.close());

    for (const [name, offsets] of SPLITS) {
      it(`${name}: one verdict per request, in order`, async () => {
        // 15 ms between writes lets each part arrive in its own read (a coalesced read is judged the same).
        const res = await rawRequest(server.port, cut(offsets), { delayBetweenMs: 15 });
        assert.deepEqual(verdicts(res.text), EXPECTED);
        assert.equal(res.closedByServer, true);
      });
    }

    it(unconsume ? 'falls back to a data listener' : 'leaves the socket consumed by the parser', () => {
      assert.ok(server.consumed.length > 0);
      assert.ok(server.consumed.every((c) => c === !unconsume));
    });
  });
}

describe('request-line guard when the socket is handed back to JS mid-connection', () => {
  let server: GuardedServer;
  before(async () => {
    server = await startServer(false, true);
  });
  after(() => server.close());

  it('judges what it read, then trusts nothing: the next request is unverified', async () => {
    const parts = ['GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n'];
    const res = await rawRequest(server.port, parts, { delayBetweenMs: 50 });
    assert.deepEqual(verdicts(res.text), ['ok /a', 'unverified /b']);
  });
});
