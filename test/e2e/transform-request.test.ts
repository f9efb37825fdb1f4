// The transform policy on the way up, end to end over real sockets: the brief's DSL (flow and block YAML),
// header edits and templates (consumer, header, query, path parameter, trace id) that cannot inject a header,
// query edits that leave other parameters byte for byte, path rewrites and their interplay with strip_prefix,
// JSON body field operations (dotted paths and JSON Pointers), xml_to_json, request-side pagination, body
// limits (declared, chunked, and streaming untouched without body rules), gzip request bodies, and bodies
// the rules cannot read (pass with a warning, or 400 / 415).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { startUpstream, type ReceivedRequest, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import {
  assertProblemBody,
  assertRawProblem,
  httpRequest,
  parseRawResponse,
  rawValues,
  waitFor,
  type PlainResponse,
} from '../fixtures/http-tools.js';

const API_KEY = 'pk_transform_0123456789abcdef';
const sha = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** The upstream answers a small JSON array on the brief's routes and a JSON object elsewhere. */
const ORDERS = '[{"id":1},{"id":2}]';

describe('transform: request side', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  /** The one request the upstream received whose URL starts with `prefix`. */
  const receivedAt = (prefix: string): ReceivedRequest => {
    const matches = up.received.filter((r) => r.url.startsWith(prefix));
    assert.equal(matches.length, 1, `upstream received ${prefix} ${matches.length} times`);
    return matches[0]!;
  };
  const upstreamSaw = (prefix: string): boolean => up.received.some((r) => r.url.startsWith(prefix));
  const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    httpRequest(gw.port, {
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  const json = (res: PlainResponse): unknown => JSON.parse(res.body.toString('utf8'));
  const problem = (res: PlainResponse, status: number): Record<string, unknown> => {
    assert.equal(res.status, status, res.body.toString());
    const p = assertProblemBody(res.headers['content-type'], res.body.toString(), status);
    assert.equal(p.trace_id, res.headers['x-trace-id'], 'the problem names the trace id of the response');
    return p;
  };

  before(async () => {
    up = await startUpstream((req, res) => {
      const body = req.url!.startsWith('/v1/orders') || req.url!.startsWith('/v2/orders') ? ORDERS : '{}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    gw = await startTestGateway(`
auth:
  api_key: { header: X-Api-Key }
consumers:
  - id: mobile-app
    tier: pro
    api_keys: ["sha256:${sha(API_KEY)}"]
routes:
  - name: brief-flow
    match: { path: /v1/orders }
    upstream: ${up.url}
    transform: { request: { json_to_xml: true, add_headers: { X-Client-Type: legacy } }, response: { wrap_json: data, add_pagination: { page_param: page, size_param: size, default_size: 25 } } }
  - name: brief-block
    match: { path: /v2/orders }
    upstream: ${up.url}
    transform:
      request:
        json_to_xml: true
        add_headers:
          X-Client-Type: legacy
      response:
        wrap_json: data
        add_pagination:
          page_param: page
          size_param: size
          default_size: 25
  - name: header-edits
    path: /hdr
    upstream: ${up.url}
    transform:
      request:
        remove_headers: [X-Drop-Brief]
        headers:
          set: { X-Set: fixed, X-Copy-Of-Old: "\${header.X-Old}" }
          add: { X-Multi: added }
          remove: [X-Drop]
          rename: { X-Old: X-New }
  - name: templates
    path: /users/:id
    upstream: ${up.url}
    auth: api_key
    transform:
      request:
        headers:
          set:
            X-Consumer: "\${consumer.id}"
            X-Tier: "\${consumer.tier}"
            X-Foo-Copy: "\${header.X-Foo}"
            X-Page: "\${query.page}"
            X-User-Id: "\${path.id}"
            X-Trace: "\${trace_id}"
            X-Mixed: "user=\${path.id};page=\${query.page:-1};route=\${route}"
            X-Q: "[\${query.q}]"
  - name: query-edits
    path: /q
    upstream: ${up.url}
    transform:
      request:
        query:
          add: { added: "v 1/2" }
          remove: [secret]
          rename: { old: new }
          set: { mode: fast, echo: "\${query.page}" }
  - name: rewrite
    path: /v1/orders/:id
    upstream: ${up.url}
    transform:
      request:
        path: { pattern: '^/v1/orders/(\\d+)$', replace: /legacy/order/$1 }
  - name: rewrite-named
    path_prefix: /named
    upstream: ${up.url}
    transform:
      request:
        path: { pattern: '^/named/(?<kind>[a-z]+)/(?<id>\\d+)$', replace: '/v2/$<kind>s/$<id>/x' }
  - name: rewrite-strip
    path_prefix: /api
    upstream: ${up.url}/base
    strip_prefix: true
    transform:
      request:
        path: { pattern: '^/api/items/(\\d+)$', replace: /catalog/item-$1 }
  - name: body-ops
    path: /body
    upstream: ${up.url}
    transform:
      request:
        rename: { user.name: full_name, /meta/old~1key: newkey }
        remove: [user.password, /tokens/0]
        default: { user.country: NL, user.lang: en, /flags/beta: false }
        set:
          user.source: "gw-\${route}"
          /audit/by: "\${header.X-User}"
          audit.trace: "\${trace_id}"
          version: 2
          # The loader turns $\${ into \${ first, so a literal \${ for the template needs $$\${.
          literal: "$$\${not-a-template}"
  - name: marker
    path: /marker
    upstream: ${up.url}
    transform: { request: { set: { note: "\${query.q}" } } }
  - name: xml-in
    path: /xml-in
    upstream: ${up.url}
    transform: { request: { xml_to_json: true } }
  - name: pages
    path: /pages
    upstream: ${up.url}
    transform: { response: { add_pagination: { default_size: 10, max_size: 50 } } }
  - name: limited
    path: /limited
    upstream: ${up.url}
    transform: { max_body_bytes: 1024, request: { set: { seen: true } } }
  - name: streamed
    path: /streamed
    upstream: ${up.url}
    transform: { max_body_bytes: 1024, request: { add_headers: { X-Streamed: "yes" } } }
  - name: gz
    path: /gz
    upstream: ${up.url}
    transform: { request: { set: { decoded: true } } }
  - name: pass-type
    path: /pass-type
    upstream: ${up.url}
    transform: { on_invalid_body: pass, request: { set: { a: 1 } } }
  - name: pass-json
    path: /pass-json
    upstream: ${up.url}
    transform: { on_invalid_body: pass, request: { set: { a: 1 } } }
  - name: reject
    path: /reject
    upstream: ${up.url}
    transform: { on_invalid_body: reject, request: { set: { a: 1 } } }
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  describe("the brief's DSL", () => {
    for (const [form, path] of [
      ['flow', '/v1/orders'],
      ['block', '/v2/orders'],
    ] as const) {
      it(`${form} YAML: the upstream gets XML and X-Client-Type; the client gets data, pagination and Link`, async () => {
        const sent = '{"order":{"id":7,"note":"a<b & c","items":["mug","cup"]}}';
        const res = await post(path, sent);
        assert.equal(res.status, 200, res.body.toString());

        const got = receivedAt(path);
        assert.equal(got.url, `${path}?page=1&size=25`, 'explicit page and size upstream');
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?><root><order><id>7</id><note>a&lt;b &amp; c</note>' +
          '<items>mug</items><items>cup</items></order></root>';
        assert.equal(got.body.toString('utf8'), xml);
        assert.deepEqual(rawValues(got.rawHeaders, 'content-type'), ['application/xml; charset=utf-8']);
        assert.deepEqual(rawValues(got.rawHeaders, 'content-length'), [String(Buffer.byteLength(xml))]);
        assert.deepEqual(rawValues(got.rawHeaders, 'x-client-type'), ['legacy']);

        const first = `${path}?page=1&size=25`;
        assert.deepEqual(json(res), {
          data: [{ id: 1 }, { id: 2 }],
          pagination: { page: 1, size: 25, next: null, prev: null, first },
        });
        assert.equal(res.headers['link'], `<${first}>; rel="first"`);
        assert.equal(res.headers['content-type'], 'application/json');
        assert.equal(res.headers['content-length'], String(res.body.length));
      });
    }
  });

  describe('headers', () => {
    it('set replaces, add appends, remove and remove_headers drop, rename moves the value', async () => {
      const res = await httpRequest(gw.port, {
        path: '/hdr',
        headers: [
          'Host',
          'gw.example',
          'X-Set',
          'client',
          'X-Set',
          'client-2',
          'X-Multi',
          'one',
          'X-Drop',
          'gone',
          'X-Drop-Brief',
          'gone',
          'X-Old',
          'moved',
          'X-New',
          'replaced',
          'X-Kept',
          'k',
        ],
      });
      assert.equal(res.status, 200);
      const h = receivedAt('/hdr').rawHeaders;
      assert.deepEqual(rawValues(h, 'x-set'), ['fixed']);
      assert.deepEqual(rawValues(h, 'x-multi'), ['one', 'added']);
      assert.deepEqual(rawValues(h, 'x-drop'), []);
      assert.deepEqual(rawValues(h, 'x-drop-brief'), []);
      assert.deepEqual(rawValues(h, 'x-old'), []);
      assert.deepEqual(
        rawValues(h, 'x-new'),
        ['moved'],
        'rename replaces an existing header of the new name',
      );
      assert.deepEqual(rawValues(h, 'x-kept'), ['k']);
      // Edits run remove, rename, set, add: by the time set renders, X-Old has been renamed away.
      assert.deepEqual(rawValues(h, 'x-copy-of-old'), ['']);
    });

    it('templates read the consumer, a header, the query, a path parameter and the trace id', async () => {
      const res = await httpRequest(gw.port, {
        path: '/users/a%20b?page=3&q=caf%C3%A9',
        headers: ['Host', 'gw.example', 'X-Api-Key', API_KEY, 'X-Foo', 'bar', 'x-foo', 'baz'],
      });
      assert.equal(res.status, 200, res.body.toString());
      const h = receivedAt('/users/a%20b').rawHeaders;
      const traceId = rawValues(h, 'x-trace-id')[0];
      assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
      assert.equal(res.headers['x-trace-id'], traceId);
      assert.deepEqual(rawValues(h, 'x-consumer'), ['mobile-app']);
      assert.deepEqual(rawValues(h, 'x-tier'), ['pro']);
      assert.deepEqual(rawValues(h, 'x-foo-copy'), ['bar, baz'], 'several lines joined with ", "');
      assert.deepEqual(rawValues(h, 'x-page'), ['3']);
      assert.deepEqual(rawValues(h, 'x-user-id'), ['a b'], 'the decoded route parameter');
      assert.deepEqual(rawValues(h, 'x-trace'), [traceId]);
      assert.deepEqual(rawValues(h, 'x-mixed'), ['user=a b;page=3;route=templates']);
      // Non-ASCII query text goes as its UTF-8 octets (node shows them one char per octet).
      assert.deepEqual(rawValues(h, 'x-q'), [Buffer.from('[café]', 'utf8').toString('latin1')]);
      assert.deepEqual(rawValues(h, 'x-api-key'), [], 'the key itself is never forwarded');
    });

    it('missing sources render empty and fallbacks apply', async () => {
      const res = await httpRequest(gw.port, { path: '/users/9', headers: { 'X-Api-Key': API_KEY } });
      assert.equal(res.status, 200);
      const h = receivedAt('/users/9').rawHeaders;
      assert.deepEqual(rawValues(h, 'x-foo-copy'), ['']);
      assert.deepEqual(rawValues(h, 'x-page'), ['']);
      assert.deepEqual(rawValues(h, 'x-mixed'), ['user=9;page=1;route=templates']);
    });

    it('CR/LF in a value read by a template cannot inject a header', async () => {
      // Through the query: %0D%0A decodes to CR LF, which the template turns into spaces.
      const res = await httpRequest(gw.port, {
        path: '/users/crlf?page=1%0D%0AX-Injected:%20yes&q=%0AX-Evil:%201%0D',
        headers: { 'X-Api-Key': API_KEY },
      });
      assert.equal(res.status, 200);
      const h = receivedAt('/users/crlf').rawHeaders;
      assert.deepEqual(rawValues(h, 'x-page'), ['1  X-Injected: yes']);
      assert.deepEqual(rawValues(h, 'x-q'), ['[ X-Evil: 1 ]']);
      assert.deepEqual(rawValues(h, 'x-injected'), []);
      assert.deepEqual(rawValues(h, 'x-evil'), []);

      // Through a route parameter: decoded by the router, made safe by the template.
      const viaPath = await httpRequest(gw.port, {
        path: '/users/p%0D%0AX-Injected:%20yes',
        headers: { 'X-Api-Key': API_KEY },
      });
      assert.equal(viaPath.status, 200);
      const hp = receivedAt('/users/p%0D%0A').rawHeaders;
      assert.deepEqual(rawValues(hp, 'x-user-id'), ['p  X-Injected: yes']);
      assert.deepEqual(rawValues(hp, 'x-injected'), []);

      // Through a header: a bare CR or LF, an obs-fold or another control inside a client header value is
      // refused by the HTTP parser, so it never reaches ${header.X-Foo}.
      const values = ['a\rX-Injected: yes', 'a\nX-Injected: yes', 'a\r\n X-Injected: yes', 'a\u0001b'];
      for (const [i, value] of values.entries()) {
        const r = await rawRequest(
          gw.port,
          `GET /users/raw-${i} HTTP/1.1\r\nHost: a\r\nX-Api-Key: ${API_KEY}\r\nX-Foo: ${value}\r\n` +
            'Connection: close\r\n\r\n',
        );
        assert.equal(parseRawResponse(r.text).status, 400, JSON.stringify(value));
        assert.equal(upstreamSaw(`/users/raw-${i}`), false);
      }
    });

    it('a protected header (Host, Content-Length) in the config is a load error naming its line', async () => {
      const config = (edit: string) =>
        [
          'gateway:', // 1
          '  listen: "127.0.0.1:0"', // 2
          '  admin: { enabled: false }', // 3
          'routes:', // 4
          '  - name: r', // 5
          '    path: /r', // 6
          `    upstream: ${up.url}`, // 7
          '    transform:', // 8
          '      request:', // 9
          edit, // 10, 11
        ].join('\n');
      await assert.rejects(
        startTestGateway(config('        add_headers:\n          Host: evil.example')),
        (err: Error) => {
          assert.match(
            err.message,
            /gateway\.yaml:11:\d+ routes\[0\]\.transform\.request\.add_headers\.Host: the gateway manages "Host"/,
          );
          return true;
        },
      );
      await assert.rejects(
        startTestGateway(config('        headers:\n          set: { Content-Length: "5" }')),
        (err: Error) => {
          assert.match(
            err.message,
            /gateway\.yaml:11:\d+ routes\[0\]\.transform\.request\.headers\.set\.Content-Length: the gateway manages "Content-Length"/,
          );
          return true;
        },
      );
    });
  });

  describe('query', () => {
    it('remove, rename, set and add; every other parameter keeps its bytes and its place', async () => {
      const res = await httpRequest(gw.port, {
        path: '/q?q=a%20b&x=1&secret=s&old=o%2Fo&mode=slow&x=2&mode=again&page=4&t=%7e+',
      });
      assert.equal(res.status, 200);
      assert.equal(
        receivedAt('/q?').url,
        '/q?q=a%20b&x=1&new=o%2Fo&x=2&page=4&t=%7e+&mode=fast&echo=4&added=v%201%2F2',
      );
    });

    it('without any parameter the set and added ones are all there is', async () => {
      await httpRequest(gw.port, { path: '/q/none' });
      assert.equal(receivedAt('/q/none').url, '/q/none?mode=fast&echo=&added=v%201%2F2');
    });
  });

  describe('path rewrite', () => {
    it('a matching regex rewrites with numbered captures; a non-matching path is unchanged', async () => {
      await httpRequest(gw.port, { path: '/v1/orders/123?x=1' });
      assert.equal(receivedAt('/legacy/order/').url, '/legacy/order/123?x=1');
      await httpRequest(gw.port, { path: '/v1/orders/abc' });
      assert.equal(receivedAt('/v1/orders/abc').url, '/v1/orders/abc');
    });

    it('named groups', async () => {
      await httpRequest(gw.port, { path: '/named/invoice/42' });
      assert.equal(receivedAt('/v2/invoices/').url, '/v2/invoices/42/x');
      await httpRequest(gw.port, { path: '/named/Invoice/42' });
      assert.equal(receivedAt('/named/Invoice').url, '/named/Invoice/42');
    });

    it('a matching rewrite replaces strip_prefix (base path kept); a non-matching one leaves the mapping', async () => {
      await httpRequest(gw.port, { path: '/api/items/5?z=1' });
      assert.equal(receivedAt('/base/catalog/').url, '/base/catalog/item-5?z=1');
      await httpRequest(gw.port, { path: '/api/other/6' });
      assert.equal(receivedAt('/base/other').url, '/base/other/6');
    });
  });

  describe('JSON body', () => {
    it('rename, remove, default and set by dotted path and JSON Pointer; templates in set values', async () => {
      const sent = JSON.stringify({
        user: { name: 'Ann', password: 'pw', country: 'BE', lang: null },
        tokens: ['t0', 't1'],
        meta: { 'old/key': 1, keep: true },
        flags: {},
      });
      const res = await post('/body', sent, { 'X-User': 'alice' });
      assert.equal(res.status, 200);
      const got = receivedAt('/body');
      const traceId = rawValues(got.rawHeaders, 'x-trace-id')[0]!;
      const expected = JSON.stringify({
        user: { full_name: 'Ann', country: 'BE', lang: null, source: 'gw-body-ops' },
        tokens: ['t1'],
        meta: { newkey: 1, keep: true },
        flags: { beta: false },
        audit: { by: 'alice', trace: traceId },
        version: 2,
        literal: '${not-a-template}',
      });
      assert.equal(got.body.toString('utf8'), expected);
      assert.deepEqual(rawValues(got.rawHeaders, 'content-length'), [String(Buffer.byteLength(expected))]);
      assert.deepEqual(rawValues(got.rawHeaders, 'content-type'), ['application/json']);
    });

    it('a string set from a template stays a string beside an integer beyond 2^53', async () => {
      // Control characters from the request become U+FFFD in a JSON value, with or without 64-bit integers.
      await post('/marker/small?q=%0142', '{"small":1}');
      assert.equal(receivedAt('/marker/small').body.toString(), '{"small":1,"note":"\uFFFD42"}');
    });

    it('a template value cannot turn itself into a bare number through the lossless-JSON marker', async () => {
      await post('/marker/big?q=%0142', '{"big":12345678901234567890}');
      assert.equal(
        receivedAt('/marker/big').body.toString(),
        '{"big":12345678901234567890,"note":"\uFFFD42"}',
      );
    });

    it('xml_to_json: the upstream gets JSON', async () => {
      const xml =
        '<?xml version="1.0"?>\n<order id="7" status="new">\n  <item sku="A1">mug</item>\n  <item>cup</item>\n' +
        '  <note>a &amp; b &lt;c&gt; caf\u00e9</note>\n  <empty/>\n</order>';
      const res = await post('/xml-in', xml, { 'content-type': 'application/xml' });
      assert.equal(res.status, 200);
      const got = receivedAt('/xml-in');
      // Attributes under "@", an element with attributes and text as { "@a", "#text" }, repeated elements as
      // an array, an empty element as "" (key order is the parser's: JSON objects are unordered).
      assert.deepEqual(JSON.parse(got.body.toString('utf8')), {
        '@id': '7',
        '@status': 'new',
        item: [{ '@sku': 'A1', '#text': 'mug' }, 'cup'],
        note: 'a & b <c> caf\u00e9',
        empty: '',
      });
      assert.deepEqual(rawValues(got.rawHeaders, 'content-type'), ['application/json']);
      assert.deepEqual(rawValues(got.rawHeaders, 'content-length'), [String(got.body.length)]);
    });
  });

  describe('pagination (request side)', () => {
    it('the upstream always gets an explicit page and size; other parameters keep their place', async () => {
      await httpRequest(gw.port, { path: '/pages' });
      assert.equal(receivedAt('/pages?').url, '/pages?page=1&size=10');
      await httpRequest(gw.port, { path: '/pages/a?q=x%20y&page=3&z=1' });
      assert.equal(receivedAt('/pages/a').url, '/pages/a?q=x%20y&page=3&z=1&size=10');
    });

    it('a size above max_size is clamped', async () => {
      await httpRequest(gw.port, { path: '/pages/b?size=500&page=2' });
      assert.equal(receivedAt('/pages/b').url, '/pages/b?size=50&page=2');
    });

    it('an invalid page or size is a 400 problem with the trace id; the upstream is not called', async () => {
      for (const [i, query] of ['page=abc', 'page=0', 'page=-1', 'page=1.5', 'size=0', 'size=x'].entries()) {
        const res = await httpRequest(gw.port, { path: `/pages/bad-${i}?${query}` });
        const p = problem(res, 400);
        const param = query.startsWith('page') ? 'page' : 'size';
        assert.match(String(p.detail), new RegExp(`Query parameter "${param}" must be a whole number`));
        assert.equal(upstreamSaw(`/pages/bad-${i}`), false);
      }
    });
  });

  describe('body limits', () => {
    it('a declared Content-Length over max_body_bytes is a 413 problem; the upstream is never called', async () => {
      const body = JSON.stringify({ pad: 'x'.repeat(2000) });
      const res = await post('/limited/declared', body);
      const p = problem(res, 413);
      assert.equal(p.detail, 'The request body exceeds the limit of 1024 bytes');
      assert.equal(upstreamSaw('/limited/declared'), false);
    });

    it('a chunked body that grows past max_body_bytes is a 413 problem', async () => {
      const chunk = 'x'.repeat(600);
      const hex = chunk.length.toString(16);
      const r = await rawRequest(
        gw.port,
        [
          'POST /limited/chunked HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
            'Transfer-Encoding: chunked\r\n\r\n',
          `${hex}\r\n{"p":"${chunk.slice(6)}\r\n`,
          `${hex}\r\n${chunk}\r\n`,
          `${hex}\r\n${chunk}\r\n`,
        ],
        { delayBetweenMs: 20 },
      );
      assertRawProblem(r.text, 413);
      assert.ok(r.closedByServer, 'the connection closes instead of draining the rest');
      assert.equal(upstreamSaw('/limited/chunked'), false);
    });

    it('a body within the limit is transformed', async () => {
      const res = await post('/limited/ok', '{"a":1}');
      assert.equal(res.status, 200);
      assert.equal(receivedAt('/limited/ok').body.toString(), '{"a":1,"seen":true}');
    });

    it('a chunked body within the limit is transformed and sent with a Content-Length', async () => {
      const r = await rawRequest(
        gw.port,
        [
          'POST /limited/chunked-ok HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
            'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
          '4\r\n{"b"\r\n',
          '3\r\n:2}\r\n0\r\n\r\n',
        ],
        { delayBetweenMs: 20 },
      );
      assert.equal(parseRawResponse(r.text).status, 200);
      const got = receivedAt('/limited/chunked-ok');
      assert.equal(got.body.toString(), '{"b":2,"seen":true}');
      assert.deepEqual(rawValues(got.rawHeaders, 'content-length'), ['19']);
      assert.deepEqual(rawValues(got.rawHeaders, 'transfer-encoding'), []);
    });

    it('a small gzip body that decodes past max_body_bytes is a 413 problem', async () => {
      const bomb = gzipSync(Buffer.alloc(200_000, 0x20));
      assert.ok(bomb.length < 1024);
      const res = await post('/limited/bomb', bomb, { 'content-encoding': 'gzip' });
      problem(res, 413);
      assert.equal(upstreamSaw('/limited/bomb'), false);
    });

    it('a route without body rules streams an 8 MB body through untouched, whatever max_body_bytes', async () => {
      const big = Buffer.alloc(8 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = 0x61 + (i % 26);
      const res = await post('/streamed', big);
      assert.equal(res.status, 200, res.body.toString());
      const got = receivedAt('/streamed');
      assert.equal(got.body.length, big.length);
      assert.equal(sha(got.body), sha(big));
      assert.deepEqual(rawValues(got.rawHeaders, 'x-streamed'), ['yes']);
    });
  });

  describe('content coding', () => {
    it('a gzip JSON body is decoded, transformed and forwarded without Content-Encoding', async () => {
      const res = await post('/gz', gzipSync('{"x":"caf\u00e9"}'), { 'content-encoding': 'gzip' });
      assert.equal(res.status, 200);
      const got = receivedAt('/gz');
      const expected = '{"x":"caf\u00e9","decoded":true}';
      assert.equal(got.body.toString('utf8'), expected);
      assert.deepEqual(rawValues(got.rawHeaders, 'content-encoding'), []);
      assert.deepEqual(rawValues(got.rawHeaders, 'content-length'), [String(Buffer.byteLength(expected))]);
    });
  });

  describe('bodies the rules cannot read', () => {
    const warningFor = (route: string) =>
      waitFor(
        () => gw.logs.find((l) => l.event === 'transform_body_passed' && l.route === route),
        2000,
        `transform_body_passed for ${route}`,
      );

    it('pass: a text/plain body goes through unchanged and a warning is logged', async () => {
      const res = await post('/pass-type', 'plain words', { 'content-type': 'text/plain' });
      assert.equal(res.status, 200);
      const got = receivedAt('/pass-type');
      assert.equal(got.body.toString(), 'plain words');
      assert.deepEqual(rawValues(got.rawHeaders, 'content-type'), ['text/plain']);
      const line = await warningFor('pass-type');
      assert.equal(line.level, 'warn');
      assert.equal(line.side, 'request');
      assert.equal(line.reason, 'the content type "text/plain" is not JSON');
      assert.equal(line.trace_id, rawValues(got.rawHeaders, 'x-trace-id')[0]);
    });

    it('pass: invalid JSON sent as application/json goes through unchanged and a warning is logged', async () => {
      const res = await post('/pass-json', '{"a":1,');
      assert.equal(res.status, 200);
      assert.equal(receivedAt('/pass-json').body.toString(), '{"a":1,');
      const line = await warningFor('pass-json');
      assert.match(String(line.reason), /^invalid JSON: /);
    });

    it('reject: an unsupported content coding is a 415 problem', async () => {
      const res = await post('/reject/coding', Buffer.from([1, 2, 3]), { 'content-encoding': 'zstd' });
      const p = problem(res, 415);
      assert.equal(
        p.detail,
        'The request body cannot be transformed: the content coding "zstd" is not supported',
      );
      assert.equal(upstreamSaw('/reject/coding'), false);
    });

    it('reject: another media type is a 415 problem, invalid JSON a 400 problem; the upstream is not called', async () => {
      const p415 = problem(await post('/reject/type', 'plain', { 'content-type': 'text/plain' }), 415);
      assert.equal(
        p415.detail,
        'The request body cannot be transformed: the content type "text/plain" is not JSON',
      );
      const p400 = problem(await post('/reject/json', '{"a":'), 400);
      assert.match(String(p400.detail), /^The request body cannot be transformed: invalid JSON: /);
      assert.equal(upstreamSaw('/reject'), false);
    });
  });
});
