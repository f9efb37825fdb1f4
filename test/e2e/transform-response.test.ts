// The transform policy on the way down, end to end over real sockets: wrap_json; add_pagination with the
// total from a header or a body field, without a total (full and partial pages), first_page 0, and the
// pagination member on an object body; masking (keep_last, char, redact, replacement, nested arrays) and the
// other field operations; response header edits and status_map; which statuses are transformed; JSON⇄XML;
// and responses the gateway makes itself, which are never body-transformed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { assertProblemBody, httpRequest, type PlainResponse } from '../fixtures/http-tools.js';

/** What the upstream answers on one path. */
interface Reply {
  readonly status?: number;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body: string;
}

const json = (body: unknown, status = 200, headers: http.OutgoingHttpHeaders = {}): Reply => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** `count` items with ids from `from`. */
const items = (from: number, count: number) =>
  Array.from({ length: Math.max(0, count) }, (_, i) => ({ id: from + i }));

/** A collection of `total` items, paged by the page and size the gateway sends upstream. */
function page(url: URL, total: number, firstPage: number, sizeParam = 'size'): { list: { id: number }[] } {
  const size = Number(url.searchParams.get(sizeParam));
  const p = Number(url.searchParams.get('page')) - firstPage;
  const n = url.searchParams.has('n') ? Number(url.searchParams.get('n')) : Math.min(size, total - p * size);
  return { list: items(p * size + 1, n) };
}

const CARD = {
  card: {
    number: '4242424242424242',
    spaced: '4242 4242 4242 4242',
    last: 12345678,
    cvc_hint: '123456',
    secret: { k: 1 },
    token: 'tok_abc',
    short: '123',
  },
  items: [
    {
      cards: [{ number: '5555555555554444' }, { number: '378282246310005', holder: 'B' }],
      card: { cvc: '123', brand: 'visa' },
    },
    { cards: [], card: { cvc: '999' } },
    { card: { brand: 'none' } },
  ],
  user: { mail: 'a@b.c', name: 'Ann' },
};

function reply(url: URL): Reply {
  const path = url.pathname;
  if (path.startsWith('/wrap/array')) return json([1, 'two', { three: 3 }]);
  if (path.startsWith('/wrap')) return json({ a: 1, nested: { b: [true, null] } });
  if (path.startsWith('/pg-header')) return json(page(url, 60, 1).list, 200, { 'x-total-count': '60' });
  if (path.startsWith('/pg-field')) {
    const { list } = page(url, 101, 1, 'per_page');
    return json({ list, meta: { total: 101 } });
  }
  if (path.startsWith('/pg-unknown')) return json(page(url, 1000, 1).list);
  if (path.startsWith('/pg-zero')) return json(page(url, 50, 0).list, 200, { 'x-total-count': '50' });
  if (path.startsWith('/pg-bare'))
    return json(page(url, 1000, 1).list, 200, { link: '</docs/orders>; rel="help"' });
  if (path.startsWith('/mask')) return json(CARD);
  if (path.startsWith('/rh'))
    return json({ ok: true }, 201, {
      'x-internal': 'secret',
      'x-upstream-id': 'u-1',
      vary: 'Accept',
      'cache-control': 'max-age=60',
    });
  if (path.endsWith('/404')) return json({ error: 'not here' }, 404);
  if (path.endsWith('/500')) return json({ error: 'boom' }, 500);
  if (path.startsWith('/st/')) return json({ ok: true });
  if (path.startsWith('/to-xml'))
    return json({ order: { '@id': '7', item: ['a', 'b'], note: 'x < y & "z"' } });
  if (path.startsWith('/from-xml'))
    return {
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body:
        '<?xml version="1.0" encoding="UTF-8"?>\n<order id="7" status="new">\n' +
        '  <line sku="A1">mug</line>\n  <qty>2</qty>\n  <paid>true</paid>\n' +
        '  <note><![CDATA[a < b]]> &amp; caf\u00e9</note>\n  <code>007</code>\n  <!-- a comment -->\n</order>',
    };
  return json({ path });
}

