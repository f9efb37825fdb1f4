// E2E limits and upstream failures: 414/431/413, 504 timeouts, 502 refused/reset, mid-body stalls, round-robin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, statusCodes } from '../helpers/raw-http.js';
import { assertProblemBody, assertRawProblem, parseRawResponse } from '../fixtures/http-tools.js';

const MAX_URL = 256;
const MAX_HEADER = 2048;
const MAX_BODY = 4096;

/** A TCP server that resets every connection as soon as a request arrives. */
async function startResettingServer(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

describe('limits and upstream timeouts', () => {
  let up: TestUpstream;
  let a: TestUpstream;
  let b: TestUpstream;
  let resetter: { port: number; close(): Promise<void> };
  let deadPort: number;
  let gw: TestGateway;
  /** Timers the stalling upstream handlers hold; cleared in `after`. */
  const stalls = new Set<NodeJS.Timeout>();
  const stall = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      stalls.delete(t);
      fn();
    }, ms);
    stalls.add(t);
  };
  /** Bytes the upstream read from request bodies at /body/*, per request. */
  const bodyBytes: { url: string; bytes: number; complete: boolean }[] = [];

  before(async () => {
    up = await startUpstream(
      (req, res) => {
        const url = req.url ?? '';
        if (url.startsWith('/body/')) {
          const entry = { url, bytes: 0, complete: false };
          bodyBytes.push(entry);
          req.on('data', (c: Buffer) => (entry.bytes += c.length));
          req.on('error', () => undefined);
          if (url.startsWith('/body/early')) {
            // Answers before reading the body: the response has started when the limit is hit.
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
            res.write('e'.repeat(10));
          }
          req.on('end', () => {
            entry.complete = true;
            const text = url.startsWith('/body/early') ? 'e'.repeat(90) : String(entry.bytes);
            if (!res.headersSent)
              res.writeHead(200, { 'content-type': 'text/plain', 'content-length': text.length });
            res.end(text);
          });
          return;
        }
        if (url.startsWith('/stall-headers')) {
          // Never answers within the test's timeouts; the gateway must give up first.
          stall(5000, () => res.end());
          return;
        }
        if (url.startsWith('/drip')) {
          // Eight chunks 100 ms apart: never idle for 300 ms, though the whole body takes 700 ms.
          res.writeHead(200, { 'content-type': 'text/plain' });
          let sent = 0;
          const tick = setInterval(() => {
            res.write('x'.repeat(100));
            if (++sent === 8) {
              clearInterval(tick);
              res.end();
            }
          }, 100);
          res.on('close', () => clearInterval(tick));
          return;
        }
        if (url.startsWith('/stall-body')) {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
          res.write('x'.repeat(1000));
          stall(5000, () => res.end());
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url }));
      },
      { stream: true },
    );
    const named = (id: string) => async (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(id);
    };
    a = await startUpstream(named('A'));
    b = await startUpstream(named('B'));
    resetter = await startResettingServer();
    deadPort = await closedPort();
    gw = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  limits:
    max_url_length: ${MAX_URL}
    max_header_bytes: ${MAX_HEADER}
    max_body_bytes: ${MAX_BODY}
upstreams:
  pair:
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
  weighted:
    targets: [{ url: "${a.url}", weight: 3 }, { url: "${b.url}", weight: 1 }]
routes:
  - name: main
    path_prefix: /
    upstream: ${up.url}
  - name: total-timeout
    path_prefix: /stall-headers/total
    upstream: ${up.url}
    timeout_ms: 300
  - name: first-byte
    path_prefix: /stall-headers/first-byte
    upstream: ${up.url}
    timeouts: { first_byte_ms: 300 }
  - name: body-total
    path_prefix: /stall-body/total
    upstream: ${up.url}
    timeout_ms: 500
  - name: body-idle
    path_prefix: /stall-body/idle
    upstream: ${up.url}
    timeouts: { idle_ms: 200 }
  - name: drip-idle
    path_prefix: /drip
    upstream: ${up.url}
    timeouts: { idle_ms: 300 }
  - name: refused
    path_prefix: /refused
    upstream: http://127.0.0.1:${deadPort}
  - name: reset
    path_prefix: /reset
    upstream: http://127.0.0.1:${resetter.port}
  - name: pair
    path_prefix: /pair
    upstream: pair
  - name: weighted
    path_prefix: /weighted
    upstream: weighted
