// Adversarial: path confusion (issue 14, point 4.1). The gateway routes and forwards ONE canonical path:
// unreserved escapes decoded, other escapes upper-cased, "//" collapsed, dot segments resolved after
// decoding and never above "/". Encoded separators, NUL, ";"-parameters on dot segments and fragments are
// refused (per route `path_escapes`). Every case runs in origin-form and in absolute-form, and every
// assertion is on the exact bytes the upstream received (request line, X-Route of the forwarding route).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest, statusCodes } from '../helpers/raw-http.js';
import { parseRawResponse, rawValues } from '../fixtures/http-tools.js';
import { startRecordingUpstream, type RecordingUpstream } from './helpers/recording-upstream.js';
import {
  RAW_TIMEOUT_MS,
  assertNeverReached,
  assertRefusal,
  assertUpstreamUntouched,
  internalNames,
  marker,
  receivedOnce,
  gatewayYaml,
  stopAll,
} from './helpers/adversarial.js';

type Form = 'origin-form' | 'absolute-form';
const FORMS: readonly Form[] = ['origin-form', 'absolute-form'];

/** One GET for `path` in the given form (Host: a), closing after the answer. */
const requestFor = (form: Form, path: string) =>
  `GET ${form === 'origin-form' ? path : `http://a${path}`} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;

/** [what the case shows, target sent, target the upstream must see, route that must forward it]; {m} is the marker. */
const FORWARDED: readonly (readonly [string, string, string, string])[] = [
  ['unreserved escape %61 is decoded to "a"', '/api/%61{m}', '/api/a{m}', 'api'],
  ['unreserved escape %7E is decoded to "~"', '/api/%7E{m}', '/api/~{m}', 'api'],
  ['%2e inside a segment is decoded to "."', '/api/{m}%2ejson', '/api/{m}.json', 'api'],
  [
    'reserved and non-ASCII escapes are upper-cased, not decoded',
    '/api/{m}%3fq%c3%a9',
    '/api/{m}%3Fq%C3%A9',
    'api',
  ],
  ['"//" is collapsed', '//api//{m}///x', '/api/{m}/x', 'api'],
  ['"/./" is removed', '/api/./{m}', '/api/{m}', 'api'],
  ['"x/.." is resolved', '/api/x/../{m}', '/api/{m}', 'api'],
  [
    '%2e%2e is resolved after decoding: routed to admin, forwarded as /admin',
    '/api/%2e%2e/admin/{m}',
    '/admin/{m}',
    'admin',
  ],
  ['%2E%2E (upper case) is resolved the same way', '/api/%2E%2E/admin/{m}', '/admin/{m}', 'admin'],
  ['a half-encoded ".%2e" is resolved the same way', '/api/.%2e/admin/{m}', '/admin/{m}', 'admin'],
  ['dot segments never climb above "/"', '/api/../../../admin/{m}', '/admin/{m}', 'admin'],
  [
    'the query string is forwarded untouched',
    '/api/{m}?a=%2e%2e%2f&b=%7e',
    '/api/{m}?a=%2e%2e%2f&b=%7e',
    'api',
  ],
];

/** Targets refused with 400 on a route with the default `path_escapes: reject`. */
const REFUSED_DEFAULT: readonly (readonly [string, string])[] = [
  ['encoded slash %2F', '/api/a%2F{m}'],
  ['encoded slash %2f (lower case)', '/api/a%2f{m}'],
  ['encoded slash used to climb: ..%2F', '/api/..%2Fadmin/{m}'],
  ['encoded backslash %5C', '/api/a%5C{m}'],
  ['encoded backslash %5c (lower case)', '/api/a%5c{m}'],
  ['raw backslash', '/api/a\\{m}'],
  ['encoded NUL %00', '/api/a%00{m}'],
  ['"..;" (Tomcat path parameter on a dot segment)', '/api/..;/admin/{m}'],
  ['".;x" (path parameter on a single dot)', '/api/.;x/{m}'],
  ['"%2e%2e;jsessionid=1"', '/api/%2e%2e;jsessionid=1/admin/{m}'],
  ['a fragment "#" in the target', '/api/{m}#frag'],
  ['a fragment "#" after the query', '/api/{m}?q=1#frag'],
];

const FORWARDED_KEEP: readonly (readonly [string, string, string])[] = [
  ['%2f is kept encoded (upper-cased)', '/keep/a%2fb{m}', '/keep/a%2Fb{m}'],
  ['%5C is kept encoded', '/keep/a%5Cb{m}', '/keep/a%5Cb{m}'],
  ['a raw backslash is sent as %5C', '/keep/a\\b{m}', '/keep/a%5Cb{m}'],
  ['%2F..%2F is data, not a dot segment', '/keep/x%2F..%2F..%2Fadmin{m}', '/keep/x%2F..%2F..%2Fadmin{m}'],
];

const FORWARDED_DECODE: readonly (readonly [string, string, string])[] = [
  ['%2F is decoded to "/"', '/decode/a%2Fb{m}', '/decode/a/b{m}'],
  ['%5C is decoded to "/"', '/decode/a%5Cb{m}', '/decode/a/b{m}'],
  ['a raw backslash is read as "/"', '/decode/a\\b{m}', '/decode/a/b{m}'],
  ['decoded dot segments are resolved again, staying on the route', '/decode/x%2F..%2F{m}', '/decode/{m}'],
];

