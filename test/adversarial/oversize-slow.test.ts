// Adversarial: oversized and slow inputs (issue 14, point 4.5). Heads, targets and bodies past the
// configured limits are refused with problem+json before the upstream sees a complete request, and slow
// clients (slowloris headers, a trickled body) are cut off within the configured deadlines plus slack.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, statusCodes } from '../helpers/raw-http.js';
import { parseRawResponse } from '../fixtures/http-tools.js';
import { startRecordingUpstream, type RecordingUpstream } from './helpers/recording-upstream.js';
import {
  RAW_TIMEOUT_MS,
  SETTLE_MS,
  assertNeverReached,
  assertNoCompleteRequest,
  assertRefusal,
  expectRefusal,
  gatewayYaml,
  internalNames,
  marker,
  receivedOnce,
  stopAll,
} from './helpers/adversarial.js';

const MAX_HEADER_BYTES = 4096;
const MAX_URL_LENGTH = 1024;
const MAX_BODY_BYTES = 1024;
const HEADER_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** The gateway checks the deadlines once a second; allow that plus scheduling noise on a busy CI box. */
const DEADLINE_SLACK_MS = 2500;

describe('adversarial: oversized and slow inputs', () => {
  let up: RecordingUpstream;
  let gw: TestGateway;
  const refused: string[] = [];

  before(async () => {
    up = await startRecordingUpstream();
    gw = await startTestGateway(
      gatewayYaml(up.url, [
        'limits:',
        `  max_header_bytes: ${MAX_HEADER_BYTES}`,
        `  max_url_length: ${MAX_URL_LENGTH}`,
        `  max_body_bytes: ${MAX_BODY_BYTES}`,
        `  header_timeout_ms: ${HEADER_TIMEOUT_MS}`,
        `  request_timeout_ms: ${REQUEST_TIMEOUT_MS}`,
      ]),
    );
  });
  after(() =>
    stopAll(
      () => gw?.stop(),
      () => up?.close(),
    ),
  );

  const smuggled = (s: string) => `GET /api/${s} HTTP/1.1\r\nHost: a\r\n\r\n`;

  describe('oversized', () => {
    it(`a head over max_header_bytes (${MAX_HEADER_BYTES}): 431 problem+json, closed, upstream sees nothing`, async () => {
      const [m, s] = [marker(), marker()];
      refused.push(m, s);
      await expectRefusal(gw.port, up, {
        payload:
          `GET /api/${m} HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(MAX_HEADER_BYTES * 2)}\r\n\r\n` +
          smuggled(s),
        status: 431,
        markers: [m, s],
        smuggledLines: [`GET /api/${s} HTTP/1.1`],
      });
    });

    it(`a head over max_header_bytes spread over many headers: 431, closed, upstream sees nothing`, async () => {
      const m = marker();
      refused.push(m);
      const many = Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'y'.repeat(40)}\r\n`).join('');
      await expectRefusal(gw.port, up, {
        payload: `GET /api/${m} HTTP/1.1\r\nHost: a\r\n${many}\r\n`,
        status: 431,
        markers: [m],
      });
    });

    it(`a target over max_url_length (${MAX_URL_LENGTH}): 414 problem+json, upstream sees nothing`, async () => {
      const m = marker();
      refused.push(m);
      await expectRefusal(gw.port, up, {
        payload: `GET /api/${m}?q=${'a'.repeat(MAX_URL_LENGTH + 10)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
        status: 414,
        markers: [m],
        closes: false,
      });
    });

    it(`a Content-Length over max_body_bytes (${MAX_BODY_BYTES}): 413 at once, closed, the "body" (a smuggled request) never reaches the upstream`, async () => {
      const [m, s] = [marker(), marker()];
      refused.push(m, s);
      // Only the start of the declared body is sent: the gateway must answer from the head alone.
      await expectRefusal(gw.port, up, {
        payload:
          `POST /api/${m} HTTP/1.1\r\nHost: a\r\nContent-Length: ${MAX_BODY_BYTES * 2}\r\n\r\n` + smuggled(s),
        status: 413,
        markers: [m, s],
        smuggledLines: [`GET /api/${s} HTTP/1.1`],
      });
    });

    it('a body of exactly max_body_bytes is forwarded whole, once (the limit is not off by one)', async () => {
      const m = marker();
      const body = m + 'b'.repeat(MAX_BODY_BYTES - m.length);
      const r = await rawRequest(
        gw.port,
        `POST /api/${m} HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        { timeoutMs: RAW_TIMEOUT_MS },
      );
      assert.equal(parseRawResponse(r.text).status, 200, r.text.slice(0, 400));
      assert.equal(receivedOnce(up, m).body.toString('latin1'), body);
    });

    it('a chunked body growing past max_body_bytes: 413 or the connection cut; the upstream never gets a complete request, nor the GET pipelined behind it', async () => {
      const [m, s] = [marker(), marker()];
      refused.push(s);
      const chunk = 'c'.repeat(300);
      const chunks = Array.from({ length: 5 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
      const r = await rawRequest(
        gw.port,
        `POST /api/${m} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n` +
          smuggled(s),
        { timeoutMs: RAW_TIMEOUT_MS },
      );
      assert.ok(r.closedByServer, 'the gateway left the connection open');
      const statuses = statusCodes(r.text);
      assert.ok(statuses.length <= 1, `more than one answer: ${JSON.stringify(statuses)}`);
      if (statuses.length === 1) assertRefusal(r.text, 413, internalNames(up));
      else assert.equal(r.text, '', 'a partial answer');
      // A request the gateway wrongly took from the rest of the stream is forwarded after the close: wait for it.
      await sleep(SETTLE_MS * 5);
      assertNoCompleteRequest(up, m);
      for (const got of up.requests.filter((q) => q.target.includes(m)))
        assert.ok(got.body.length <= MAX_BODY_BYTES, `the upstream received ${got.body.length} body bytes`);
      assertNeverReached(up, [s]);
    });
  });

  // Independent connections that mostly wait: run them side by side (markers keep their bytes apart).
  describe('slow clients', { concurrency: true }, () => {
    it(`slowloris headers (a byte every 200 ms): 408 problem+json within header_timeout_ms (${HEADER_TIMEOUT_MS}) + slack, upstream sees nothing`, async () => {
      const m = marker();
      refused.push(m);
      const trickle = [...`X-Slow: ${'s'.repeat(60)}\r\n\r\n`];
      const r = await rawRequest(gw.port, [`GET /api/${m} HTTP/1.1\r\nHost: a\r\n`, ...trickle], {
        delayBetweenMs: 200,
        timeoutMs: HEADER_TIMEOUT_MS + DEADLINE_SLACK_MS + 1000,
      });
      assert.ok(r.closedByServer, `the gateway never closed the connection (${r.elapsedMs} ms)`);
      assert.ok(
        r.elapsedMs >= HEADER_TIMEOUT_MS - 100,
        `closed after ${r.elapsedMs} ms, before the deadline`,
      );
      assert.ok(r.elapsedMs < HEADER_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${r.elapsedMs} ms`);
      assert.deepEqual(statusCodes(r.text), [408], r.text.slice(0, 400));
      assertRefusal(r.text, 408, internalNames(up));
      assertNeverReached(up, [m]);
    });

    it(`a slow body (Content-Length 100, a byte every 300 ms): the exchange ends within request_timeout_ms (${REQUEST_TIMEOUT_MS}) + slack, the upstream never gets the 100 bytes`, async () => {
      const m = marker();
      const head = `POST /api/${m} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n`;
      const r = await rawRequest(gw.port, [head, ...'0123456789'.repeat(10)], {
        delayBetweenMs: 300,
        timeoutMs: REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS + 1000,
      });
      assert.ok(r.closedByServer, `the gateway never ended the exchange (${r.elapsedMs} ms)`);
      assert.ok(r.elapsedMs < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `ended after ${r.elapsedMs} ms`);
      const statuses = statusCodes(r.text);
      assert.ok(statuses.length <= 1, `more than one answer: ${JSON.stringify(statuses)}`);
      if (statuses.length === 1) assertRefusal(r.text, 408, internalNames(up));
      assertNoCompleteRequest(up, m);
      for (const got of up.requests.filter((q) => q.target.includes(m)))
        assert.ok(got.body.length < 100, `the upstream received ${got.body.length} body bytes`);
    });
  });

  it('no refused request reached the upstream at any time', () => {
    assertNeverReached(up, refused);
    for (const c of up.connections) assert.equal(c.parseError, undefined, `upstream connection ${c.id}`);
  });
});
