// API versioning end to end, against two real upstreams: one route serving versions chosen by header,
// vendor media type, query and path parameter, each version to its own upstream; a default version, and
// 400 problem+json listing the known ones for an unknown or missing version; the lifecycle headers on the
// wire (RFC 9745 Deprecation, RFC 8594 Sunset, Link rel="successor-version" / "deprecation"); after the
// sunset 410 naming the successor, 308 to it (path and query kept) or still served; a brownout window
// around now answering as after the sunset; the access log's `version` and `lifecycle` members, the
// per-version and per-consumer metrics, and `portico routes` showing each route's state.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { sample } from '../fixtures/metric-sample.js';

const sha = (k: string) => 'sha256:' + createHash('sha256').update(k).digest('hex');
const KEY = 'key-of-acme-mobile-app';
const iso = (ms: number) => new Date(ms).toISOString();
const SF_DATE = /^@[0-9]+$/;
const IMF_FIXDATE = /^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/** An upstream answering with its own name and the path it was asked for. */
function named(name: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const text = JSON.stringify({ upstream: name, url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', link: '</self>; rel="self"' });
    res.end(text);
  });
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

async function get(gw: TestGateway, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(gw.url + path, { headers, redirect: 'manual' });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

describe('versioning', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let gw: TestGateway;
  const now = Date.now();
  const past = iso(now - 30 * 86_400_000);
  const future = iso(now + 30 * 86_400_000);
  const longAgo = iso(now - 60 * 86_400_000);

  before(async () => {
    v1 = await named('v1');
    v2 = await named('v2');
    gw = await startTestGateway(`
auth:
  api_key: { header: X-Api-Key }
consumers:
  - { id: acme-mobile, api_keys: ["${sha(KEY)}"] }
upstreams:
  orders-v1: { targets: [{ url: "${v1.url}" }] }
  orders-v2: { targets: [{ url: "${v2.url}" }] }
routes:
  - name: orders
    path: /orders
    upstream: orders-v2
    auth: { methods: [api_key], optional: true }
    version:
      from: header
      default: "2"
      count_consumers: true
      versions:
        "1":
          upstream: orders-v1
          deprecated_at: "${past}"
          sunset_at: "${future}"
          successor: /v2/orders
          docs: https://developer.example.com/orders-v1
        "2": {}
  - name: catalog
    path: /catalog
    upstream: orders-v2
    version:
      from: media_type
      vendor: acme
      versions: { "1": { upstream: orders-v1 }, "2": {} }
  - name: search
    path: /search
    upstream: orders-v2
    version:
      from: query
      query: api-version
      default: "2"
      versions:
        "1": { upstream: orders-v1, sunset_at: "${past}", successor: "2", after_sunset: redirect }
        "2": {}
  - name: items
    path: /:version/items
    strip_prefix: true
    upstream: orders-v2
    version:
      from: path
      versions: { v1: { upstream: orders-v1 }, v2: {} }
  - name: old-users
    path: /v1/users
    upstream: orders-v1
    version: { deprecated_at: "${longAgo}", sunset_at: "${past}", successor: /v2/users }
  - name: moved-users
    path: /v0/users
    upstream: orders-v1
    version: { sunset_at: "${past}", successor: /v2/users, after_sunset: redirect }
  - name: kept-users
    path: /beta/users
    upstream: orders-v1
    version: { deprecated_at: "${longAgo}", sunset_at: "${past}", after_sunset: serve }
  - name: users
    path: /v2/users
    upstream: orders-v2
  - name: browned
    path: /v1/invoices
    upstream: orders-v1
    version:
      deprecated_at: "${past}"
      sunset_at: "${future}"
      successor: /v2/invoices
      brownouts: [{ at: "${iso(now - 5 * 60_000)}", duration_m: 120 }]
  - name: invoices
    path: /v2/invoices
    upstream: orders-v2
  - name: orders-next
    path: /v2/orders
    upstream: orders-v2
`);
  });
  after(async () => {
    await gw?.stop();
    await v1?.close();
    await v2?.close();
  });

  describe('routing by version', () => {
    it('by header: the version named goes to its upstream, none goes to the default', async () => {
      assert.equal((await get(gw, '/orders/7', { 'accept-version': '1' })).body.upstream, 'v1');
      assert.equal((await get(gw, '/orders/7', { 'accept-version': '2' })).body.upstream, 'v2');
      const none = await get(gw, '/orders/7');
      assert.equal(none.status, 200);
      assert.equal(none.body.upstream, 'v2');
      assert.equal(none.headers.get('deprecation'), null, 'the default version is not deprecated');
    });

    it('an unknown version is 400 problem+json listing the known ones, with a trace id', async () => {
      const res = await fetch(gw.url + '/orders', { headers: { 'accept-version': '9' } });
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const body = (await res.json()) as Record<string, unknown>;
      assert.deepEqual(body.known_versions, ['1', '2']);
      assert.match(String(body.detail), /"9".*Accept-Version.*1, 2/);
      assert.equal(typeof body.trace_id, 'string');
    });

    it('by vendor media type, in both spellings; none named and no default is 400', async () => {
      assert.equal(
        (await get(gw, '/catalog', { accept: 'application/vnd.acme.v1+json' })).body.upstream,
        'v1',
      );
      assert.equal(
        (await get(gw, '/catalog', { accept: 'text/html, application/vnd.acme+json; version=2' })).body
          .upstream,
        'v2',
      );
      const none = await get(gw, '/catalog', { accept: 'application/json' });
      assert.equal(none.status, 400);
      assert.match(String(none.body.type), /\/version-required$/);
      assert.deepEqual(none.body.known_versions, ['1', '2']);
    });

    it('by path parameter, with strip_prefix as for any route', async () => {
      const a = await get(gw, '/v1/items/42?x=1');
      assert.deepEqual(a.body, { upstream: 'v1', url: '/42?x=1' });
      assert.equal((await get(gw, '/v2/items/42')).body.upstream, 'v2');
      const unknown = await get(gw, '/v3/items/42');
      assert.equal(unknown.status, 400);
      assert.deepEqual(unknown.body.known_versions, ['v1', 'v2']);
    });
  });

  describe('lifecycle', () => {
    it('a deprecated version carries Deprecation, Sunset and both Links, beside the upstream own Link', async () => {
      const res = await get(gw, '/orders/7?expand=1', { 'accept-version': '1' });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('deprecation') ?? '', SF_DATE);
      assert.equal(res.headers.get('deprecation'), '@' + Math.floor(Date.parse(past) / 1000));
      assert.match(res.headers.get('sunset') ?? '', IMF_FIXDATE);
      assert.equal(Date.parse(res.headers.get('sunset')!), Math.floor(Date.parse(future) / 1000) * 1000);
      const link = res.headers.get('link') ?? '';
      assert.match(link, /<\/self>; rel="self"/);
      assert.match(link, /<\/v2\/orders\/7\?expand=1>; rel="successor-version"/);
      assert.match(link, /<https:\/\/developer\.example\.com\/orders-v1>; rel="deprecation"/);
    });

    it('after the sunset: 410 problem+json naming the successor', async () => {
      const res = await get(gw, '/v1/users/5');
      assert.equal(res.status, 410);
      assert.match(String(res.body.type), /\/version-gone$/);
      assert.equal(res.body.successor, '/v2/users/5');
      assert.match(String(res.body.detail), /sunset on .*use \/v2\/users\/5/);
      assert.match(res.headers.get('sunset') ?? '', IMF_FIXDATE);
      assert.equal(v1.received.filter((r) => r.url.startsWith('/v1/users')).length, 0, 'never forwarded');
    });

    it('after the sunset with redirect: 308 to the successor, the rest of the path and the query kept', async () => {
      const res = await get(gw, '/v0/users/5?fields=name');
      assert.equal(res.status, 308);
      assert.equal(res.headers.get('location'), '/v2/users/5?fields=name');
      assert.equal(res.headers.get('content-length'), '0');
      const search = await get(gw, '/search?q=shoes&api-version=1');
      assert.equal(search.status, 308);
      assert.equal(search.headers.get('location'), '/search?q=shoes&api-version=2');
    });

    it('after the sunset with serve: still served, still announcing it', async () => {
      const res = await get(gw, '/beta/users');
      assert.equal(res.status, 200);
      assert.equal(res.body.upstream, 'v1');
      assert.match(res.headers.get('deprecation') ?? '', SF_DATE);
    });

    it('inside a brownout: answered as after the sunset (410), saying until when', async () => {
      const res = await get(gw, '/v1/invoices');
      assert.equal(res.status, 410);
      assert.match(String(res.body.type), /\/version-brownout$/);
      assert.equal(res.body.successor, '/v2/invoices');
      assert.match(String(res.body.detail), /brownout until/);
      assert.equal(typeof res.body.brownout_until, 'string');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    });
  });

  it('the access log has the version and the lifecycle state; metrics count by version, state and consumer', async () => {
    await get(gw, '/orders', { 'accept-version': '1', 'x-api-key': KEY });
    await get(gw, '/orders', { 'accept-version': '1' });
    const lines = gw.accessLines().filter((l) => l.route === 'orders' && l.version === '1');
    assert.ok(lines.length >= 2);
    assert.ok(lines.every((l) => l.lifecycle === 'deprecated'));
    assert.ok(lines.some((l) => l.consumer === 'acme-mobile'));
    const brown = gw.accessLines().find((l) => l.route === 'browned');
    assert.equal(brown?.lifecycle, 'brownout');
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.ok(
      (sample(text, 'portico_version_requests_total', {
        route: 'orders',
        version: '1',
        state: 'deprecated',
      }) ?? 0) >= 2,
    );
    assert.ok(
      (sample(text, 'portico_version_requests_total', { route: 'orders', version: '2', state: 'active' }) ??
        0) >= 1,
    );
    assert.equal(
      sample(text, 'portico_version_deprecated_calls_total', {
        route: 'orders',
        version: '1',
        consumer: 'acme-mobile',
      }),
      1,
    );
    assert.ok(
      (sample(text, 'portico_version_requests_total', { route: 'browned', version: '', state: 'brownout' }) ??
        0) >= 1,
    );
  });
});