describe('adversarial: path canonicalization', () => {
  let up: RecordingUpstream;
  let gw: TestGateway;
  /** Markers of requests that must never reach the upstream (checked again at the end). */
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

  async function expectForwarded(form: Form, sent: string, forwarded: string, route: string): Promise<void> {
    const m = marker();
    const r = await rawRequest(gw.port, requestFor(form, sent.replaceAll('{m}', m)), {
      timeoutMs: RAW_TIMEOUT_MS,
    });
    const target = forwarded.replaceAll('{m}', m);
    const res = parseRawResponse(r.text);
    assert.equal(res.status, 200, r.text.slice(0, 400));
    assert.equal(res.body, `seen GET ${target}`);
    const got = receivedOnce(up, m);
    assert.equal(got.requestLine, `GET ${target} HTTP/1.1`);
    assert.deepEqual(rawValues(got.headers, 'x-route'), [route]);
  }

  async function expectRefused(form: Form, sent: string, status = 400): Promise<void> {
    const m = marker();
    refused.push(m);
    const mark = up.mark();
    const r = await rawRequest(gw.port, requestFor(form, sent.replaceAll('{m}', m)), {
      timeoutMs: RAW_TIMEOUT_MS,
    });
    assert.deepEqual(statusCodes(r.text), [status], r.text.slice(0, 400));
    assertRefusal(r.text, status, internalNames(up));
    await assertUpstreamUntouched(up, mark, [m]);
  }

  for (const form of FORMS) {
    describe(`${form}, default path_escapes (reject)`, () => {
      for (const [what, sent, forwarded, route] of FORWARDED)
        it(`${what}: ${sent} → upstream "GET ${forwarded} HTTP/1.1" via ${route}`, () =>
          expectForwarded(form, sent, forwarded, route));

      it('dot segments resolving outside every route: /api/a/../../../x → /x, 404, upstream sees nothing', () =>
        expectRefused(form, '/api/a/../../../{m}', 404));

      for (const [what, sent] of REFUSED_DEFAULT)
        it(`${what}: ${JSON.stringify(sent)} → 400 problem+json, upstream sees nothing`, () =>
          expectRefused(form, sent));
    });

    describe(`${form}, path_escapes: keep`, () => {
      for (const [what, sent, forwarded] of FORWARDED_KEEP)
        it(`${what}: ${JSON.stringify(sent)} → upstream "GET ${forwarded} HTTP/1.1"`, () =>
          expectForwarded(form, sent, forwarded, 'files-keep'));

      it('"..;" is still refused: 400, upstream sees nothing', () =>
        expectRefused(form, '/keep/..;/admin/{m}'));
    });

    describe(`${form}, path_escapes: decode`, () => {
      for (const [what, sent, forwarded] of FORWARDED_DECODE)
        it(`${what}: ${JSON.stringify(sent)} → upstream "GET ${forwarded} HTTP/1.1"`, () =>
          expectForwarded(form, sent, forwarded, 'files-decode'));

      it('a decoded path landing on a route that rejects escapes (/decode/x%2F..%2F..%2Fadmin → /admin): 400, upstream sees nothing', () =>
        expectRefused(form, '/decode/x%2F..%2F..%2Fadmin/{m}'));
    });
  }

  it('no refused request reached the upstream at any time, and every forwarded request was well-formed', () => {
    assert.ok(refused.length > 20);
    assertNeverReached(up, refused);
    for (const c of up.connections) assert.equal(c.parseError, undefined, `upstream connection ${c.id}`);
  });
});

// Tomcat, Jetty and Spring drop ";" parameters from every segment before routing: behind a catch-all route,
// "/admin;x/secret" would be served as /admin/secret without the admin route's checks.
describe('adversarial: ";" parameters that would move a request to another route', () => {
  let up: RecordingUpstream;
  let gw: TestGateway;

  before(async () => {
    up = await startRecordingUpstream();
    const route = (name: string, prefix: string) =>
      `  - name: ${name}\n    path_prefix: ${prefix}\n    upstream: ${up.url}\n` +
      `    headers: { request: { set: { X-Route: ${name} } } }\n`;
    gw = await startTestGateway(
      'gateway:\n  listen: "127.0.0.1:0"\n  admin: { listen: "127.0.0.1:0" }\n  shutdown_timeout_ms: 2000\n' +
        'routes:\n' +
        route('public', '/') +
        route('admin', '/admin') +
        route('orders', '/orders'),
    );
  });
  after(() =>
    stopAll(
      () => gw?.stop(),
      () => up?.close(),
    ),
  );

  const REFUSED: readonly (readonly [string, string])[] = [
    ['a parameter on the protected segment', '/admin;x/{m}'],
    ['an empty parameter', '/admin;/{m}'],
  ];
  for (const form of FORMS) {
    for (const [what, sent] of REFUSED)
      it(`${form}: ${what}: ${sent} (taken by the catch-all, /admin without it) → 400, upstream sees nothing`, async () => {
        const m = marker();
        const mark = up.mark();
        const r = await rawRequest(gw.port, requestFor(form, sent.replaceAll('{m}', m)), {
          timeoutMs: RAW_TIMEOUT_MS,
        });
        assert.deepEqual(statusCodes(r.text), [400], r.text.slice(0, 400));
        assertRefusal(r.text, 400, internalNames(up));
        await assertUpstreamUntouched(up, mark, [m]);
      });

    it(`${form}: matrix parameters inside one route's paths pass unchanged`, async () => {
      const m = marker();
      const r = await rawRequest(gw.port, requestFor(form, `/orders/${m};v=1/x`), {
        timeoutMs: RAW_TIMEOUT_MS,
      });
      assert.equal(parseRawResponse(r.text).status, 200, r.text.slice(0, 400));
      const got = receivedOnce(up, m);
      assert.equal(got.requestLine, `GET /orders/${m};v=1/x HTTP/1.1`);
      assert.deepEqual(rawValues(got.headers, 'x-route'), ['orders']);
    });
  }
});
