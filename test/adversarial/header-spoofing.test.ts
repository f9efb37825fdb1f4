// Adversarial: header spoofing (issue 14, point 4.4). A client (peer 127.0.0.1, untrusted unless
// trusted_proxies lists it) tries to make the upstream believe another client address, scheme, host, port,
// path prefix, URL, method or identity. The recording upstream shows exactly which header lines reached it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { parseRawResponse, rawNames, rawValues } from '../fixtures/http-tools.js';
import {
  startRecordingUpstream,
  type RecordedRequest,
  type RecordingUpstream,
} from './helpers/recording-upstream.js';
import { RAW_TIMEOUT_MS, gatewayYaml, marker, receivedOnce, stopAll } from './helpers/adversarial.js';

const CLIENT_IP_HEADERS = [
  'X-Real-IP',
  'X-Client-IP',
  'True-Client-IP',
  'CF-Connecting-IP',
  'Fastly-Client-IP',
  'X-Cluster-Client-IP',
];
const URL_OVERRIDES = ['X-Original-URL', 'X-Rewrite-URL', 'X-Override-URL'];
const METHOD_OVERRIDES = ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override'];
const IDENTITY_HEADERS = [
  'X-Authenticated-User',
  'X-Authenticated-Roles',
  'X-Consumer-Id',
  'X-Consumer-Groups',
  'X_Authenticated_User',
  'x_consumer_id',
  'X-Authenticated_User',
  'X-AUTHENTICATED-ROLES',
];
const UNDERSCORE_FORWARDING = ['X_Forwarded_For', 'X_Real_IP', 'X_Forwarded_Host'];

/** A name folded the way CGI/WSGI/Rack backends read it: lower case, "_" as "-". */
const fold = (name: string) => name.toLowerCase().replaceAll('_', '-');

