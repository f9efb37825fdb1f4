// Adversarial: HTTP/1 request smuggling and malformed framing (issue 14, point 4.2). Every ambiguous or
// malformed message is refused with problem+json and the connection is closed, so that a request pipelined
// behind it in the same write (often smuggled inside the refused request's "body") never reaches the
// upstream. Assertions are on the exact bytes the recording upstream received.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, statusCodes } from '../helpers/raw-http.js';
import { parseRawResponse } from '../fixtures/http-tools.js';
import { startRecordingUpstream, type RecordingUpstream } from './helpers/recording-upstream.js';
import {
  RAW_TIMEOUT_MS,
  assertNeverReached,
  assertNoCompleteRequest,
  assertRefusal,
  expectRefusal,
  internalNames,
  marker,
  receivedOnce,
  gatewayYaml,
  splitResponses,
  stopAll,
} from './helpers/adversarial.js';

interface FramingCase {
  readonly name: string;
  /** The refused request ({m}: its marker); the smuggled GET is appended after it in the same write. */
  readonly request: string;
  readonly status: number | readonly number[];
  /** Errors found while streaming the body may follow a cut-off forward; never a complete one. */
  readonly bodyError?: boolean;
}

/** A well-formed GET whose request line must never appear at the upstream. */
const smuggled = (s: string) => `GET /api/${s} HTTP/1.1\r\nHost: a\r\n\r\n`;
const smuggledLine = (s: string) => `GET /api/${s} HTTP/1.1`;

const POST = 'POST /api/{m} HTTP/1.1\r\nHost: a\r\n';
const BAD_TE: readonly number[] = [400, 501];