describe('transform: response side', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let downPort: number;

  const get = (path: string, headers: Record<string, string> = {}) => httpRequest(gw.port, { path, headers });
  const body = (res: PlainResponse): unknown => JSON.parse(res.body.toString('utf8'));

  before(async () => {
    up = await startUpstream((req, res) => {
      const r = reply(new URL(req.url!, 'http://upstream'));
      res.writeHead(r.status ?? 200, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
      res.end(r.body);
    });
    downPort = await closedPort();
    gw = await startTestGateway(`
auth:
  api_key: { header: X-Api-Key }
routes:
  - name: wrap
    path: /wrap
    upstream: ${up.url}
    transform: { response: { wrap_json: data } }
  - name: pg-header
    path: /pg-header
    upstream: ${up.url}
    transform:
      response:
        wrap_json: items
        add_pagination: { total_header: X-Total-Count }
  - name: pg-field
    path: /pg-field
    upstream: ${up.url}
    transform:
      response:
        add_pagination: { total_field: meta.total, size_param: per_page, field: paging }
  - name: pg-unknown
    path: /pg-unknown
    upstream: ${up.url}
    transform: { response: { wrap_json: data, add_pagination: { default_size: 5 } } }
  - name: pg-zero
    path: /pg-zero
    upstream: ${up.url}
    transform:
      response:
        wrap_json: data
        add_pagination: { first_page: 0, default_size: 20, total_header: X-Total-Count }
  - name: pg-bare
    path: /pg-bare
    upstream: ${up.url}
    transform: { response: { add_pagination: { default_size: 2 } } }
  - name: mask
    path: /mask
    upstream: ${up.url}
    transform:
      response:
        add_headers: { X-Masked: "yes" }
        mask:
          - card.number
          - card.spaced
          - card.last
          - card.short
          - { path: card.cvc_hint, keep_last: 2, char: "#" }
          - { path: card.secret, redact: true }
          - { path: card.token, redact: true, replacement: "***" }
          - items[].cards[].number
        remove: ["items[].card.cvc"]
        rename: { user.mail: email }
        default: { user.tier: basic, user.name: anon }
        set: { served_by: portico, user.route: "\${route}", /card/checked: true }
  - name: response-headers
    path: /rh
    upstream: ${up.url}
    transform:
      response:
        add_headers: { X-Gateway: portico }
        headers:
          set: { Cache-Control: no-store }
          add: { Vary: X-Tenant }
          remove: [X-Internal]
          rename: { X-Upstream-Id: X-Request-Ref }
        status_map: { "201": 200 }
  - name: status-to-204
    path: /to-204
    upstream: ${up.url}
    transform: { response: { status_map: { "404": 204 }, mask: [error] } }
  - name: statuses-default
    path: /st/default
    upstream: ${up.url}
    transform: { response: { set: { transformed: true } } }
  - name: statuses-listed
    path: /st/listed
    upstream: ${up.url}
    transform: { response: { statuses: [2xx, 404], set: { transformed: true } } }
  - name: to-xml
    path: /to-xml
    upstream: ${up.url}
    transform: { response: { json_to_xml: true } }
  - name: to-xml-options
    path: /to-xml-options
    upstream: ${up.url}
    transform: { response: { json_to_xml: { root_element: envelope, declaration: false } } }
  - name: from-xml
    path: /from-xml
    upstream: ${up.url}
    transform: { response: { xml_to_json: true } }
  - name: from-xml-typed
    path: /from-xml-typed
    upstream: ${up.url}
    transform: { response: { xml_to_json: { parse_values: true, always_array: [line], keep_root: true } } }
  - name: down
    path: /down
    upstream: http://127.0.0.1:${downPort}
    transform: { response: { wrap_json: data, set: { x: 1 }, add_headers: { X-Gateway: portico } } }
  - name: guarded
    path: /guarded
    upstream: ${up.url}
    auth: api_key
    transform: { response: { wrap_json: data, set: { x: 1 } } }
  - name: paged-problem
    path: /paged-problem
    upstream: ${up.url}
    transform: { response: { wrap_json: data, add_pagination: {} } }
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  describe('wrap_json', () => {
    it('puts an object and an array under the key; Content-Length matches', async () => {
      const res = await get('/wrap');
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '{"data":{"a":1,"nested":{"b":[true,null]}}}');
      assert.equal(res.headers['content-length'], String(res.body.length));
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['link'], undefined, 'no pagination configured');
      const arr = await get('/wrap/array');
      assert.equal(arr.body.toString(), '{"data":[1,"two",{"three":3}]}');
    });
  });

  describe('add_pagination', () => {
    it('total from a header: next, prev, first, last and an exact Link header keeping the query', async () => {
      const res = await get('/pg-header?status=open&page=2&size=25');
      assert.equal(res.status, 200);
      const at = (n: number) => `/pg-header?status=open&page=${n}&size=25`;
      assert.deepEqual(body(res), {
        items: items(26, 25),
        pagination: {
          page: 2,
          size: 25,
          total: 60,
          total_pages: 3,
          next: at(3),
          prev: at(1),
          first: at(1),
          last: at(3),
        },
      });
      assert.equal(
        res.headers['link'],
        `<${at(1)}>; rel="first", <${at(1)}>; rel="prev", <${at(3)}>; rel="next", <${at(3)}>; rel="last"`,
      );
      assert.equal(res.headers['x-total-count'], '60');
      assert.equal(res.headers['content-length'], String(res.body.length));
    });

    it('total from a header: the first and the last page, and defaults when the client sends none', async () => {
      const first = await get('/pg-header');
      const at = (n: number) => `/pg-header?page=${n}&size=25`;
      assert.deepEqual((body(first) as { pagination: unknown }).pagination, {
        page: 1,
        size: 25,
        total: 60,
        total_pages: 3,
        next: at(2),
        prev: null,
        first: at(1),
        last: at(3),
      });
      assert.equal(
        first.headers['link'],
        `<${at(1)}>; rel="first", <${at(2)}>; rel="next", <${at(3)}>; rel="last"`,
      );
      const last = await get('/pg-header?page=3');
      const lastBody = body(last) as { items: unknown[]; pagination: Record<string, unknown> };
      assert.deepEqual(lastBody.items, items(51, 10));
      assert.deepEqual([lastBody.pagination.next, lastBody.pagination.prev], [null, at(2)]);
      assert.equal(
        last.headers['link'],
        `<${at(1)}>; rel="first", <${at(2)}>; rel="prev", <${at(3)}>; rel="last"`,
      );
    });

    it('total from a body field (meta.total) with a custom size parameter and member name', async () => {
      const res = await get('/pg-field?per_page=50&page=3');
      const at = (n: number) => `/pg-field?per_page=50&page=${n}`;
      assert.deepEqual(body(res), {
        list: items(101, 1),
        meta: { total: 101 },
        paging: {
          page: 3,
          size: 50,
          total: 101,
          total_pages: 3,
          next: null,
          prev: at(2),
          first: at(1),
          last: at(3),
        },
      });
      assert.equal(
        res.headers['link'],
        `<${at(1)}>; rel="first", <${at(2)}>; rel="prev", <${at(3)}>; rel="last"`,
      );
    });

    it('unknown total: a full page offers next, a partial page does not; no total, total_pages or last', async () => {
      const full = await get('/pg-unknown?page=2');
      const at = (n: number) => `/pg-unknown?page=${n}&size=5`;
      assert.deepEqual(body(full), {
        data: items(6, 5),
        pagination: { page: 2, size: 5, next: at(3), prev: at(1), first: at(1) },
      });
      assert.equal(
        full.headers['link'],
        `<${at(1)}>; rel="first", <${at(1)}>; rel="prev", <${at(3)}>; rel="next"`,
      );

      const partial = await get('/pg-unknown?page=2&n=3');
      const atN = (n: number) => `/pg-unknown?page=${n}&n=3&size=5`;
      assert.deepEqual(body(partial), {
        data: items(6, 3),
        pagination: { page: 2, size: 5, next: null, prev: atN(1), first: atN(1) },
      });
      assert.equal(partial.headers['link'], `<${atN(1)}>; rel="first", <${atN(1)}>; rel="prev"`);
    });

    it('first_page 0', async () => {
      const res = await get('/pg-zero');
      const at = (n: number) => `/pg-zero?page=${n}&size=20`;
      assert.deepEqual(body(res), {
        data: items(1, 20),
        pagination: {
          page: 0,
          size: 20,
          total: 50,
          total_pages: 3,
          next: at(1),
          prev: null,
          first: at(0),
          last: at(2),
        },
      });
      assert.equal(
        res.headers['link'],
        `<${at(0)}>; rel="first", <${at(1)}>; rel="next", <${at(2)}>; rel="last"`,
      );
      const last = await get('/pg-zero?page=2');
      const p = (body(last) as { pagination: Record<string, unknown> }).pagination;
      assert.deepEqual([p.page, p.next, p.prev, p.last], [2, null, at(1), at(2)]);
      assert.deepEqual((body(last) as { data: unknown }).data, items(41, 10));
    });

    it('an array body without wrap_json keeps its shape: links in the Link header only, after the upstream one', async () => {
      const res = await get('/pg-bare?page=2');
      assert.equal(res.body.toString(), '[{"id":3},{"id":4}]');
      const links = res.rawHeaders.filter((_, i) => i % 2 === 1 && /^link$/i.test(res.rawHeaders[i - 1]!));
      assert.deepEqual(links, [
        '</docs/orders>; rel="help"',
        '</pg-bare?page=1&size=2>; rel="first", </pg-bare?page=1&size=2>; rel="prev", ' +
          '</pg-bare?page=3&size=2>; rel="next"',
      ]);
    });
  });

  describe('field operations', () => {
    it('mask (keep last 4, keep_last/char, redact, replacement, nested arrays), remove, rename, default, set', async () => {
      const res = await get('/mask');
      assert.equal(res.status, 200);
      assert.deepEqual(body(res), {
        card: {
          number: '************4242',
          spaced: '**** **** **** 4242',
          last: '****5678',
          cvc_hint: '####56',
          secret: '[REDACTED]',
          token: '***',
          short: '***',
          checked: true,
        },
        items: [
          {
            cards: [{ number: '************4444' }, { number: '***********0005', holder: 'B' }],
            card: { brand: 'visa' },
          },
          { cards: [], card: {} },
          { card: { brand: 'none' } },
        ],
        user: { email: 'a@b.c', name: 'Ann', tier: 'basic', route: 'mask' },
        served_by: 'portico',
      });
      assert.equal(res.headers['x-masked'], 'yes');
      assert.equal(res.headers['content-length'], String(res.body.length));
    });
  });

  describe('headers and status', () => {
    it('add_headers, set, add, remove, rename and status_map on the response', async () => {
      const res = await get('/rh');
      assert.equal(res.status, 200, 'status_map 201 → 200');
      assert.equal(res.body.toString(), '{"ok":true}', 'no body rules: the body is untouched');
      assert.equal(res.headers['x-gateway'], 'portico');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['vary'], 'Accept, X-Tenant');
      assert.equal(res.headers['x-internal'], undefined);
      assert.equal(res.headers['x-upstream-id'], undefined);
      assert.equal(res.headers['x-request-ref'], 'u-1');
    });

    it('status_map to 204 drops the upstream body and keeps the connection usable', async () => {
      const res = await get('/to-204/404');
      assert.equal(res.status, 204);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers['content-length'], undefined);
      const next = await get('/to-204/404');
      assert.equal(next.status, 204);
      assert.equal((await get('/to-204/ok')).status, 200);
    });

    it('by default only 2xx bodies are transformed: a 404 JSON body passes untouched', async () => {
      const ok = await get('/st/default');
      assert.equal(ok.body.toString(), '{"ok":true,"transformed":true}');
      const missing = await get('/st/default/404');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), '{"error":"not here"}');
      assert.equal(missing.headers['content-length'], String(missing.body.length));
    });

    it('statuses: [2xx, 404] transforms a 404; a 500 stays untouched', async () => {
      const notFound = await get('/st/listed/404');
      assert.equal(notFound.status, 404);
      assert.equal(notFound.body.toString(), '{"error":"not here","transformed":true}');
      assert.equal(notFound.headers['content-length'], String(notFound.body.length));
      const failed = await get('/st/listed/500');
      assert.equal(failed.status, 500);
      assert.equal(failed.body.toString(), '{"error":"boom"}');
    });
  });

  describe('JSON and XML', () => {
    it('json_to_xml: the client gets XML with its Content-Type', async () => {
      const res = await get('/to-xml');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/xml; charset=utf-8');
      assert.equal(
        res.body.toString('utf8'),
        '<?xml version="1.0" encoding="UTF-8"?><root><order id="7"><item>a</item><item>b</item>' +
          '<note>x &lt; y &amp; &quot;z&quot;</note></order></root>',
      );
      assert.equal(res.headers['content-length'], String(res.body.length));
    });

    it('json_to_xml options: root_element and no declaration', async () => {
      const res = await get('/to-xml-options');
      assert.equal(
        res.body.toString('utf8'),
        '<envelope><order id="7"><item>a</item><item>b</item><note>x &lt; y &amp; &quot;z&quot;</note>' +
          '</order></envelope>',
      );
    });

    it('xml_to_json: attributes under "@", text beside attributes as "#text", values as strings', async () => {
      const res = await get('/from-xml');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['content-length'], String(res.body.length));
      assert.deepEqual(body(res), {
        '@id': '7',
        '@status': 'new',
        line: { '@sku': 'A1', '#text': 'mug' },
        qty: '2',
        paid: 'true',
        note: 'a < b & caf\u00e9',
        code: '007',
      });
    });

    it('xml_to_json options: parse_values, always_array and keep_root', async () => {
      const res = await get('/from-xml-typed');
      assert.deepEqual(body(res), {
        order: {
          '@id': 7,
          '@status': 'new',
          line: [{ '@sku': 'A1', '#text': 'mug' }],
          qty: 2,
          paid: true,
          note: 'a < b & caf\u00e9',
          code: '007',
        },
      });
    });
  });

  describe('responses the gateway makes', () => {
    it('a route-not-found 404 is a plain problem', async () => {
      const res = await get('/nowhere');
      const p = assertProblemBody(res.headers['content-type'], res.body.toString(), 404);
      assert.equal(p.data, undefined);
    });

    it('a 502 from an upstream that is down is not body-transformed (header edits still apply)', async () => {
      const res = await get('/down');
      assert.equal(res.status, 502);
      const p = assertProblemBody(res.headers['content-type'], res.body.toString(), 502, [String(downPort)]);
      assert.equal(p.data, undefined);
      assert.equal(p.x, undefined);
      assert.equal(res.headers['x-gateway'], 'portico');
    });

    it('a 401 from auth and a 400 from pagination are not body-transformed', async () => {
      const denied = await get('/guarded');
      assert.equal(denied.status, 401);
      const p = assertProblemBody(denied.headers['content-type'], denied.body.toString(), 401);
      assert.equal(p.data, undefined);
      const bad = await get('/paged-problem?page=x');
      const q = assertProblemBody(bad.headers['content-type'], bad.body.toString(), 400);
      assert.equal(q.data, undefined);
      assert.equal(q.pagination, undefined);
      assert.equal(bad.headers['link'], undefined);
    });
  });
});
