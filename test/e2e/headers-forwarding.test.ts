// E2E header/path forwarding: hop-by-hop both ways, X-Forwarded-*/Forwarded, strip_prefix/preserve_host, normalization, traceparent.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import {
  startUpstream,
  type ReceivedRequest,
  type TestUpstream,
  type UpstreamHandler,
} from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { httpRequest, parseRawResponse, rawNames, rawValues, waitFor } from '../fixtures/http-tools.js';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
];

/** A raw upstream (node:http refuses some of these) answering with connection-specific response headers. */
async function startHopByHopUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const body = '{"from":"raw"}';
  const response =
    'HTTP/1.1 200 OK\r\nConnection: X-Secret, X-Other\r\nConnection: X-Third\r\nX-Secret: 1\r\nX-Other: 2\r\n' +
    'X-Third: 3\r\nKeep-Alive: timeout=99, max=7\r\nProxy-Authenticate: Basic realm="upstream"\r\n' +
    'Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X-Checksum\r\nTE: trailers\r\nX-Visible: yes\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    let head = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        socket.write(response);
      }
    });
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

/** Echo upstream, except for a path that tries to drop the gateway's response headers. */
const handler: UpstreamHandler = (req, res) => {
  const body = JSON.stringify({ url: req.url });
  const len = String(Buffer.byteLength(body));
  if (req.url?.startsWith('/policy/resp-trick')) {
    // Tries to make the gateway drop its own response headers by naming them in Connection.
    res.writeHead(200, [
      'Connection',
      'X-Trace-Id, traceparent, X-Frame-Options, X-Policy-Added',
      'Content-Type',
      'application/json',
      'Content-Length',
      len,
    ]);
  } else {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': len });
  }
  res.end(body);
};

