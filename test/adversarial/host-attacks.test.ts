// Adversarial: Host header attacks and absolute-form authority confusion (issue 14, points 4.1 and 4.3).
// A gateway that routes on one host while the backend reads another can be steered into cache poisoning,
// password-reset poisoning or routing bypasses, so an ambiguous Host is refused with problem+json and the
// connection closed; a request pipelined behind it never reaches the upstream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { parseRawResponse, rawValues } from '../fixtures/http-tools.js';
import { startRecordingUpstream, type RecordingUpstream } from './helpers/recording-upstream.js';
import {
  RAW_TIMEOUT_MS,
  assertNeverReached,
  expectRefusal,
  marker,
  receivedOnce,
  gatewayYaml,
  stopAll,
} from './helpers/adversarial.js';

/** [what the case shows, the refused request ({m}: its marker)]. */
const HOST_REFUSALS: readonly (readonly [string, string])[] = [
  [
    'duplicate Host (different values)',
    'GET /api/{m} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n',
  ],
  ['duplicate Host (equal values)', 'GET /api/{m} HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n'],
  [
    'duplicate Host (names differing in case)',
    'GET /api/{m} HTTP/1.1\r\nHost: a.example\r\nhOST: b.example\r\n\r\n',
  ],
  ['HTTP/1.1 without Host', 'GET /api/{m} HTTP/1.1\r\nX-Other: 1\r\n\r\n'],
  ['Host with a space', 'GET /api/{m} HTTP/1.1\r\nHost: a.example b.example\r\n\r\n'],
  ['Host with a "/"', 'GET /api/{m} HTTP/1.1\r\nHost: a.example/admin\r\n\r\n'],
  ['Host with userinfo "@"', 'GET /api/{m} HTTP/1.1\r\nHost: user@a.example\r\n\r\n'],
  ['Host with a backslash', 'GET /api/{m} HTTP/1.1\r\nHost: a.example\\b.example\r\n\r\n'],
  ['Host with a control character (0x01)', 'GET /api/{m} HTTP/1.1\r\nHost: a.example\x01b\r\n\r\n'],
  ['Host with a control character (0x1f)', 'GET /api/{m} HTTP/1.1\r\nHost: a.example\x1fb\r\n\r\n'],
];

const AUTHORITY_REFUSALS: readonly (readonly [string, string])[] = [
  [
    'absolute-form naming another host than Host',
    'GET http://b.example/api/{m} HTTP/1.1\r\nHost: a.example\r\n\r\n',
  ],
  [
    'absolute-form with a port the Host lacks',
    'GET http://a.example:8080/api/{m} HTTP/1.1\r\nHost: a.example\r\n\r\n',
  ],
  [
    'absolute-form without the port the Host has',
    'GET http://a.example/api/{m} HTTP/1.1\r\nHost: a.example:8080\r\n\r\n',
  ],
  [
    'absolute-form with userinfo (http://a@b/)',
    'GET http://a.example@b.example/api/{m} HTTP/1.1\r\nHost: b.example\r\n\r\n',
  ],
  [
    'absolute-form with user:password userinfo',
    'GET http://u:p@b.example/api/{m} HTTP/1.1\r\nHost: b.example\r\n\r\n',
  ],
  [
    'absolute-form authority with a double quote',
    'GET http://a"b.example/api/{m} HTTP/1.1\r\nHost: a.example\r\n\r\n',
  ],
  ['absolute-form authority with "<"', 'GET http://a<b.example/api/{m} HTTP/1.1\r\nHost: a.example\r\n\r\n'],
  ['absolute-form authority with "{"', 'GET http://a{b}.example/api/{m} HTTP/1.1\r\nHost: a.example\r\n\r\n'],
  ['absolute-form with an empty authority', 'GET http:///api/{m} HTTP/1.1\r\nHost: a.example\r\n\r\n'],
];

describe('adversarial: Host and authority', () => {
  let up: RecordingUpstream;
  let gw: TestGateway;
  const refused: string[] = [];

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

  async function expectRefusedAndClosed(request: string): Promise<void> {
    const [m, s] = [marker(), marker()];
    refused.push(m, s);
    await expectRefusal(gw.port, up, {
      payload: Buffer.from(
        request.replaceAll('{m}', m) + `GET /api/${s} HTTP/1.1\r\nHost: a.example\r\n\r\n`,
        'latin1',
      ),
      status: 400,
      markers: [m, s],
      smuggledLines: [`GET /api/${s} HTTP/1.1`],
    });
  }

  describe('Host header', () => {
    for (const [what, request] of HOST_REFUSALS)
      it(`${what}: 400 problem+json, closed, the pipelined GET never reaches the upstream`, () =>
        expectRefusedAndClosed(request));
  });

  describe('absolute-form authority', () => {
    for (const [what, request] of AUTHORITY_REFUSALS)
      it(`${what}: 400 problem+json, closed, the pipelined GET never reaches the upstream`, () =>
        expectRefusedAndClosed(request));

    for (const [what, target, host] of [
      ['the authority equals Host case-insensitively', 'http://A.Example/api/{m}', 'a.example'],
      ['the authority and Host carry the same port', 'http://a.example:8080/api/{m}', 'a.example:8080'],
    ] as const) {
      it(`accepted when ${what}: forwarded in origin-form, X-Forwarded-Host from the client`, async () => {
        const m = marker();
        const r = await rawRequest(
          gw.port,
          `GET ${target.replaceAll('{m}', m)} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
          { timeoutMs: RAW_TIMEOUT_MS },
        );
        assert.equal(parseRawResponse(r.text).status, 200, r.text.slice(0, 400));
        const got = receivedOnce(up, m);
        assert.equal(got.requestLine, `GET /api/${m} HTTP/1.1`);
        assert.deepEqual(rawValues(got.headers, 'host'), [`127.0.0.1:${up.port}`]);
        assert.equal(rawValues(got.headers, 'x-forwarded-host').length, 1);
        assert.equal(rawValues(got.headers, 'x-forwarded-host')[0]!.toLowerCase(), host);
      });
    }
  });

  it('no refused or pipelined request reached the upstream at any time', () => {
    assert.ok(refused.length > 30);
    assertNeverReached(up, refused);
    for (const c of up.connections) assert.equal(c.parseError, undefined, `upstream connection ${c.id}`);
  });
});