const TRANSFER_ENCODING: readonly FramingCase[] = [
  {
    name: 'HTTP/1.0 request with Transfer-Encoding: chunked',
    request: 'POST /api/{m} HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    status: 400,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked (well-formed, unsupported coding)',
    request: `${POST}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 501,
  },
  {
    // Without chunked last the body has no length the parser can know: refused by the parser itself (400).
    name: 'Transfer-Encoding: identity (no chunked last: the parser refuses it)',
    request: `${POST}Transfer-Encoding: identity\r\n\r\n`,
    status: 400,
  },
  {
    name: 'Transfer-Encoding: chunked, gzip (chunked not last)',
    request: `${POST}Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'Transfer-Encoding: xchunked',
    request: `${POST}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'Transfer-Encoding: chunk (truncated token)',
    request: `${POST}Transfer-Encoding: chunk\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'Transfer-Encoding: "chunked" (quoted)',
    request: `${POST}Transfer-Encoding: "chunked"\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'Transfer-Encoding: <VT>chunked (vertical tab before the token)',
    request: `${POST}Transfer-Encoding: \x0bchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'Transfer-Encoding: chunked, chunked (chunked applied twice)',
    request: `${POST}Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'duplicate Transfer-Encoding headers (chunked twice)',
    request: `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: 'duplicate Transfer-Encoding headers (chunked, then identity)',
    request: `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: '"Transfer-Encoding : chunked" (whitespace before the colon)',
    request: `${POST}Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: BAD_TE,
  },
  {
    name: '" Transfer-Encoding: chunked" hidden as an obs-fold continuation of the previous header',
    request: `${POST}X-Pad: 1\r\n Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
];

const CONTENT_LENGTH: readonly FramingCase[] = [
  {
    name: 'Content-Length then Transfer-Encoding (CL.TE)',
    request: `${POST}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`,
    status: 400,
  },
  {
    name: 'Transfer-Encoding then Content-Length (TE.CL)',
    request: `${POST}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'duplicate Content-Length with equal values',
    request: `${POST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    status: 400,
  },
  {
    name: 'duplicate Content-Length with different values',
    request: `${POST}Content-Length: 5\r\nContent-Length: 0\r\n\r\nhello`,
    status: 400,
  },
  {
    name: 'Content-Length as a list ("5, 5")',
    request: `${POST}Content-Length: 5, 5\r\n\r\nhello`,
    status: 400,
  },
  { name: 'Content-Length with a plus sign', request: `${POST}Content-Length: +5\r\n\r\nhello`, status: 400 },
  {
    name: 'Content-Length with a minus sign',
    request: `${POST}Content-Length: -5\r\n\r\nhello`,
    status: 400,
  },
  {
    name: 'Content-Length "5a" (trailing non-digit)',
    request: `${POST}Content-Length: 5a\r\n\r\nhello`,
    status: 400,
  },
  { name: 'Content-Length "0x5" (hex)', request: `${POST}Content-Length: 0x5\r\n\r\nhello`, status: 400 },
  { name: 'Content-Length "5.0" (decimal)', request: `${POST}Content-Length: 5.0\r\n\r\nhello`, status: 400 },
];

const CHUNKED = `${POST}Transfer-Encoding: chunked\r\n\r\n`;
const CHUNKS: readonly FramingCase[] = [
  { name: 'chunk size that is not hex ("zz")', request: `${CHUNKED}zz\r\nhello\r\n0\r\n\r\n` },
  {
    name: 'chunk size too long (17 hex digits)',
    request: `${CHUNKED}${'1' + '0'.repeat(16)}\r\nhello\r\n0\r\n\r\n`,
  },
  { name: 'negative chunk size ("-5")', request: `${CHUNKED}-5\r\nhello\r\n0\r\n\r\n` },
  { name: 'chunk size with trailing spaces ("5  ")', request: `${CHUNKED}5  \r\nhello\r\n0\r\n\r\n` },
  { name: 'chunk data longer than declared', request: `${CHUNKED}3\r\nhello\r\n0\r\n\r\n` },
  { name: 'chunk data shorter than declared', request: `${CHUNKED}5\r\nhey\r\n0\r\n\r\n` },
  { name: 'missing CRLF after chunk data', request: `${CHUNKED}5\r\nhello0\r\n\r\n` },
].map((c) => ({ ...c, status: 400, bodyError: true }));

const HEADER_SYNTAX: readonly FramingCase[] = [
  {
    name: 'obs-fold: a header line starting with a space',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n',
    status: 400,
  },
  {
    name: 'obs-fold: a header line starting with a tab',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n',
    status: 400,
  },
  { name: 'bare LF line endings throughout', request: 'GET /api/{m} HTTP/1.1\nHost: a\n\n', status: 400 },
  {
    name: 'a bare LF ending the request line',
    request: 'GET /api/{m} HTTP/1.1\nHost: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'a bare LF between header lines',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\nX-Other: 1\r\n\r\n',
    status: 400,
  },
  {
    name: 'a bare CR inside the header section',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\rX-Other: 1\r\n\r\n',
    status: 400,
  },
  {
    name: 'NUL in a header value',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n',
    status: 400,
  },
  {
    name: 'SOH (0x01) in a header value',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n',
    status: 400,
  },
  {
    name: 'ESC (0x1b) in a header value',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-A: a\x1bb\r\n\r\n',
    status: 400,
  },
  {
    name: 'DEL (0x7f) in a header value',
    request: 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n',
    status: 400,
  },
  {
    name: 'NUL in the request target',
    request: 'GET /api/{m}\x00x HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'SOH (0x01) in the request target',
    request: 'GET /api/{m}\x01x HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'DEL (0x7f) in the request target',
    request: 'GET /api/{m}\x7fx HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
];

const REQUEST_LINE: readonly FramingCase[] = [
  { name: 'missing HTTP version ("GET /api/x")', request: 'GET /api/{m}\r\nHost: a\r\n\r\n', status: 400 },
  {
    name: 'an extra token after the version',
    request: 'GET /api/{m} HTTP/1.1 x\r\nHost: a\r\n\r\n',
    status: 400,
  },
  { name: 'two spaces after the method', request: 'GET  /api/{m} HTTP/1.1\r\nHost: a\r\n\r\n', status: 400 },
  {
    name: 'two spaces before the version',
    request: 'GET /api/{m}  HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'a tab instead of the first space',
    request: 'GET\t/api/{m} HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'a tab instead of the second space',
    request: 'GET /api/{m}\tHTTP/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
  {
    name: 'an unknown protocol ("FOO/1.1")',
    request: 'GET /api/{m} FOO/1.1\r\nHost: a\r\n\r\n',
    status: 400,
  },
  { name: 'a lower-case method ("get")', request: 'get /api/{m} HTTP/1.1\r\nHost: a\r\n\r\n', status: 400 },
  {
    name: 'HTTP/2.0 on an HTTP/1 connection',
    request: 'GET /api/{m} HTTP/2.0\r\nHost: a\r\n\r\n',
    status: 505,
  },
  { name: 'HTTP/1.2', request: 'GET /api/{m} HTTP/1.2\r\nHost: a\r\n\r\n', status: 505 },
  { name: 'HTTP/3.0', request: 'GET /api/{m} HTTP/3.0\r\nHost: a\r\n\r\n', status: 505 },
];

describe('adversarial: HTTP/1 framing and smuggling', () => {
  let up: RecordingUpstream;
  let gw: TestGateway;
  /** Markers of requests that must never reach the upstream complete (checked again at the end). */
  const neverComplete: string[] = [];
  /** Markers of requests that must never reach the upstream at all. */
  const neverSeen: string[] = [];

  before(async () => {
    up = await startRecordingUpstream();
    gw = await startTestGateway(gatewayYaml(up.url));
  });
  after(() =>
    stopAll(
      () => gw?.stop(),
      () => up?.close(),
    ),
  );

  /** The refused request, then a smuggled GET in the same write: one refusal, closed, GET never forwarded. */
  async function expectRefusedAndClosed(c: FramingCase): Promise<void> {
    const m = marker();
    const s = marker();
    (c.bodyError ? neverComplete : neverSeen).push(m);
    neverSeen.push(s);
    await expectRefusal(gw.port, up, {
      payload: Buffer.from(c.request.replaceAll('{m}', m) + smuggled(s), 'latin1'),
      status: c.status,
      markers: c.bodyError ? [m] : [m, s],
      smuggledLines: [smuggledLine(s)],
      upstream: c.bodyError ? 'no-complete-request' : 'nothing',
    });
    if (c.bodyError) assertNeverReached(up, [s]);
  }

  for (const [group, cases] of [
    ['Transfer-Encoding other than exactly "chunked"', TRANSFER_ENCODING],
    ['Content-Length ambiguity', CONTENT_LENGTH],
    ['malformed chunked bodies', CHUNKS],
    ['header syntax and control characters', HEADER_SYNTAX],
    ['malformed request lines', REQUEST_LINE],
  ] as const) {
    describe(group, () => {
      for (const c of cases) {
        const statuses = typeof c.status === 'number' ? String(c.status) : c.status.join(' or ');
        it(`${c.name}: ${statuses} problem+json, closed, the pipelined GET never reaches the upstream`, () =>
          expectRefusedAndClosed(c));
      }
    });
  }

  describe('pipelining', () => {
    /** Malformed requests to sandwich between two valid GETs. */
    const MIDDLE: readonly (readonly [string, string])[] = [
      ['CL.TE', `${POST}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`],
      ['doubled space in the request line', 'GET  /api/{m} HTTP/1.1\r\nHost: a\r\n\r\n'],
      ['obs-fold', 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n'],
      ['duplicate Host', 'GET /api/{m} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
      ['a bad chunk size', `${CHUNKED}zz\r\nhello\r\n0\r\n\r\n`],
    ];
    for (const [what, middle] of MIDDLE) {
      it(`valid GET, then ${what}, then valid GET in one write: 200 + forwarded, refused, third never forwarded nor answered`, async () => {
        const [m1, m2, m3] = [marker(), marker(), marker()];
        neverComplete.push(m2);
        neverSeen.push(m3);
        const r = await rawRequest(
          gw.port,
          Buffer.from(
            `GET /api/${m1} HTTP/1.1\r\nHost: a\r\n\r\n` + middle.replaceAll('{m}', m2) + smuggled(m3),
            'latin1',
          ),
          { timeoutMs: RAW_TIMEOUT_MS },
        );
        assert.ok(r.closedByServer, 'the gateway left the connection open');
        assert.deepEqual(statusCodes(r.text), [200, 400], r.text.slice(0, 800));
        const [first, second] = splitResponses(r.text);
        assert.equal(parseRawResponse(first!).body, `seen GET /api/${m1}`);
        assertRefusal(second!, 400, internalNames(up));
        assert.equal(receivedOnce(up, m1).requestLine, `GET /api/${m1} HTTP/1.1`);
        assertNoCompleteRequest(up, m2);
        assertNeverReached(up, [m3]);
        assert.ok(!up.allText().includes(smuggledLine(m3)));
      });
    }

    it('three pipelined GETs in one write: all 200, in order, each forwarded once exactly', async () => {
      const ms = [marker(), marker(), marker()];
      const r = await rawRequest(
        gw.port,
        `GET /api/${ms[0]} HTTP/1.1\r\nHost: a\r\n\r\n` +
          `GET /api/${ms[1]} HTTP/1.1\r\nHost: a\r\n\r\n` +
          `GET /api/${ms[2]} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
        { timeoutMs: RAW_TIMEOUT_MS },
      );
      assert.deepEqual(statusCodes(r.text), [200, 200, 200], r.text.slice(0, 800));
      assert.deepEqual(
        splitResponses(r.text).map((t) => parseRawResponse(t).body),
        ms.map((m) => `seen GET /api/${m}`),
      );
      for (const m of ms) assert.equal(receivedOnce(up, m).requestLine, `GET /api/${m} HTTP/1.1`);
    });

    it('a POST with a Content-Length body then a GET in one write: both 200, the body reaches the upstream once', async () => {
      const [m1, m2] = [marker(), marker()];
      const body = `body-of-${m1}`;
      const r = await rawRequest(
        gw.port,
        `POST /api/${m1} HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
          `GET /api/${m2} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
        { timeoutMs: RAW_TIMEOUT_MS },
      );
      assert.deepEqual(statusCodes(r.text), [200, 200], r.text.slice(0, 800));
      assert.deepEqual(
        splitResponses(r.text).map((t) => parseRawResponse(t).body),
        [`seen POST /api/${m1}`, `seen GET /api/${m2}`],
      );
      const post = receivedOnce(up, m1);
      assert.equal(post.requestLine, `POST /api/${m1} HTTP/1.1`);
      assert.equal(post.body.toString('latin1'), body);
      assert.equal(up.allText().split(body).length - 1, 1, 'the body reached the upstream more than once');
      const get = receivedOnce(up, m2);
      assert.equal(get.requestLine, `GET /api/${m2} HTTP/1.1`);
      assert.equal(get.body.length, 0);
    });

    it('a chunked POST then a GET in one write: both 200, the de-chunked body reaches the upstream once', async () => {
      const [m1, m2] = [marker(), marker()];
      const parts = [`first-${m1}`, `second-${m1}`];
      const chunked = parts.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
      const r = await rawRequest(
        gw.port,
        `POST /api/${m1} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
          `GET /api/${m2} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
        { timeoutMs: RAW_TIMEOUT_MS },
      );
      assert.deepEqual(statusCodes(r.text), [200, 200], r.text.slice(0, 800));
      assert.deepEqual(
        splitResponses(r.text).map((t) => parseRawResponse(t).body),
        [`seen POST /api/${m1}`, `seen GET /api/${m2}`],
      );
      const post = receivedOnce(up, m1);
      assert.equal(post.requestLine, `POST /api/${m1} HTTP/1.1`);
      assert.equal(post.body.toString('latin1'), parts.join(''));
      for (const p of parts)
        assert.equal(up.allText().split(p).length - 1, 1, `${p} reached the upstream more than once`);
      assert.equal(receivedOnce(up, m2).requestLine, `GET /api/${m2} HTTP/1.1`);
    });
  });

  it('no refused or smuggled request reached the upstream at any time; every forwarded request was well-formed', () => {
    assert.ok(neverSeen.length > 40);
    assertNeverReached(up, neverSeen);
    for (const m of neverComplete) assertNoCompleteRequest(up, m);
    for (const c of up.connections) assert.equal(c.parseError, undefined, `upstream connection ${c.id}`);
  });
});