`);
  });
  after(async () => {
    for (const t of stalls) clearTimeout(t);
    await gw?.stop();
    await up?.close();
    await a?.close();
    await b?.close();
    await resetter?.close();
  });

  const internal = () => [
    String(up.port),
    String(deadPort),
    String(resetter.port),
    String(a.port),
    String(b.port),
  ];

  describe('request limits', () => {
    it(`a target longer than max_url_length (${MAX_URL}) gets 414 problem+json`, async () => {
      const path = '/long/' + 'a'.repeat(MAX_URL);
      const res = await fetch(gw.url + path);
      assert.equal(res.status, 414);
      assertProblemBody(res.headers.get('content-type') ?? undefined, await res.text(), 414, internal());
      assert.ok(!up.received.some((r) => r.url.startsWith('/long/')));
    });

    it('a target of exactly max_url_length passes', async () => {
      const path = '/exact/' + 'a'.repeat(MAX_URL - '/exact/'.length);
      assert.equal(path.length, MAX_URL);
      const res = await fetch(gw.url + path);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    });

    it(`headers over max_header_bytes (${MAX_HEADER}) get 431 problem+json`, async () => {
      const r = await rawRequest(
        gw.port,
        `GET /big-headers HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(MAX_HEADER + 100)}\r\n\r\n`,
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [431]);
      assertRawProblem(r.text, 431, internal());
      assert.ok(!up.received.some((x) => x.url === '/big-headers'));
    });

    it('many small headers over the limit also get 431', async () => {
      const lines = Array.from({ length: 100 }, (_, i) => `X-H${i}: ${'v'.repeat(30)}\r\n`).join('');
      const r = await rawRequest(gw.port, `GET /many-headers HTTP/1.1\r\nHost: a\r\n${lines}\r\n`);
      assert.deepEqual(statusCodes(r.text), [431]);
      assertRawProblem(r.text, 431, internal());
    });

    it(`a Content-Length over max_body_bytes (${MAX_BODY}) gets 413 and closes; the upstream sees nothing`, async () => {
      const body = 'z'.repeat(MAX_BODY + 1);
      const r = await rawRequest(
        gw.port,
        `POST /body/cl-over HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
          'GET /body/after-413 HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [413]);
      assertRawProblem(r.text, 413, internal());
      assert.ok(!up.received.some((x) => x.url.startsWith('/body/cl-over') || x.url === '/body/after-413'));
    });

    it('a body of exactly max_body_bytes passes (Content-Length and chunked)', async () => {
      const body = 'y'.repeat(MAX_BODY);
      const res = await fetch(`${gw.url}/body/cl-exact`, { method: 'POST', body });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), String(MAX_BODY));
      const chunked = await rawRequest(
        gw.port,
        `POST /body/chunked-exact HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `${MAX_BODY.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      );
      assert.equal(parseRawResponse(chunked.text).status, 200);
      assert.equal(parseRawResponse(chunked.text).body, String(MAX_BODY));
    });

    it('a chunked body that grows past the limit gets 413, closes, and the upstream never gets it whole', async () => {
      const chunk = 'c'.repeat(1024);
      const frame = `400\r\n${chunk}\r\n`;
      const r = await rawRequest(
        gw.port,
        [
          'POST /body/chunked-over HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
          ...Array.from({ length: 8 }, () => frame),
          '0\r\n\r\nGET /body/after-chunked HTTP/1.1\r\nHost: a\r\n\r\n',
        ],
        { delayBetweenMs: 20, timeoutMs: 4000 },
      );
      assert.deepEqual(statusCodes(r.text), [413]);
      assertRawProblem(r.text, 413, internal());
      assert.ok(r.closedByServer, 'connection kept open after an oversized body');
      const seen = bodyBytes.filter((e) => e.url === '/body/chunked-over');
      assert.ok(
        seen.every((e) => !e.complete && e.bytes <= MAX_BODY),
        JSON.stringify(seen),
      );
      assert.ok(!bodyBytes.some((e) => e.url === '/body/after-chunked'));
    });

    it('a chunked body past the limit after the response started: the client connection is cut', async () => {
      const frame = `400\r\n${'c'.repeat(1024)}\r\n`;
      const r = await rawRequest(
        gw.port,
        [
          'POST /body/early HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
          ...Array.from({ length: 8 }, () => frame),
          '0\r\n\r\n',
        ],
        { delayBetweenMs: 20, timeoutMs: 4000 },
      );
      assert.ok(r.closedByServer, 'connection kept open after an oversized body');
      assert.deepEqual(statusCodes(r.text), [200]);
      const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
      assert.ok(body.length < 100, 'the response completed although the request body was refused');
      const seen = bodyBytes.filter((e) => e.url === '/body/early');
      assert.equal(seen.length, 1);
      assert.ok(!seen[0]!.complete && seen[0]!.bytes <= MAX_BODY, JSON.stringify(seen));
    });
  });

  describe('upstream failures', () => {
    it('an upstream that stalls before its headers with timeout_ms: 300 gets 504 in about 300 ms', async () => {
      const started = performance.now();
      const res = await fetch(`${gw.url}/stall-headers/total`);
      const elapsed = performance.now() - started;
      assert.equal(res.status, 504);
      assertProblemBody(res.headers.get('content-type') ?? undefined, await res.text(), 504, internal());
      assert.ok(elapsed >= 250 && elapsed < 1500, `answered after ${elapsed} ms`);
    });

    it('timeouts.first_byte_ms: 300 gives 504 in about 300 ms', async () => {
      const started = performance.now();
      const res = await fetch(`${gw.url}/stall-headers/first-byte`);
      const elapsed = performance.now() - started;
      assert.equal(res.status, 504);
      const p = assertProblemBody(
        res.headers.get('content-type') ?? undefined,
        await res.text(),
        504,
        internal(),
      );
      assert.equal(p.type, 'https://portico.dev/problems/upstream-timeout');
      assert.ok(elapsed >= 250 && elapsed < 1500, `answered after ${elapsed} ms`);
    });

    it('a refused connection gives 502 problem+json naming no host or port', async () => {
      const res = await fetch(`${gw.url}/refused/x`);
      assert.equal(res.status, 502);
      assertProblemBody(res.headers.get('content-type') ?? undefined, await res.text(), 502, internal());
    });

    it('an upstream that resets the connection before answering gives 502', async () => {
      const res = await fetch(`${gw.url}/reset/x`);
      assert.equal(res.status, 502);
      assertProblemBody(res.headers.get('content-type') ?? undefined, await res.text(), 502, internal());
    });

    for (const [label, path, limit] of [
      ['timeout_ms: 500', '/stall-body/total', 500],
      ['timeouts.idle_ms: 200', '/stall-body/idle', 200],
    ] as const) {
      it(`an upstream that stalls mid-body (${label}) gets the client connection closed on time`, async () => {
        const started = performance.now();
        const res = await fetch(gw.url + path);
        assert.equal(res.status, 200);
        await assert.rejects(res.arrayBuffer());
        const elapsed = performance.now() - started;
        // Both run on the gateway's own timers: on time, give or take a loaded machine's scheduling (undici's
        // own body timer, 500 ms ticks, ended the idle case after about 500 ms).
        assert.ok(elapsed >= limit - 20 && elapsed < limit + 180, `body read ended after ${elapsed} ms`);
      });
    }

    it('idle_ms counts the pause between chunks, not the whole body: a steady 700 ms body arrives whole', async () => {
      const res = await fetch(gw.url + '/drip');
      assert.equal(res.status, 200);
      assert.equal((await res.text()).length, 800);
    });

    it('the gateway still answers after all of the above', async () => {
      const res = await fetch(`${gw.url}/ok`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { url: '/ok' });
    });
  });

  describe('load balancing', () => {
    const served = async (path: string, n: number): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(await (await fetch(gw.url + path)).text());
      return out;
    };

    it('a named upstream with two targets of weight 1 alternates', async () => {
      const got = await served('/pair', 6);
      assert.ok(
        got.every((s, i) => i === 0 || s !== got[i - 1]),
        got.join(''),
      );
      assert.deepEqual([...got].sort(), ['A', 'A', 'A', 'B', 'B', 'B']);
    });

    it('weights 3:1 send three of every four requests to the first target', async () => {
      const got = await served('/weighted', 8);
      assert.equal(got.filter((s) => s === 'A').length, 6, got.join(''));
      assert.equal(got.filter((s) => s === 'B').length, 2, got.join(''));
    });
  });
});