describe('headers forwarding', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let gwTrusted: TestGateway;
  let gwForwarded: TestGateway;
  let hopUp: { port: number; close(): Promise<void> };

  /** The one request the upstream received with this exact URL. */
  const receivedAt = (url: string): ReceivedRequest => {
    const matches = up.received.filter((r) => r.url === url);
    assert.equal(matches.length, 1, `upstream received ${url} ${matches.length} times`);
    return matches[0]!;
  };

  before(async () => {
    up = await startUpstream(handler);
    hopUp = await startHopByHopUpstream();
    const routes = `
routes:
  - name: orders
    path_prefix: /orders
    upstream: ${up.url}
  - name: public
    path_prefix: /public
    upstream: ${up.url}
    headers: { request: { set: { X-Route: public } } }
  - name: admin
    path_prefix: /admin
    upstream: ${up.url}
    headers: { request: { set: { X-Route: admin } } }
  - name: api
    path_prefix: /api
    upstream: ${up.url}/base
    strip_prefix: true
  - name: strip
    path_prefix: /strip
    upstream: ${up.url}
    strip_prefix: true
  - name: based
    path_prefix: /based
    upstream: ${up.url}/base/
  - name: keep-host
    path_prefix: /keep-host
    upstream: ${up.url}
    preserve_host: true
  - name: raw-hop
    path_prefix: /raw-hop
    upstream: http://127.0.0.1:${hopUp.port}
  - name: policy
    path_prefix: /policy
    upstream: ${up.url}
    headers:
      request: { set: { X-Api-Version: "2" }, add: { X-Added: "yes" } }
      response: { set: { X-Frame-Options: DENY }, add: { X-Policy-Added: "1" } }
`;
    gw = await startTestGateway(routes);
    gwTrusted = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  trusted_proxies: ["127.0.0.1/32", "10.0.0.0/8"]
${routes}`);
    gwForwarded = await startTestGateway(`
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  forwarded_header: true
${routes}`);
  });
  after(async () => {
    await gw?.stop();
    await gwTrusted?.stop();
    await gwForwarded?.stop();
    await up?.close();
    await hopUp?.close();
  });

  describe('hop-by-hop headers', () => {
    it('removes hop-by-hop request headers and every header the client names in Connection', async () => {
      const r = await rawRequest(
        gw.port,
        'GET /orders/hop HTTP/1.1\r\nHost: public.example\r\n' +
          'Connection: close, X-Foo\r\nConnection: x-BAR\r\n' +
          'Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: h2c\r\n' +
          'Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n' +
          'X-Foo: 1\r\nX-Bar: 2\r\nX-Kept: 3\r\n\r\n',
      );
      assert.equal(parseRawResponse(r.text).status, 200);
      const got = receivedAt('/orders/hop');
      const names = rawNames(got.rawHeaders);
      for (const h of ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection'])
        assert.ok(!names.includes(h), `${h} reached the upstream`);
      assert.ok(!names.includes('x-foo'), 'X-Foo (named in Connection) reached the upstream');
      assert.ok(!names.includes('x-bar'), 'X-Bar (named in a second Connection line) reached the upstream');
      // The gateway's own connection to the upstream may say keep-alive/close; never the client's tokens.
      for (const v of rawValues(got.rawHeaders, 'connection')) assert.match(v, /^(keep-alive|close)$/i);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-kept'), ['3']);
    });

    it("never forwards the client's Transfer-Encoding; the chunked body arrives intact", async () => {
      const r = await rawRequest(
        gw.port,
        'POST /orders/te HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTRANSFER-ENCODING: chunked\r\n\r\n' +
          '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      );
      assert.equal(parseRawResponse(r.text).status, 200);
      const got = receivedAt('/orders/te');
      assert.equal(got.body.toString(), 'hello world');
      assert.ok(!got.rawHeaders.includes('TRANSFER-ENCODING'), "the client's header line was forwarded");
      assert.ok(rawValues(got.rawHeaders, 'transfer-encoding').length <= 1);
      assert.ok(rawValues(got.rawHeaders, 'content-length').every((v) => v === '11'));
    });

    it('removes hop-by-hop response headers and every header the upstream names in Connection', async () => {
      const r = await rawRequest(gw.port, 'GET /raw-hop HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      const res = parseRawResponse(r.text);
      assert.equal(res.status, 200);
      for (const h of [
        'x-secret',
        'x-other',
        'x-third',
        'keep-alive',
        'proxy-authenticate',
        'proxy-connection',
        'upgrade',
        'trailer',
        'te',
      ])
        assert.ok(!res.headers.has(h), `${h} reached the client`);
      assert.deepEqual(res.headers.get('connection'), ['close']);
      assert.deepEqual(res.headers.get('x-visible'), ['yes']);
      assert.equal(res.body, '{"from":"raw"}');
    });

    it("a client cannot drop the gateway's forwarding, trace and policy headers through Connection", async () => {
      const r = await rawRequest(
        gw.port,
        'GET /policy/trick HTTP/1.1\r\nHost: public.example\r\n' +
          'Connection: close, X-Forwarded-For, X-Trace-Id, traceparent, X-Forwarded-Proto, X-Forwarded-Host\r\n' +
          'Connection: X-Api-Version, X-Added\r\n' +
          'X-Forwarded-For: 6.6.6.6\r\nX-Trace-Id: client-chosen\r\nX-Api-Version: 1\r\n\r\n',
      );
      const res = parseRawResponse(r.text);
      assert.equal(res.status, 200);
      const got = receivedAt('/policy/trick');
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-host'), ['public.example']);
      const traceIds = rawValues(got.rawHeaders, 'x-trace-id');
      assert.equal(traceIds.length, 1);
      assert.match(traceIds[0]!, /^[0-9a-f]{32}$/);
      const tp = rawValues(got.rawHeaders, 'traceparent');
      assert.equal(tp.length, 1);
      assert.match(tp[0]!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-api-version'), ['2']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-added'), ['yes']);
      assert.deepEqual(res.headers.get('x-trace-id'), traceIds);
      assert.deepEqual(res.headers.get('traceparent'), tp);
    });

    it("an upstream cannot drop the gateway's trace and policy response headers through Connection", async () => {
      const r = await rawRequest(
        gw.port,
        'GET /policy/resp-trick HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      );
      const res = parseRawResponse(r.text);
      assert.equal(res.status, 200);
      const got = receivedAt('/policy/resp-trick');
      assert.deepEqual(res.headers.get('x-trace-id'), rawValues(got.rawHeaders, 'x-trace-id'));
      assert.deepEqual(res.headers.get('traceparent'), rawValues(got.rawHeaders, 'traceparent'));
      assert.deepEqual(res.headers.get('x-frame-options'), ['DENY']);
      assert.deepEqual(res.headers.get('x-policy-added'), ['1']);
    });
  });

  describe('X-Forwarded-* and Forwarded', () => {
    const spoofed = {
      host: 'public.example:8443',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      forwarded: 'for=203.0.113.9;proto=https',
    };
    const clientIpOf = (g: TestGateway, path: string) =>
      waitFor(() => g.accessLines().find((l) => l.path === path)?.client_ip, 2000, `access line for ${path}`);

    it('replaces client-sent forwarding headers from an untrusted peer', async () => {
      const res = await httpRequest(gw.port, { path: '/orders/xff-untrusted', headers: spoofed });
      assert.equal(res.status, 200);
      const got = receivedAt('/orders/xff-untrusted');
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-host'), ['public.example:8443']);
      assert.deepEqual(rawValues(got.rawHeaders, 'forwarded'), []);
      assert.equal(await clientIpOf(gw, '/orders/xff-untrusted'), '127.0.0.1');
    });

    it('keeps and extends the chain from a trusted proxy; client_ip is the first untrusted hop from the right', async () => {
      const res = await httpRequest(gwTrusted.port, {
        path: '/orders/xff-trusted-1',
        headers: [
          'Host',
          'public.example:8443',
          'X-Forwarded-For',
          '198.51.100.1, 203.0.113.9',
          'X-Forwarded-For',
          '10.1.2.3',
          'X-Forwarded-Proto',
          'https',
          'X-Forwarded-Host',
          'shop.example',
          'Forwarded',
          'for=203.0.113.9;proto=https',
        ],
      });
      assert.equal(res.status, 200);
      const got = receivedAt('/orders/xff-trusted-1');
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-for'), [
        '198.51.100.1, 203.0.113.9, 10.1.2.3, 127.0.0.1',
      ]);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-proto'), ['https']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-forwarded-host'), ['shop.example']);
      assert.deepEqual(rawValues(got.rawHeaders, 'forwarded'), ['for=203.0.113.9;proto=https']);
      // 127.0.0.1 and 10.1.2.3 are trusted; 203.0.113.9 is the client; the leftmost entry is unverifiable.
      assert.equal(await clientIpOf(gwTrusted, '/orders/xff-trusted-1'), '203.0.113.9');
    });

    it('uses the trusted peer itself when there is no chain, and the leftmost hop when all are trusted', async () => {
      await httpRequest(gwTrusted.port, { path: '/orders/xff-trusted-2' });
      assert.deepEqual(rawValues(receivedAt('/orders/xff-trusted-2').rawHeaders, 'x-forwarded-for'), [
        '127.0.0.1',
      ]);
      assert.equal(await clientIpOf(gwTrusted, '/orders/xff-trusted-2'), '127.0.0.1');
      await httpRequest(gwTrusted.port, {
        path: '/orders/xff-trusted-3',
        headers: { 'x-forwarded-for': '10.9.9.9, 10.1.1.1' },
      });
      assert.equal(await clientIpOf(gwTrusted, '/orders/xff-trusted-3'), '10.9.9.9');
    });

    it('forwarded_header: true adds an RFC 7239 element and replaces an untrusted client one', async () => {
      const res = await httpRequest(gwForwarded.port, { path: '/orders/fwd-1', headers: spoofed });
      assert.equal(res.status, 200);
      assert.deepEqual(rawValues(receivedAt('/orders/fwd-1').rawHeaders, 'forwarded'), [
        'for=127.0.0.1;host="public.example:8443";proto=http',
      ]);
      assert.deepEqual(rawValues(receivedAt('/orders/fwd-1').rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
      await httpRequest(gwForwarded.port, { path: '/orders/fwd-2', headers: { host: 'public.example' } });
      assert.deepEqual(rawValues(receivedAt('/orders/fwd-2').rawHeaders, 'forwarded'), [
        'for=127.0.0.1;host=public.example;proto=http',
      ]);
    });
  });

  describe('upstream path and Host', () => {
    const urlFor = async (g: TestGateway, path: string): Promise<string> => {
      const res = await httpRequest(g.port, { path });
      assert.equal(res.status, 200, `${path} → ${res.status} ${res.body.toString()}`);
      return (JSON.parse(res.body.toString()) as { url: string }).url;
    };

    it('strip_prefix with an upstream base path; the query string goes through untouched', async () => {
      assert.equal(
        await urlFor(gw, '/api/rest/x?q=a%20b&c=%2F&d=1+2&e=%41&f=%7e&&g'),
        '/base/rest/x?q=a%20b&c=%2F&d=1+2&e=%41&f=%7e&&g',
      );
      assert.equal(await urlFor(gw, '/api'), '/base');
      assert.equal(await urlFor(gw, '/api?x=1'), '/base?x=1');
      assert.equal(await urlFor(gw, '/api/'), '/base/');
    });

    it('strip_prefix without a base path, and a base path without strip_prefix', async () => {
      assert.equal(await urlFor(gw, '/strip/rest?z=1'), '/rest?z=1');
      assert.equal(await urlFor(gw, '/strip'), '/');
      assert.equal(await urlFor(gw, '/strip?z=1'), '/?z=1');
      assert.equal(await urlFor(gw, '/based/7'), '/base/based/7');
    });

    it("preserve_host sends the client's Host; otherwise the upstream's host:port", async () => {
      await httpRequest(gw.port, { path: '/keep-host/1', headers: { host: 'public.example:8443' } });
      assert.deepEqual(rawValues(receivedAt('/keep-host/1').rawHeaders, 'host'), ['public.example:8443']);
      await httpRequest(gw.port, { path: '/orders/host-1', headers: { host: 'public.example:8443' } });
      assert.deepEqual(rawValues(receivedAt('/orders/host-1').rawHeaders, 'host'), [`127.0.0.1:${up.port}`]);
    });

    it('sends the normalized path upstream', async () => {
      assert.equal(await urlFor(gw, '/orders/../orders/./7'), '/orders/7');
      assert.equal(await urlFor(gw, '//orders///7/'), '/orders/7/');
      assert.equal(await urlFor(gw, '/orders/%7euser/%41?x=%41'), '/orders/~user/A?x=%41');
      assert.equal(await urlFor(gw, '/orders/caf%c3%a9'), '/orders/caf%C3%A9');
    });

    it('routes by the normalized path: /public/../admin goes to the admin route', async () => {
      const res = await httpRequest(gw.port, { path: '/public/../admin/x' });
      assert.equal(res.status, 200);
      const got = receivedAt('/admin/x');
      assert.deepEqual(rawValues(got.rawHeaders, 'x-route'), ['admin']);
      const enc = await httpRequest(gw.port, { path: '/public/%2e%2e/admin/y' });
      assert.equal(enc.status, 200);
      assert.deepEqual(rawValues(receivedAt('/admin/y').rawHeaders, 'x-route'), ['admin']);
    });

    it('an encoded slash is refused by default (path_escapes: reject): /public/..%2Fadmin reaches no upstream', async () => {
      const before = up.received.length;
      for (const path of ['/public/..%2Fadmin', '/orders/a%2fb', '/orders/a%5Cb']) {
        const res = await httpRequest(gw.port, { path });
        assert.equal(res.status, 400, path);
        assert.equal(res.headers['content-type'], 'application/problem+json');
      }
      assert.equal(up.received.length, before);
    });
  });

  describe('W3C trace context', () => {
    const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
    const PARENT = '00f067aa0ba902b7';

    it('continues a valid traceparent with a new parent span id and echoes it', async () => {
      const res = await httpRequest(gw.port, {
        path: '/orders/tp-valid',
        headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=1' },
      });
      const got = receivedAt('/orders/tp-valid');
      const sent = rawValues(got.rawHeaders, 'traceparent');
      assert.equal(sent.length, 1);
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(sent[0]!);
      assert.ok(m, sent[0]);
      assert.equal(m[1], TRACE);
      assert.notEqual(m[2], PARENT);
      assert.notEqual(m[2], '0000000000000000');
      assert.equal(res.headers.traceparent, sent[0]);
      assert.deepEqual(rawValues(got.rawHeaders, 'tracestate'), ['vendor=1']);
      assert.deepEqual(rawValues(got.rawHeaders, 'x-trace-id'), [TRACE]);
      assert.equal(res.headers['x-trace-id'], TRACE);
    });

    it('keeps the trace flags of a valid traceparent', async () => {
      await httpRequest(gw.port, {
        path: '/orders/tp-flags',
        headers: { traceparent: `00-${TRACE}-${PARENT}-00` },
      });
      assert.match(
        rawValues(receivedAt('/orders/tp-flags').rawHeaders, 'traceparent')[0]!,
        new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`),
      );
    });

    const invalid = [
      'garbage',
      `00-00000000000000000000000000000000-${PARENT}-01`,
      `00-${TRACE}-0000000000000000-01`,
      `ff-${TRACE}-${PARENT}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      `00-${TRACE}-${PARENT}-01-extra`,
      `00-${TRACE.slice(1)}-${PARENT}-01`,
    ];
    for (const [i, value] of invalid.entries()) {
      it(`replaces an invalid traceparent (${value.slice(0, 24)}…)`, async () => {
        const path = `/orders/tp-invalid-${i}`;
        const res = await httpRequest(gw.port, {
          path,
          headers: { traceparent: value, tracestate: 'vendor=1' },
        });
        const got = receivedAt(path);
        const sent = rawValues(got.rawHeaders, 'traceparent');
        assert.equal(sent.length, 1);
        const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(sent[0]!);
        assert.ok(m, sent[0]);
        assert.notEqual(m[1], TRACE);
        assert.notEqual(m[1], '00000000000000000000000000000000');
        assert.equal(res.headers.traceparent, sent[0]);
        assert.deepEqual(
          rawValues(got.rawHeaders, 'tracestate'),
          [],
          'tracestate without a valid traceparent',
        );
      });
    }
  });

  it('never forwards a hop-by-hop header in any of the requests above', () => {
    assert.ok(up.received.length > 20);
    for (const r of up.received) {
      const names = rawNames(r.rawHeaders);
      for (const h of HOP_BY_HOP.filter((n) => n !== 'connection' && n !== 'transfer-encoding'))
        assert.ok(!names.includes(h), `${h} reached the upstream on ${r.url}`);
    }
  });
});