describe('adversarial: header spoofing', () => {
  let up: RecordingUpstream;
  /** Defaults: 127.0.0.1 is an untrusted peer. */
  let gw: TestGateway;
  /** real_ip_header: true. */
  let gwRealIp: TestGateway;
  /** trusted_proxies: 127.0.0.1/32. */
  let gwTrusted: TestGateway;

  before(async () => {
    up = await startRecordingUpstream();
    gw = await startTestGateway(gatewayYaml(up.url));
    gwRealIp = await startTestGateway(gatewayYaml(up.url, ['real_ip_header: true']));
    gwTrusted = await startTestGateway(gatewayYaml(up.url, ['trusted_proxies: ["127.0.0.1/32"]']));
  });
  after(() =>
    stopAll(
      () => gw?.stop(),
      () => gwRealIp?.stop(),
      () => gwTrusted?.stop(),
      () => up?.close(),
    ),
  );

  /**
   * Sends `METHOD path` with the given header lines (raw, in order) through `g`, expects 200 and returns
   * what the upstream received for it.
   */
  async function send(
    g: TestGateway,
    path: string,
    headerLines: readonly string[],
    opts: { method?: string; host?: string; m?: string } = {},
  ): Promise<RecordedRequest> {
    const m = opts.m ?? marker();
    const head =
      `${opts.method ?? 'GET'} ${path.replaceAll('{m}', m)} HTTP/1.1\r\nHost: ${opts.host ?? 'shop.example:8443'}\r\n` +
      headerLines.map((l) => `${l}\r\n`).join('') +
      'Connection: close\r\n\r\n';
    const r = await rawRequest(g.port, head, { timeoutMs: RAW_TIMEOUT_MS });
    assert.equal(parseRawResponse(r.text).status, 200, r.text.slice(0, 400));
    return receivedOnce(up, m);
  }

  /** The header lines (raw) whose name folds to `name`. */
  const linesNamed = (got: RecordedRequest, name: string) =>
    got.head.split('\r\n').filter((l) => l.includes(':') && fold(l.slice(0, l.indexOf(':')).trim()) === name);

  describe('client-address headers', () => {
    it('X-Real-IP, X-Client-IP, True-Client-IP, CF-Connecting-IP, Fastly-Client-IP, X-Cluster-Client-IP from an untrusted peer never reach the upstream', async () => {
      const got = await send(
        gw,
        '/api/{m}',
        CLIENT_IP_HEADERS.map((h) => `${h}: 6.6.6.6`),
      );
      const names = rawNames(got.headers);
      for (const h of CLIENT_IP_HEADERS)
        assert.ok(!names.includes(h.toLowerCase()), `${h} reached the upstream`);
      assert.ok(!got.head.includes('6.6.6.6'), `a spoofed address reached the upstream:\n${got.head}`);
    });

    it('real_ip_header: true sends exactly one X-Real-IP: 127.0.0.1, whatever the client claimed', async () => {
      const got = await send(gwRealIp, '/api/{m}', [
        'X-Real-IP: 6.6.6.6',
        'x-real-ip: 7.7.7.7',
        ...CLIENT_IP_HEADERS.slice(1).map((h) => `${h}: 6.6.6.6`),
      ]);
      assert.deepEqual(rawValues(got.headers, 'x-real-ip'), ['127.0.0.1']);
      assert.equal(linesNamed(got, 'x-real-ip').length, 1);
      for (const h of CLIENT_IP_HEADERS.slice(1))
        assert.deepEqual(rawValues(got.headers, h), [], `${h} reached the upstream`);
      assert.ok(!got.head.includes('6.6.6.6') && !got.head.includes('7.7.7.7'), got.head);
    });
  });

  describe('X-Forwarded-* and Forwarded from an untrusted peer', () => {
    const SPOOFED = [
      'X-Forwarded-For: 6.6.6.6',
      'X-Forwarded-Host: evil.example',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Port: 443',
      'X-Forwarded-Prefix: /evil',
      'X-Forwarded-Server: evil.example',
      'Forwarded: for=6.6.6.6;host=evil.example;proto=https',
    ];

    it('are replaced: For = peer, Host = client Host, Proto = http, Port = Host port, each exactly once; Prefix, Server and Forwarded absent', async () => {
      const got = await send(gw, '/api/{m}', SPOOFED, { host: 'shop.example:8443' });
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-host'), ['shop.example:8443']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-port'), ['8443']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-prefix'), []);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-server'), []);
      assert.deepEqual(rawValues(got.headers, 'forwarded'), []);
      for (const name of ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port'])
        assert.equal(linesNamed(got, name).length, 1, `${name} lines in the upstream bytes`);
      assert.ok(!got.head.includes('6.6.6.6') && !got.head.includes('evil'), got.head);
    });

    it('X-Forwarded-Port is the listener port when the client Host has no port', async () => {
      const got = await send(gw, '/api/{m}', ['X-Forwarded-Port: 443'], { host: 'shop.example' });
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-port'), [String(gw.port)]);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-host'), ['shop.example']);
    });

    it('strip_prefix: /svc/x reaches the upstream as "GET /x HTTP/1.1" with exactly X-Forwarded-Prefix: /svc (the client value dropped)', async () => {
      const m = marker();
      const got = await send(gw, '/svc/{m}', ['X-Forwarded-Prefix: /evil'], { m });
      assert.equal(got.requestLine, `GET /${m} HTTP/1.1`);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-prefix'), ['/svc']);
      assert.deepEqual(rawValues(got.headers, 'x-route'), ['stripped']);
      assert.ok(!got.head.includes('/evil'), got.head);
    });
  });

  describe('from a trusted proxy (trusted_proxies: 127.0.0.1/32)', () => {
    it('extends X-Forwarded-For and keeps the X-Forwarded-Proto/Host/Port and client-address headers it sent', async () => {
      const got = await send(gwTrusted, '/api/{m}', [
        'X-Forwarded-For: 1.2.3.4',
        'X-Forwarded-Proto: https',
        'X-Forwarded-Host: shop.example',
        'X-Forwarded-Port: 443',
        ...CLIENT_IP_HEADERS.map((h) => `${h}: 1.2.3.4`),
      ]);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-for'), ['1.2.3.4, 127.0.0.1']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-proto'), ['https']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-host'), ['shop.example']);
      assert.deepEqual(rawValues(got.headers, 'x-forwarded-port'), ['443']);
      for (const h of CLIENT_IP_HEADERS) assert.deepEqual(rawValues(got.headers, h), ['1.2.3.4'], h);
    });
  });

  describe('URL and method override headers', () => {
    const OVERRIDES = [
      'X-Original-URL: /admin/secret',
      'X-Rewrite-URL: /admin/secret',
      'X-Override-URL: /admin/secret',
      'X-HTTP-Method-Override: DELETE',
      'X-HTTP-Method: DELETE',
      'X-Method-Override: DELETE',
    ];

    for (const [who, pick] of [
      ['an untrusted peer', () => gw],
      ['a trusted proxy', () => gwTrusted],
    ] as const) {
      it(`never reach the upstream from ${who}`, async () => {
        const got = await send(pick(), '/api/{m}', OVERRIDES);
        for (const h of [...URL_OVERRIDES, ...METHOD_OVERRIDES])
          assert.deepEqual(rawValues(got.headers, h), [], `${h} reached the upstream`);
        assert.ok(!got.head.includes('/admin/secret') && !got.head.includes('DELETE'), got.head);
      });
    }

    it('on a route with method_override: true the method overrides pass (once each), the URL overrides still do not', async () => {
      const m = marker();
      const got = await send(gw, '/legacy/{m}', OVERRIDES, { method: 'POST', m });
      assert.equal(got.requestLine, `POST /legacy/${m} HTTP/1.1`);
      assert.deepEqual(rawValues(got.headers, 'x-route'), ['legacy']);
      for (const h of METHOD_OVERRIDES) assert.deepEqual(rawValues(got.headers, h), ['DELETE'], h);
      for (const h of URL_OVERRIDES)
        assert.deepEqual(rawValues(got.headers, h), [], `${h} reached the upstream`);
      assert.ok(!got.head.includes('/admin/secret'), got.head);
    });
  });

  describe('identity headers and "_" spellings', () => {
    for (const [who, pick] of [
      ['an untrusted peer', () => gw],
      ['a trusted proxy', () => gwTrusted],
    ] as const) {
      it(`identity headers in any case or "_" spelling never reach the upstream from ${who}`, async () => {
        const got = await send(
          pick(),
          '/api/{m}',
          IDENTITY_HEADERS.map((h) => `${h}: mallory`),
        );
        for (const name of rawNames(got.headers))
          assert.ok(
            !fold(name).startsWith('x-authenticated-') && !fold(name).startsWith('x-consumer-'),
            `${name} reached the upstream`,
          );
        assert.ok(!got.head.includes('mallory'), got.head);
      });

      it(`"_" spellings of forwarding/IP headers never reach the upstream from ${who}; an unrelated X_Custom_Thing passes unchanged`, async () => {
        const got = await send(pick(), '/api/{m}', [
          ...UNDERSCORE_FORWARDING.map((h) => `${h}: 6.6.6.6`),
          'X_Custom_Thing: 1',
        ]);
        const names = rawNames(got.headers);
        for (const h of UNDERSCORE_FORWARDING)
          assert.ok(!names.includes(h.toLowerCase()), `${h} reached the upstream`);
        assert.ok(!got.head.includes('6.6.6.6'), got.head);
        assert.deepEqual(rawValues(got.headers, 'x_custom_thing'), ['1']);
        assert.deepEqual(rawValues(got.headers, 'x-custom-thing'), []);
        // One X-Forwarded-For, the gateway's own (from the trusted proxy: the peer alone, no client chain).
        assert.deepEqual(rawValues(got.headers, 'x-forwarded-for'), ['127.0.0.1']);
      });
    }
  });
});
