// E2E request hygiene: ambiguous framing, bad Host/targets and slow clients get problem+json (closing where framing is in doubt).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, statusCodes } from '../helpers/raw-http.js';
import { assertRawProblem, parseRawResponse, rawValues } from '../fixtures/http-tools.js';

const HEADER_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** The gateway checks the deadlines once a second; allow that plus scheduling noise. */
const DEADLINE_SLACK_MS = 2500;

describe('request hygiene', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  /** Internal names a problem body must never reveal. */
  let internal: string[];

  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  limits:
    header_timeout_ms: ${HEADER_TIMEOUT_MS}
    request_timeout_ms: ${REQUEST_TIMEOUT_MS}
routes:
  - name: orders
    path_prefix: /orders
    upstream: ${up.url}
`);
    internal = [String(up.port), 'evil.example', 'Error', 'stack'];
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  /** Requests the upstream got whose URL starts with `prefix`. */
  const reached = (prefix: string) => up.received.filter((r) => r.url.startsWith(prefix)).map((r) => r.url);

  describe('message framing', () => {
    it('Content-Length with Transfer-Encoding: 400, closed, and the pipelined request never reaches the upstream', async () => {
      const r = await rawRequest(
        gw.port,
        'POST /orders/smuggle-1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '0\r\n\r\n' +
          'GET /orders/smuggled-1 HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.ok(r.closedByServer, 'connection left open');
      assert.deepEqual(statusCodes(r.text), [400]);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/smuggle'), []);
    });

    it('Transfer-Encoding with Content-Length (other order) is refused the same way', async () => {
      const r = await rawRequest(
        gw.port,
        'POST /orders/smuggle-2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n' +
          '0\r\n\r\nGET /orders/smuggled-2 HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [400]);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/smuggle'), []);
    });

    for (const [label, lines] of [
      ['different values', 'Content-Length: 3\r\nContent-Length: 10'],
      ['equal values', 'Content-Length: 3\r\nContent-Length: 3'],
      ['a list', 'Content-Length: 3, 3'],
    ] as const) {
      it(`duplicate Content-Length (${label}): 400 and closed`, async () => {
        const r = await rawRequest(
          gw.port,
          `POST /orders/dup-cl HTTP/1.1\r\nHost: a\r\n${lines}\r\n\r\nabcGET /orders/dup-cl-next HTTP/1.1\r\nHost: a\r\n\r\n`,
        );
        assert.ok(r.closedByServer);
        assert.deepEqual(statusCodes(r.text), [400]);
        assertRawProblem(r.text, 400, internal);
        assert.deepEqual(reached('/orders/dup-cl'), []);
      });
    }

    for (const value of ['abc', '-1', '1e3', '+3', '0x10', '3 3']) {
      it(`invalid Content-Length ${JSON.stringify(value)}: 400`, async () => {
        const r = await rawRequest(
          gw.port,
          `POST /orders/bad-cl HTTP/1.1\r\nHost: a\r\nContent-Length: ${value}\r\n\r\nabc`,
        );
        assert.ok(r.closedByServer);
        assert.deepEqual(statusCodes(r.text), [400]);
        assertRawProblem(r.text, 400, internal);
        assert.deepEqual(reached('/orders/bad-cl'), []);
      });
    }

    it('an unknown Transfer-Encoding is refused', async () => {
      const r = await rawRequest(
        gw.port,
        'POST /orders/bad-te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc',
      );
      assert.ok(r.closedByServer);
      assert.equal(statusCodes(r.text)[0], 400);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/bad-te'), []);
    });
  });

  describe('Host and request target', () => {
    it('duplicate Host: 400, closed, and a pipelined second request is not processed', async () => {
      const r = await rawRequest(
        gw.port,
        'GET /orders/dup-host-1 HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n' +
          'GET /orders/dup-host-2 HTTP/1.1\r\nHost: a.example\r\n\r\n',
      );
      assert.ok(r.closedByServer, 'connection left open');
      assert.deepEqual(statusCodes(r.text), [400]);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/dup-host'), []);
    });

    it('duplicate Host on its own: 400 and closed', async () => {
      const r = await rawRequest(
        gw.port,
        'GET /orders/dup-host-3 HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n',
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [400]);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/dup-host'), []);
    });

    it('missing Host on HTTP/1.1: 400 problem+json', async () => {
      const r = await rawRequest(gw.port, 'GET /orders/no-host HTTP/1.1\r\n\r\n');
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [400]);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/no-host'), []);
    });

    it('HTTP/1.0 without Host is accepted', async () => {
      const r = await rawRequest(gw.port, 'GET /orders/http10 HTTP/1.0\r\n\r\n');
      assert.match(r.text, /^HTTP\/1\.1 200 /);
      assert.deepEqual(reached('/orders/http10'), ['/orders/http10']);
    });

    it('an invalid Host is refused', async () => {
      const r = await rawRequest(gw.port, 'GET /orders/bad-host HTTP/1.1\r\nHost: a b/c\r\n\r\n');
      assert.equal(statusCodes(r.text)[0], 400);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/bad-host'), []);
    });

    it('absolute-form is routed by its path to the route upstream, which sees origin-form', async () => {
      const before = up.received.length;
      const r = await rawRequest(
        gw.port,
        'GET http://evil.example/orders?x=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
      );
      assert.equal(parseRawResponse(r.text).status, 200);
      const got = up.received.slice(before);
      assert.equal(got.length, 1);
      assert.equal(got[0]!.url, '/orders?x=1');
      assert.deepEqual(rawValues(got[0]!.rawHeaders, 'host'), [`127.0.0.1:${up.port}`]);
      assert.deepEqual(rawValues(got[0]!.rawHeaders, 'x-forwarded-host'), ['evil.example']);
    });

    it('absolute-form without a path is routed as "/" (no route there: 404, never evil.example)', async () => {
      const r = await rawRequest(
        gw.port,
        'GET http://evil.example:8080 HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n',
      );
      assertRawProblem(r.text, 404, internal);
    });

    it('absolute-form naming another host than Host: 400 and closed', async () => {
      const r = await rawRequest(gw.port, 'GET http://evil.example/orders/1 HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.ok(r.closedByServer);
      assertRawProblem(r.text, 400, internal);
      assert.deepEqual(reached('/orders/1'), []);
    });

    it('CONNECT: 405 problem+json and closed', async () => {
      const r = await rawRequest(
        gw.port,
        'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n',
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [405]);
      assertRawProblem(r.text, 405, internal);
      assert.ok(parseRawResponse(r.text).headers.get('allow')?.[0]?.includes('GET'));
    });

    it('OPTIONS *: 400 problem+json', async () => {
      const r = await rawRequest(gw.port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      assert.deepEqual(statusCodes(r.text), [400]);
      assertRawProblem(r.text, 400, internal);
    });

    it('a target that is neither origin- nor absolute-form: 400', async () => {
      const r = await rawRequest(gw.port, 'GET orders/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      assert.equal(statusCodes(r.text)[0], 400);
      assertRawProblem(r.text, 400, internal);
    });

    it('an encoded NUL or a broken escape in the path: 400', async () => {
      for (const path of ['/orders/%00', '/orders/%zz', '/orders/%4']) {
        const r = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
        assert.equal(statusCodes(r.text)[0], 400, path);
        assertRawProblem(r.text, 400, internal);
      }
      assert.deepEqual(
        reached('/orders/%').filter((u) => u !== '/orders/%2F'),
        [],
      );
    });
  });

  // Independent connections that mostly wait: run them side by side.
  describe('slow clients', { concurrency: true }, () => {
    it(`headers that stall: 408 problem+json and closed within ${HEADER_TIMEOUT_MS} ms + slack`, async () => {
      const r = await rawRequest(gw.port, 'GET /orders/slow-headers HTTP/1.1\r\nHost: a\r\nX-Half: ', {
        timeoutMs: HEADER_TIMEOUT_MS + DEADLINE_SLACK_MS + 1000,
      });
      assert.ok(r.closedByServer, 'the gateway never closed the connection');
      assert.ok(
        r.elapsedMs >= HEADER_TIMEOUT_MS - 100,
        `closed after ${r.elapsedMs} ms, before the deadline`,
      );
      assert.ok(r.elapsedMs < HEADER_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${r.elapsedMs} ms`);
      assert.deepEqual(statusCodes(r.text), [408]);
      assertRawProblem(r.text, 408, internal);
      assert.deepEqual(reached('/orders/slow-headers'), []);
    });

    it('headers trickled byte by byte still hit the header deadline', async () => {
      const head = 'GET /orders/trickle HTTP/1.1\r\nHost: a\r\nX-Long: ' + 'x'.repeat(40);
      const r = await rawRequest(gw.port, [...head], {
        delayBetweenMs: 80,
        timeoutMs: HEADER_TIMEOUT_MS + DEADLINE_SLACK_MS + 1000,
      });
      assert.ok(r.closedByServer);
      assert.ok(r.elapsedMs < HEADER_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${r.elapsedMs} ms`);
      assert.deepEqual(statusCodes(r.text), [408]);
      assertRawProblem(r.text, 408, internal);
    });

    it(`a body that never completes: 408 problem+json and closed within ${REQUEST_TIMEOUT_MS} ms + slack`, async () => {
      const r = await rawRequest(
        gw.port,
        'POST /orders/slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789',
        { timeoutMs: REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS + 1000 },
      );
      assert.ok(r.closedByServer, 'the gateway never closed the connection');
      assert.ok(
        r.elapsedMs >= REQUEST_TIMEOUT_MS - 100,
        `closed after ${r.elapsedMs} ms, before the deadline`,
      );
      assert.ok(r.elapsedMs < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${r.elapsedMs} ms`);
      assert.deepEqual(statusCodes(r.text), [408]);
      assertRawProblem(r.text, 408, internal);
      assert.deepEqual(reached('/orders/slow-body'), [], 'the upstream saw a complete request');
    });
  });

  describe('pipelining', () => {
    it('two well-formed requests on one keep-alive connection are both answered, in order', async () => {
      const before = up.received.length;
      const r = await rawRequest(
        gw.port,
        'GET /orders/pipe-1 HTTP/1.1\r\nHost: a\r\n\r\n' +
          'POST /orders/pipe-2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
          'GET /orders/pipe-3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [200, 200, 200]);
      const urls = [...r.text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
      assert.deepEqual(urls, ['/orders/pipe-1', '/orders/pipe-2', '/orders/pipe-3']);
      const got = up.received.slice(before);
      assert.deepEqual(got.map((g) => g.url).sort(), ['/orders/pipe-1', '/orders/pipe-2', '/orders/pipe-3']);
      assert.equal(got.find((g) => g.url === '/orders/pipe-2')?.body.toString(), 'hello');
    });

    it('a refused request after a good one: the good one is answered, the connection then closes', async () => {
      const r = await rawRequest(
        gw.port,
        'GET /orders/pipe-ok HTTP/1.1\r\nHost: a\r\n\r\n' +
          'POST /orders/pipe-bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
          'GET /orders/pipe-after HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.ok(r.closedByServer);
      assert.deepEqual(statusCodes(r.text), [200, 400]);
      assertRawProblem(r.text.slice(r.text.indexOf('HTTP/1.1 400')), 400, internal);
      assert.ok(reached('/orders/pipe-').includes('/orders/pipe-ok'));
      assert.ok(!reached('/orders/pipe-').includes('/orders/pipe-bad'));
      assert.ok(!reached('/orders/pipe-').includes('/orders/pipe-after'));
    });
  });
});
