// The edge response cache end to end, against a real upstream that counts its hits: freshness from
// max-age, s-maxage, Expires and the route's ttl_s; Age; no-cache and stale entries revalidated with ETag
// and Last-Modified; client conditionals and HEAD answered from the cache; query normalization; Vary
// variants (declared and upstream) and Vary: *; coalescing of concurrent misses; stale-while-revalidate
// and stale-if-error; max_entry_bytes (Content-Length and chunked); the admin purge API (key, prefix,
// tag) and its errors; invalidation by unsafe methods; and the portico_cache_* metrics, evictions included.
//
// Conditional requests go through node:http (httpRequest): fetch would add Cache-Control: no-cache to them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { Origin, send, type PathHandler } from '../helpers/counting-origin.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { assertProblemBody, httpRequest, type PlainResponse } from '../fixtures/http-tools.js';
import { sample } from '../fixtures/metric-sample.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Like send, without a Date: the apparent age (receipt minus Date, RFC 9111 §4.2.3) of a Date in whole
 * seconds adds up to a second, so exact Age values need a response without one.
 */
function sendUndated(res: http.ServerResponse, headers: http.OutgoingHttpHeaders, body: string): void {
  res.sendDate = false;
  send(res, 200, headers, body);
}

const text = (r: PlainResponse) => r.body.toString('utf8');
const xcache = (r: PlainResponse) => r.headers['x-cache'];
const httpDate = (ms: number) => new Date(ms).toUTCString();

describe('edge cache', () => {
  const origin = new Origin();
  let down: TestUpstream | undefined;
  let gw: TestGateway;

  before(async () => {
    await origin.start();
    down = await startUpstream((_req, res) => {
      sendUndated(res, { 'cache-control': 'max-age=1' }, 'down-v1');
    });
    gw = await startTestGateway(`
routes:
  - name: products
    path_prefix: /v1/products
    upstream: ${origin.up.url}
    cache: {}
  - name: ttl
    path_prefix: /ttl
    upstream: ${origin.up.url}
    cache: { ttl_s: 60 }
  - name: vary
    path_prefix: /vary
    upstream: ${origin.up.url}
    cache: { vary: [Accept-Language] }
  - name: swr
    path_prefix: /swr
    upstream: ${origin.up.url}
    cache: { stale_while_revalidate_s: 10 }
  - name: sie
    path_prefix: /sie
    upstream: ${origin.up.url}
    cache: { stale_if_error_s: 1 }
  - name: sie-down
    path_prefix: /down
    upstream: ${down.url}
    cache: { stale_if_error_s: 1 }
  - name: small
    path_prefix: /small
    upstream: ${origin.up.url}
    cache: { max_entry_bytes: 1000 }
  - name: cc
    path_prefix: /cc
    upstream: ${origin.up.url}
    cache: { cache_control: "public, max-age=60" }
  - name: metered
    path_prefix: /metered
    upstream: ${origin.up.url}
    cache: {}
  - name: plain
    path_prefix: /plain
    upstream: ${origin.up.url}
`);
  });
  after(async () => {
    await gw?.stop();
    await origin.up?.close();
    await down?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    httpRequest(gw.port, { method, path, headers });

  const purge = async (body: string) => {
    const res = await fetch(`${gw.adminUrl}/cache/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, type: res.headers.get('content-type') ?? undefined, text: await res.text() };
  };

  describe('freshness', () => {
    it('max-age from the upstream: MISS then HIT, one upstream hit', async () => {
      const p = '/v1/products/max-age';
      origin.on(p, (n, _req, res) => sendUndated(res, { 'cache-control': 'max-age=60' }, `max-age ${n}`));
      const first = await get(p);
      assert.equal(first.status, 200);
      assert.equal(xcache(first), 'MISS');
      assert.equal(text(first), 'max-age 1');
      for (let i = 0; i < 3; i++) {
        const again = await get(p);
        assert.equal(again.status, 200);
        assert.equal(xcache(again), 'HIT');
        assert.equal(text(again), 'max-age 1');
        assert.equal(again.headers['age'], '0');
        assert.equal(again.headers['content-length'], String('max-age 1'.length));
        assert.equal(again.headers['content-type'], 'text/plain');
      }
      assert.equal(origin.hits(p), 1);
    });

    it('s-maxage wins over max-age=0 for a shared cache', async () => {
      const p = '/v1/products/s-maxage';
      origin.on(p, (n, _req, res) =>
        send(res, 200, { 'cache-control': 'max-age=0, s-maxage=60' }, `s-maxage ${n}`),
      );
      assert.equal(xcache(await get(p)), 'MISS');
      const hit = await get(p);
      assert.equal(xcache(hit), 'HIT');
      assert.equal(text(hit), 's-maxage 1');
      assert.equal(origin.hits(p), 1);
    });

    it('Expires in the future makes a response fresh; Expires in the past does not', async () => {
      const future = '/v1/products/expires';
      origin.on(future, (n, _req, res) =>
        send(res, 200, { expires: httpDate(Date.now() + 60_000) }, `expires ${n}`),
      );
      assert.equal(xcache(await get(future)), 'MISS');
      const hit = await get(future);
      assert.equal(xcache(hit), 'HIT');
      assert.equal(text(hit), 'expires 1');
      assert.equal(origin.hits(future), 1);

      const past = '/v1/products/expired';
      origin.on(past, (n, _req, res) =>
        send(res, 200, { expires: httpDate(Date.now() - 60_000) }, `past ${n}`),
      );
      const a = await get(past);
      const b = await get(past);
      assert.equal(xcache(a), 'MISS');
      assert.equal(xcache(b), 'MISS');
      assert.equal(text(b), 'past 2');
      assert.equal(origin.hits(past), 2);
    });

    it('no freshness information: not served from the cache (no heuristic freshness)', async () => {
      const p = '/v1/products/no-info';
      origin.on(p, (n, _req, res) => send(res, 200, {}, `no-info ${n}`));
      assert.equal(text(await get(p)), 'no-info 1');
      const second = await get(p);
      assert.equal(xcache(second), 'MISS');
      assert.equal(text(second), 'no-info 2');
      assert.equal(origin.hits(p), 2);
    });

    it('ttl_s overrides the upstream: no freshness info and max-age=0 are both cached for the route TTL', async () => {
      const none = '/ttl/none';
      origin.on(none, (n, _req, res) => send(res, 200, {}, `ttl ${n}`));
      const zero = '/ttl/zero';
      origin.on(zero, (n, _req, res) => send(res, 200, { 'cache-control': 'max-age=0' }, `zero ${n}`));
      for (const p of [none, zero]) {
        assert.equal(xcache(await get(p)), 'MISS');
        const hit = await get(p);
        assert.equal(xcache(hit), 'HIT', p);
        assert.match(text(hit), / 1$/);
        assert.equal(origin.hits(p), 1, p);
      }
    });

    it('ttl_s does not make no-store, private or Set-Cookie responses cacheable', async () => {
      const cases: [string, http.OutgoingHttpHeaders][] = [
        ['/ttl/no-store', { 'cache-control': 'no-store' }],
        ['/ttl/private', { 'cache-control': 'private' }],
        ['/ttl/cookie', { 'set-cookie': 'sid=1' }],
      ];
      for (const [p, headers] of cases) {
        origin.on(p, (n, _req, res) => send(res, 200, headers, `body ${n}`));
        assert.equal(xcache(await get(p)), 'MISS', p);
        const second = await get(p);
        assert.equal(xcache(second), 'MISS', p);
        assert.equal(text(second), 'body 2', p);
        assert.equal(origin.hits(p), 2, p);
      }
    });

    it('Age grows while the entry sits in the cache, and starts from the upstream Age', async () => {
      const p = '/v1/products/age';
      origin.on(p, (n, _req, res) => sendUndated(res, { 'cache-control': 'max-age=60' }, `age ${n}`));
      const aged = '/v1/products/aged';
      origin.on(aged, (n, _req, res) =>
        sendUndated(res, { 'cache-control': 'max-age=60', age: '5' }, `aged ${n}`),
      );
      const primed = performance.now();
      await get(p);
      await get(aged);
      assert.equal((await get(p)).headers['age'], '0');
      const agedHit = await get(aged);
      assert.equal(xcache(agedHit), 'HIT');
      assert.equal(agedHit.headers['age'], '5');
      await sleep(1100);
      const later = await get(p);
      const laterAged = await get(aged);
      const upper = Math.floor((performance.now() - primed) / 1000); // 1 unless this machine stalled
      assert.equal(xcache(later), 'HIT');
      const age = Number(later.headers['age']);
      assert.ok(age >= 1 && age <= upper, `Age ${age} after ${upper}+ s`);
      const agedAge = Number(laterAged.headers['age']);
      assert.ok(agedAge >= 6 && agedAge <= 5 + upper, `Age ${agedAge}`);
      assert.equal(origin.hits(p), 1);
      assert.equal(origin.hits(aged), 1);
    });

    it('cache_control sets what the client sees, while freshness comes from the upstream', async () => {
      const p = '/cc/item';
      origin.on(p, (n, _req, res) =>
        send(res, 200, { 'cache-control': 'max-age=30, must-revalidate' }, `cc ${n}`),
      );
      const miss = await get(p);
      assert.equal(miss.headers['cache-control'], 'public, max-age=60');
      const hit = await get(p);
      assert.equal(xcache(hit), 'HIT');
      assert.equal(hit.headers['cache-control'], 'public, max-age=60');
      assert.equal(origin.hits(p), 1);
    });
  });

  describe('revalidation', () => {
    it('no-cache responses are stored but revalidated every time (If-None-Match → 304 → REVALIDATED)', async () => {
      const p = '/v1/products/no-cache';
      origin.on(p, (_n, req, res) => {
        if (req.headers['if-none-match'] === '"nc-1"') return send(res, 304, { etag: '"nc-1"' });
        send(res, 200, { 'cache-control': 'no-cache', etag: '"nc-1"' }, 'no-cache body');
      });
      const first = await get(p);
      assert.equal(xcache(first), 'MISS');
      assert.equal(text(first), 'no-cache body');
      for (let i = 2; i <= 4; i++) {
        const again = await get(p);
        assert.equal(again.status, 200);
        assert.equal(xcache(again), 'REVALIDATED');
        assert.equal(text(again), 'no-cache body');
        assert.equal(again.headers['etag'], '"nc-1"');
        assert.equal(origin.hits(p), i);
      }
      const seen = origin.received(p);
      assert.equal(seen[0]?.headers['if-none-match'], undefined);
      for (const r of seen.slice(1)) assert.equal(r.headers['if-none-match'], '"nc-1"');
    });

    it('stale entries are revalidated with If-None-Match (ETag) and If-Modified-Since (Last-Modified)', async () => {
      const lastModified = httpDate(Date.now() - 3_600_000);
      const etagPath = '/v1/products/stale-etag';
      origin.on(etagPath, (n, req, res) => {
        if (req.headers['if-none-match'] === '"e-1"')
          return send(res, 304, { etag: '"e-1"', 'cache-control': 'max-age=60' });
        send(res, 200, { 'cache-control': 'max-age=1', etag: '"e-1"' }, `etag ${n}`);
      });
      const lmPath = '/v1/products/stale-lm';
      origin.on(lmPath, (n, req, res) => {
        if (req.headers['if-modified-since'] === lastModified)
          return send(res, 304, { 'cache-control': 'max-age=60' });
        send(res, 200, { 'cache-control': 'max-age=1', 'last-modified': lastModified }, `lm ${n}`);
      });
      const changedPath = '/v1/products/stale-changed';
      origin.on(changedPath, (n, _req, res) =>
        send(
          res,
          200,
          { 'cache-control': n === 1 ? 'max-age=1' : 'max-age=60', etag: `"c-${n}"` },
          `changed ${n}`,
        ),
      );
      const condPath = '/v1/products/stale-client-conditional';
      origin.on(condPath, (n, req, res) => {
        if (req.headers['if-none-match'] === '"sc"')
          return send(res, 304, { etag: '"sc"', 'cache-control': 'max-age=60' });
        send(res, 200, { 'cache-control': 'max-age=1', etag: '"sc"' }, `sc ${n}`);
      });
      for (const p of [etagPath, lmPath, changedPath, condPath]) assert.equal(xcache(await get(p)), 'MISS');
      await sleep(1100);

      // The client's own conditional on a stale entry: revalidated upstream, then answered 304 from the entry.
      const cond = await get(condPath, { 'if-none-match': '"sc"' });
      assert.equal(cond.status, 304);
      assert.equal(xcache(cond), 'REVALIDATED');
      assert.equal(cond.body.length, 0);
      assert.equal(origin.received(condPath)[1]?.headers['if-none-match'], '"sc"');
      const condFull = await get(condPath);
      assert.equal(xcache(condFull), 'HIT');
      assert.equal(text(condFull), 'sc 1');
      assert.equal(origin.hits(condPath), 2);

      const etag = await get(etagPath);
      assert.equal(etag.status, 200);
      assert.equal(xcache(etag), 'REVALIDATED');
      assert.equal(text(etag), 'etag 1');
      assert.equal(origin.received(etagPath)[1]?.headers['if-none-match'], '"e-1"');
      const lm = await get(lmPath);
      assert.equal(lm.status, 200);
      assert.equal(xcache(lm), 'REVALIDATED');
      assert.equal(text(lm), 'lm 1');
      assert.equal(origin.received(lmPath)[1]?.headers['if-modified-since'], lastModified);
      // The upstream has a new version: it replaces the entry.
      const changed = await get(changedPath);
      assert.equal(text(changed), 'changed 2');
      assert.equal(origin.received(changedPath)[1]?.headers['if-none-match'], '"c-1"');

      // The 304s made the entries fresh again (max-age=60): HITs, no more upstream requests.
      for (const [p, body] of [
        [etagPath, 'etag 1'],
        [lmPath, 'lm 1'],
        [changedPath, 'changed 2'],
      ] as const) {
        const hit = await get(p);
        assert.equal(xcache(hit), 'HIT', p);
        assert.equal(text(hit), body);
        assert.equal(origin.hits(p), 2, p);
      }
    });

    it('a request with Cache-Control: no-cache revalidates a fresh entry', async () => {
      const p = '/v1/products/client-no-cache';
      origin.on(p, (n, req, res) => {
        if (req.headers['if-none-match'] === '"cn"') return send(res, 304, { etag: '"cn"' });
        send(res, 200, { 'cache-control': 'max-age=60', etag: '"cn"' }, `cn ${n}`);
      });
      await get(p);
      const forced = await get(p, { 'cache-control': 'no-cache' });
      assert.equal(xcache(forced), 'REVALIDATED');
      assert.equal(text(forced), 'cn 1');
      assert.equal(origin.hits(p), 2);
      assert.equal(xcache(await get(p)), 'HIT');
      assert.equal(origin.hits(p), 2);
    });
  });

  describe('answering from the cache', () => {
    it('client If-None-Match and If-Modified-Since are answered 304 from the entry', async () => {
      const lastModified = httpDate(Date.now() - 3_600_000);
      const p = '/v1/products/conditional';
      origin.on(p, (n, _req, res) =>
        send(
          res,
          200,
          { 'cache-control': 'max-age=60', etag: '"cond-1"', 'last-modified': lastModified },
          `c ${n}`,
        ),
      );
      assert.equal(xcache(await get(p)), 'MISS');

      const inm = await get(p, { 'if-none-match': '"cond-1"' });
      assert.equal(inm.status, 304);
      assert.equal(xcache(inm), 'HIT');
      assert.equal(inm.headers['etag'], '"cond-1"');
      assert.equal(inm.body.length, 0);
      assert.ok(inm.headers['age'] !== undefined, 'a 304 from the cache carries Age');

      const weak = await get(p, { 'if-none-match': 'W/"other", W/"cond-1"' });
      assert.equal(weak.status, 304, 'If-None-Match uses the weak comparison');

      const other = await get(p, { 'if-none-match': '"other"' });
      assert.equal(other.status, 200);
      assert.equal(xcache(other), 'HIT');
      assert.equal(text(other), 'c 1');

      const ims = await get(p, { 'if-modified-since': httpDate(Date.now()) });
      assert.equal(ims.status, 304);
      assert.equal(xcache(ims), 'HIT');
      const older = await get(p, { 'if-modified-since': httpDate(Date.now() - 7_200_000) });
      assert.equal(older.status, 200);
      assert.equal(text(older), 'c 1');

      assert.equal(origin.hits(p), 1);
    });

    it('a conditional request that misses fetches the full response without the client validators', async () => {
      const p = '/v1/products/conditional-miss';
      origin.on(p, (n, _req, res) =>
        send(res, 200, { 'cache-control': 'max-age=60', etag: '"cm"' }, `cm ${n}`),
      );
      const miss = await get(p, { 'if-none-match': '"cm"' });
      assert.equal(xcache(miss), 'MISS');
      assert.ok(miss.status === 200 || miss.status === 304, `status ${miss.status}`);
      assert.equal(origin.received(p)[0]?.headers['if-none-match'], undefined);
      const hit = await get(p);
      assert.equal(xcache(hit), 'HIT');
      assert.equal(text(hit), 'cm 1');
      assert.equal(origin.hits(p), 1);
    });

    it('a conditional request that misses is answered 304 when the fetched response matches it', async () => {
      const p = '/v1/products/conditional-miss-304';
      origin.on(p, (n, _req, res) =>
        send(res, 200, { 'cache-control': 'max-age=60', etag: '"cm4"' }, `cm4 ${n}`),
      );
      const miss = await get(p, { 'if-none-match': '"cm4"' });
      assert.equal(xcache(miss), 'MISS');
      assert.equal(miss.status, 304);
      assert.equal(miss.body.length, 0);
    });

    it('HEAD is served from a GET entry without a body; a HEAD miss stores nothing', async () => {
      const p = '/v1/products/head';
      origin.on(p, (n, req, res) => {
        const body = `head ${n}`;
        res.writeHead(200, {
          'content-type': 'text/plain',
          'content-length': Buffer.byteLength(body),
          'cache-control': 'max-age=60',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      });
      const headMiss = await get(p, {}, 'HEAD');
      assert.equal(headMiss.status, 200);
      assert.equal(headMiss.body.length, 0);
      assert.equal(origin.hits(p), 1);
      const getMiss = await get(p);
      assert.equal(xcache(getMiss), 'MISS', 'a HEAD response is not stored for GETs');
      assert.equal(text(getMiss), 'head 2');
      const head = await get(p, {}, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(xcache(head), 'HIT');
      assert.equal(head.body.length, 0);
      assert.equal(head.headers['content-length'], String('head 2'.length));
      assert.equal(origin.hits(p), 2);
    });

    it('query parameter order does not matter; values do', async () => {
      const p = '/v1/products/query';
      origin.on(p, (n, req, res) => send(res, 200, { 'cache-control': 'max-age=60' }, `${req.url} #${n}`));
      const first = await get(`${p}?a=1&b=2`);
      assert.equal(xcache(first), 'MISS');
      const swapped = await get(`${p}?b=2&a=1`);
      assert.equal(xcache(swapped), 'HIT');
      assert.equal(text(swapped), text(first));
      const other = await get(`${p}?a=2&b=1`);
      assert.equal(xcache(other), 'MISS');
      assert.equal(text(other), `${p}?a=2&b=1 #2`);
      const none = await get(p);
      assert.equal(xcache(none), 'MISS');
      assert.equal(origin.hits(p), 3);
    });
  });

  describe('variants', () => {
    const language: PathHandler = (n, req, res) =>
      send(res, 200, { 'cache-control': 'max-age=60' }, `${req.headers['accept-language'] ?? '-'} #${n}`);

    it('declared vary: Accept-Language en and de are two entries, repeats are HITs', async () => {
      const p = '/vary/item';
      origin.on(p, language);
      const en = await get(p, { 'accept-language': 'en' });
      const de = await get(p, { 'accept-language': 'de' });
      assert.equal(xcache(en), 'MISS');
      assert.equal(xcache(de), 'MISS');
      assert.equal(text(en), 'en #1');
      assert.equal(text(de), 'de #2');
      assert.match(String(en.headers['vary']), /Accept-Language/i);
      for (let i = 0; i < 2; i++) {
        const en2 = await get(p, { 'accept-language': 'en' });
        const de2 = await get(p, { 'accept-language': 'de' });
        assert.equal(xcache(en2), 'HIT');
        assert.equal(xcache(de2), 'HIT');
        assert.equal(text(en2), 'en #1');
        assert.equal(text(de2), 'de #2');
        assert.match(String(en2.headers['vary']), /Accept-Language/i);
      }
      const none = await get(p);
      assert.equal(xcache(none), 'MISS', 'no Accept-Language is a variant of its own');
      assert.equal(text(none), '- #3');
      assert.equal(origin.hits(p), 3);
    });

    it("the upstream's Vary selects variants too", async () => {
      const p = '/v1/products/upstream-vary';
      origin.on(p, (n, req, res) =>
        send(
          res,
          200,
          { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
          `${req.headers['accept-language'] ?? '-'} #${n}`,
        ),
      );
      assert.equal(text(await get(p, { 'accept-language': 'en' })), 'en #1');
      assert.equal(text(await get(p, { 'accept-language': 'de' })), 'de #2');
      const en = await get(p, { 'accept-language': 'en' });
      const de = await get(p, { 'accept-language': 'de' });
      assert.equal(xcache(en), 'HIT');
      assert.equal(xcache(de), 'HIT');
      assert.equal(text(en), 'en #1');
      assert.equal(text(de), 'de #2');
      assert.equal(en.headers['vary'], 'Accept-Language');
      assert.equal(origin.hits(p), 2);
    });

    it('Vary: * is never stored', async () => {
      const p = '/v1/products/vary-star';
      origin.on(p, (n, _req, res) =>
        send(res, 200, { 'cache-control': 'max-age=60', vary: '*' }, `star ${n}`),
      );
      assert.equal(xcache(await get(p)), 'MISS');
      const second = await get(p);
      assert.equal(xcache(second), 'MISS');
      assert.equal(text(second), 'star 2');
      assert.equal(origin.hits(p), 2);
    });
  });

  it('coalescing: 100 concurrent misses for one key make exactly one upstream request', async () => {
    const p = '/v1/products/coalesce';
    origin.on(p, async (n, _req, res) => {
      await sleep(100);
      send(res, 200, { 'cache-control': 'max-age=60' }, `coalesced ${n} ${'x'.repeat(2000)}`);
    });
    const all = await Promise.all(Array.from({ length: 100 }, () => get(p)));
    assert.equal(origin.hits(p), 1);
    const bodies = new Set(all.map(text));
    assert.equal(bodies.size, 1);
    assert.match([...bodies][0] ?? '', /^coalesced 1 x{2000}$/);
    assert.ok(
      all.every((r) => r.status === 200),
      JSON.stringify(all.map((r) => r.status)),
    );
    const outcomes = all.map(xcache);
    assert.equal(outcomes.filter((o) => o === 'MISS').length, 1, JSON.stringify(outcomes));
    assert.equal(outcomes.filter((o) => o === 'HIT').length, 99);
  });

  it('coalescing: a cold key whose upstream varies gets one upstream request per variant', async () => {
    const p = '/v1/products/coalesce-vary';
    origin.on(p, async (n, req, res) => {
      await sleep(100);
      const lang = String(req.headers['accept-language']);
      send(res, 200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, `${lang} ${n}`);
    });
    const all = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const lang = i % 2 === 0 ? 'en' : 'de';
        return get(p, { 'accept-language': lang }).then((r) => ({ lang, r }));
      }),
    );
    for (const { lang, r } of all) assert.match(text(r), new RegExp(`^${lang} \\d+$`));
    assert.equal(origin.hits(p), 2, `${origin.hits(p)} upstream requests for 2 variants`);
  });

  it('stale-while-revalidate: STALE at once, one background refresh, then a HIT with the new content', async () => {
    const route = '/swr/item'; // the route's stale_while_revalidate_s: 10
    const granted = '/v1/products/swr'; // the upstream grants it: stale-while-revalidate=10
    origin.on(route, async (n, _req, res) => {
      if (n > 1) await sleep(800);
      send(res, 200, { 'cache-control': n === 1 ? 'max-age=1' : 'max-age=60' }, `swr v${n}`);
    });
    origin.on(granted, async (n, _req, res) => {
      if (n > 1) await sleep(800);
      const cc = n === 1 ? 'max-age=1, stale-while-revalidate=10' : 'max-age=60';
      send(res, 200, { 'cache-control': cc }, `granted v${n}`);
    });
    const validated = '/swr/validated'; // the refresh gets a 304
    origin.on(validated, async (n, req, res) => {
      if (n > 1) await sleep(800);
      if (req.headers['if-none-match'] === '"w"')
        return send(res, 304, { etag: '"w"', 'cache-control': 'max-age=60' });
      send(res, 200, { 'cache-control': 'max-age=1', etag: '"w"' }, `validated v${n}`);
    });
    assert.equal(text(await get(route)), 'swr v1');
    assert.equal(text(await get(granted)), 'granted v1');
    assert.equal(text(await get(validated)), 'validated v1');
    await sleep(1100);
    for (const [p, name] of [
      [route, 'swr'],
      [granted, 'granted'],
      [validated, 'validated'],
    ] as const) {
      const t0 = performance.now();
      const stale = await Promise.all(Array.from({ length: 5 }, () => get(p)));
      const took = performance.now() - t0;
      assert.ok(took < 500, `stale answers took ${took.toFixed(0)} ms (the upstream takes 800 ms)`);
      for (const r of stale) {
        assert.equal(xcache(r), 'STALE', p);
        assert.equal(text(r), `${name} v1`);
        assert.ok(Number(r.headers['age']) >= 1);
      }
    }
    // Exactly one background refresh per entry reaches the upstream.
    const paths = [route, granted, validated];
    for (let i = 0; i < 100 && paths.some((p) => origin.hits(p) < 2); i++) await sleep(10);
    await sleep(1000); // the refresh answers after 800 ms and is stored
    for (const p of paths) assert.equal(origin.hits(p), 2, p);
    assert.equal(
      origin.received(validated)[1]?.headers['if-none-match'],
      '"w"',
      'the refresh is conditional',
    );
    const fresh = await get(route);
    assert.equal(xcache(fresh), 'HIT');
    assert.equal(text(fresh), 'swr v2');
    const freshGranted = await get(granted);
    assert.equal(xcache(freshGranted), 'HIT');
    assert.equal(text(freshGranted), 'granted v2');
    const revalidated = await get(validated);
    assert.equal(xcache(revalidated), 'HIT', 'the 304 made the entry fresh again');
    assert.equal(text(revalidated), 'validated v1');
    for (const p of paths) assert.equal(origin.hits(p), 2, p);
  });

  it('stale-if-error: STALE when the upstream answers 500 or is gone; past the window, the error', async () => {
    const p = '/sie/item';
    origin.on(p, (n, _req, res) =>
      n === 1
        ? sendUndated(res, { 'cache-control': 'max-age=1' }, 'sie v1')
        : send(res, 500, {}, 'upstream broke'),
    );
    assert.equal(text(await get(p)), 'sie v1');
    assert.equal(text(await get('/down/item')), 'down-v1');
    await sleep(1100);
    await down?.close(); // the upstream is gone: connection refused

    const stale = await get(p);
    assert.equal(stale.status, 200);
    assert.equal(xcache(stale), 'STALE');
    assert.equal(text(stale), 'sie v1');
    assert.equal(origin.hits(p), 2, 'the upstream was asked and failed');
    const staleDown = await get('/down/item');
    assert.equal(staleDown.status, 200);
    assert.equal(xcache(staleDown), 'STALE');
    assert.equal(text(staleDown), 'down-v1');

    await sleep(1000); // now stale by more than stale_if_error_s: 1
    const failed = await get(p);
    assert.equal(failed.status, 500);
    assert.equal(text(failed), 'upstream broke');
    const failedDown = await get('/down/item');
    assert.equal(failedDown.status, 502);
    assertProblemBody(failedDown.headers['content-type'], text(failedDown), 502);
    assert.equal(origin.hits(p), 3);
  });

  it('max_entry_bytes: larger responses are not stored, with Content-Length or chunked', async () => {
    const big = 'b'.repeat(2000);
    origin.on('/small/length', (_n, _req, res) => send(res, 200, { 'cache-control': 'max-age=60' }, big));
    origin.on('/small/chunked', (_n, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
      res.write(big.slice(0, 600));
      res.write(big.slice(600, 1200));
      res.end(big.slice(1200));
    });
    origin.on('/small/fits', (_n, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
      res.write('f'.repeat(500));
      res.end('f'.repeat(500)); // exactly 1000 bytes, chunked
    });
    for (const p of ['/small/length', '/small/chunked']) {
      for (let i = 1; i <= 2; i++) {
        const r = await get(p);
        assert.equal(r.status, 200);
        assert.equal(xcache(r), 'MISS', `${p} #${i}`);
        assert.equal(text(r), big, 'the whole body still reaches the client');
        if (p === '/small/chunked') assert.equal(r.headers['transfer-encoding'], 'chunked');
      }
      assert.equal(origin.hits(p), 2, p);
    }
    assert.equal(text(await get('/small/fits')), 'f'.repeat(1000));
    const fits = await get('/small/fits');
    assert.equal(xcache(fits), 'HIT');
    assert.equal(text(fits), 'f'.repeat(1000));
    assert.equal(fits.headers['content-length'], '1000');
    assert.equal(origin.hits('/small/fits'), 1);
  });

  describe('purge', () => {
    it('by exact key, by prefix and by tag (Surrogate-Key and Cache-Tag)', async () => {
      const tagged =
        (tags: http.OutgoingHttpHeaders): PathHandler =>
        (n, _req, res) =>
          send(res, 200, { 'cache-control': 'max-age=60', ...tags }, `n${n}`);
      origin.on('/v1/products/purge/k', tagged({}));
      origin.on('/v1/products/purge/s', tagged({ 'surrogate-key': 'prod-s  all-products' }));
      origin.on('/v1/products/purge/c', tagged({ 'cache-tag': 'prod-c, all-products' }));
      origin.on('/v1/products/purge/other', tagged({}));
      const prime = async (p: string, query = '') => {
        await get(p + query);
        assert.equal(xcache(await get(p + query)), 'HIT', p + query);
      };
      const paths = ['/v1/products/purge/k', '/v1/products/purge/s', '/v1/products/purge/c'];
      for (const p of paths) await prime(p);
      await prime('/v1/products/purge/k', '?b=2&a=1');

      // Exact key: <path>?<normalized query>\n<host>
      const byKey = await purge(JSON.stringify({ key: '/v1/products/purge/k?\n127.0.0.1' }));
      assert.equal(byKey.status, 200, byKey.text);
      assert.deepEqual(JSON.parse(byKey.text), { purged: 1, key: '/v1/products/purge/k?\n127.0.0.1' });
      assert.equal(xcache(await get('/v1/products/purge/k')), 'MISS');
      assert.equal(xcache(await get('/v1/products/purge/k?a=1&b=2')), 'HIT', 'another query is another key');
      const normalized = await purge(JSON.stringify({ key: '/v1/products/purge/k?a=1&b=2\n127.0.0.1' }));
      assert.equal(JSON.parse(normalized.text).purged, 1);
      assert.equal(xcache(await get('/v1/products/purge/k?b=2&a=1')), 'MISS');
      const again = await purge(JSON.stringify({ key: '/v1/products/purge/nothing?\n127.0.0.1' }));
      assert.equal(JSON.parse(again.text).purged, 0);

      // Tags: one from Surrogate-Key, one from Cache-Tag, one both carry.
      const bySurrogate = await purge(JSON.stringify({ tag: 'prod-s' }));
      assert.deepEqual(JSON.parse(bySurrogate.text), { purged: 1, tag: 'prod-s' });
      assert.equal(xcache(await get('/v1/products/purge/s')), 'MISS');
      assert.equal(xcache(await get('/v1/products/purge/c')), 'HIT');
      const byCacheTag = await purge(JSON.stringify({ tag: 'prod-c' }));
      assert.equal(JSON.parse(byCacheTag.text).purged, 1);
      assert.equal(xcache(await get('/v1/products/purge/c')), 'MISS');
      const shared = await purge(JSON.stringify({ tag: 'all-products' }));
      assert.equal(JSON.parse(shared.text).purged, 2, 'both entries carry all-products');
      assert.equal(xcache(await get('/v1/products/purge/s')), 'MISS');
      assert.equal(xcache(await get('/v1/products/purge/c')), 'MISS');

      // Prefix: every entry under the path, whatever the query; others stay.
      await prime('/v1/products/purge/other');
      for (const p of paths) assert.equal(xcache(await get(p)), 'HIT', p);
      const byPrefix = await purge(JSON.stringify({ prefix: '/v1/products/purge/' }));
      assert.equal(byPrefix.status, 200);
      const purged = JSON.parse(byPrefix.text) as { purged: number; prefix: string };
      assert.equal(purged.prefix, '/v1/products/purge/');
      assert.equal(purged.purged, 5, '/k, /k?a=1&b=2, /s, /c, /other');
      for (const p of [...paths, '/v1/products/purge/other'])
        assert.equal(xcache(await get(p)), 'MISS', `${p} after the prefix purge`);
      assert.equal(xcache(await get('/v1/products/max-age')), 'HIT', 'outside the prefix');
    });

    it('purge by key removes every variant of the key', async () => {
      const p = '/vary/purge';
      origin.on(p, (n, req, res) =>
        send(res, 200, { 'cache-control': 'max-age=60' }, `${req.headers['accept-language'] ?? '-'} #${n}`),
      );
      await get(p, { 'accept-language': 'en' });
      await get(p, { 'accept-language': 'de' });
      assert.equal(xcache(await get(p, { 'accept-language': 'de' })), 'HIT');
      const res = await purge(JSON.stringify({ key: `${p}?\n127.0.0.1` }));
      assert.equal(JSON.parse(res.text).purged, 3, 'the Vary record and two variants');
      assert.equal(xcache(await get(p, { 'accept-language': 'en' })), 'MISS');
      assert.equal(xcache(await get(p, { 'accept-language': 'de' })), 'MISS');
      assert.equal(origin.hits(p), 4);
    });

    it('by key: a URL or the key form, with or without the port the requests carried (docs/caching.md#purge)', async () => {
      const p = '/v1/products/purge/port';
      origin.on(p, (n, _req, res) => send(res, 200, { 'cache-control': 'max-age=60' }, `n${n}`));
      // Requests as a client sends them: Host with the port.
      const host = `127.0.0.1:${gw.port}`;
      const prime = async () => {
        await get(`${p}?b=2&a=1`, { host });
        assert.equal(xcache(await get(`${p}?b=2&a=1`, { host })), 'HIT');
      };
      const keys = [
        `http://${host}${p}?b=2&a=1`, // the URL as requested
        `HTTP://127.0.0.1${p}?a=1&b=2`, // without the port
        `${p}?a=1&b=2\n${host}`, // the key form, with the port
        `${p}?a=1&b=2\n127.0.0.1`, // the key form as stored
        `${p}?b=2&a=1\n127.0.0.1:1`, // any port: the key has none
      ];
      for (const key of keys) {
        await prime();
        const res = await purge(JSON.stringify({ key }));
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(JSON.parse(res.text), { purged: 1, key }, key);
        assert.equal(xcache(await get(`${p}?a=1&b=2`, { host })), 'MISS', key);
      }
      const others = [
        `http://localhost:${gw.port}${p}?a=1&b=2`,
        `${p}?a=1\n127.0.0.1`,
        `${p}/x?a=1&b=2\n${host}`,
      ];
      for (const key of others) {
        const res = await purge(JSON.stringify({ key }));
        assert.equal(JSON.parse(res.text).purged, 0, `${key} names another entry`);
      }
      assert.equal(xcache(await get(`${p}?a=1&b=2`, { host })), 'HIT');
      const refused = [`${p}?a=1`, 'http://', `http://${host}/a/%2500`, `/x?\n`, 'products?\n127.0.0.1'];
      for (const key of refused) {
        const res = await purge(JSON.stringify({ key }));
        assert.equal(res.status, 400, `${key}: ${res.text}`);
        assertProblemBody(res.type, res.text, 400);
      }
    });

    it('bad purge bodies are 400 problems; other methods 405', async () => {
      const bad = [
        'not json',
        '',
        'null',
        '[]',
        '"key"',
        '{}',
        '{"key": ""}',
        '{"key": 1}',
        '{"tag": null}',
        '{"key": "a", "tag": "b"}',
        '{"bogus": "x"}',
        '{"prefix": "v1/products"}',
      ];
      for (const body of bad) {
        const res = await purge(body);
        assert.equal(res.status, 400, body);
        assertProblemBody(res.type, res.text, 400);
      }
      const wrongMethod = await fetch(`${gw.adminUrl}/cache/purge`);
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'POST');
      await wrongMethod.text();
    });
  });

  describe('invalidation by unsafe methods', () => {
    it('a successful POST, PUT, PATCH or DELETE to the path invalidates its entry (variants too)', async () => {
      const p = '/v1/products/invalidate';
      origin.on(p, (n, req, res) =>
        req.method === 'GET'
          ? send(res, 200, { 'cache-control': 'max-age=60' }, `get ${n}`)
          : send(res, 200, {}, `${req.method} ok`),
      );
      let gets = 0;
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        assert.equal(xcache(await get(p)), 'MISS', `before ${method}`);
        gets++;
        assert.equal(xcache(await get(p)), 'HIT');
        const unsafe = await httpRequest(gw.port, { method, path: p, body: 'x' });
        assert.equal(unsafe.status, 200);
        assert.equal(xcache(unsafe), 'BYPASS');
        assert.equal(text(unsafe), `${method} ok`);
      }
      const last = await get(p);
      assert.equal(xcache(last), 'MISS');
      gets++;
      assert.equal(origin.received(p).filter((r) => r.method === 'GET').length, gets);

      const v = '/vary/invalidate';
      origin.on(v, (n, req, res) =>
        req.method === 'GET'
          ? send(res, 200, { 'cache-control': 'max-age=60' }, `${req.headers['accept-language']} ${n}`)
          : send(res, 204, {}),
      );
      await get(v, { 'accept-language': 'en' });
      await get(v, { 'accept-language': 'de' });
      assert.equal(xcache(await get(v, { 'accept-language': 'en' })), 'HIT');
      assert.equal((await httpRequest(gw.port, { method: 'POST', path: v, body: 'x' })).status, 204);
      assert.equal(xcache(await get(v, { 'accept-language': 'en' })), 'MISS');
      assert.equal(xcache(await get(v, { 'accept-language': 'de' })), 'MISS');
    });

    it('a failed POST leaves the entry alone', async () => {
      const p = '/v1/products/invalidate-fail';
      origin.on(p, (n, req, res) =>
        req.method === 'GET'
          ? send(res, 200, { 'cache-control': 'max-age=60' }, `get ${n}`)
          : send(res, 409, {}, 'conflict'),
      );
      await get(p);
      assert.equal((await httpRequest(gw.port, { method: 'POST', path: p, body: 'x' })).status, 409);
      const hit = await get(p);
      assert.equal(xcache(hit), 'HIT');
      assert.equal(text(hit), 'get 1');
    });
  });

  it('metrics: requests by route and result, stored bytes, store size', async () => {
    const body = 'm'.repeat(100);
    origin.on('/metered/a', (_n, req, res) =>
      req.method === 'GET'
        ? send(res, 200, { 'cache-control': 'max-age=60' }, body)
        : send(res, 200, {}, 'ok'),
    );
    origin.on('/metered/nc', (_n, req, res) =>
      req.headers['if-none-match'] === '"m"'
        ? send(res, 304, { etag: '"m"' })
        : send(res, 200, { 'cache-control': 'no-cache', etag: '"m"' }, 'n'.repeat(50)),
    );
    const sequence: [string, string, string][] = [
      ['GET', '/metered/a', 'MISS'],
      ['GET', '/metered/a', 'HIT'],
      ['HEAD', '/metered/a', 'HIT'],
      ['POST', '/metered/a', 'BYPASS'],
      ['GET', '/metered/a', 'MISS'],
      ['GET', '/metered/a', 'HIT'],
      ['GET', '/metered/nc', 'MISS'],
      ['GET', '/metered/nc', 'REVALIDATED'],
      ['GET', '/metered/nc', 'REVALIDATED'],
    ];
    for (const [method, path, outcome] of sequence) {
      const res = await httpRequest(gw.port, { method, path, body: method === 'POST' ? 'x' : undefined });
      assert.equal(xcache(res), outcome, `${method} ${path}`);
    }
    await sleep(50);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const count = (result: string) =>
      sample(metrics, 'portico_cache_requests_total', { route: 'metered', result });
    assert.equal(count('miss'), 3);
    assert.equal(count('hit'), 3);
    assert.equal(count('bypass'), 1);
    assert.equal(count('revalidated'), 2);
    assert.equal(count('stale'), 0);
    assert.equal(sample(metrics, 'portico_cache_stored_bytes_total', { route: 'metered' }), 250);
    const bytes = sample(metrics, 'portico_cache_bytes', { store: 'memory' });
    const entries = sample(metrics, 'portico_cache_entries', { store: 'memory' });
    assert.ok(bytes !== undefined && bytes > 250, `portico_cache_bytes ${bytes}`);
    assert.ok(entries !== undefined && entries >= 2, `portico_cache_entries ${entries}`);
    assert.equal(sample(metrics, 'portico_cache_evictions_total', { store: 'memory' }), 0);
    // The swr route served STALE in an earlier test, the sie route too.
    assert.ok((sample(metrics, 'portico_cache_requests_total', { route: 'swr', result: 'stale' }) ?? 0) >= 5);
    // A route without cache has no cache series.
    assert.equal(
      sample(metrics, 'portico_cache_requests_total', { route: 'plain', result: 'miss' }),
      undefined,
    );
  });
});

describe('edge cache: a small store evicts the least recently used entries', () => {
  const origin = new Origin();
  let gw: TestGateway;
  before(async () => {
    await origin.start();
    gw = await startTestGateway(`
cache:
  max_bytes: 4096
routes:
  - name: lru
    path_prefix: /lru
    upstream: ${origin.up.url}
    cache: {}
`);
  });
  after(async () => {
    await gw?.stop();
    await origin.up?.close();
  });

  it('evicts to stay within max_bytes, counts evictions, and the evicted entry is a MISS again', async () => {
    const paths = Array.from({ length: 6 }, (_, i) => `/lru/${i}`);
    for (const p of paths)
      origin.on(p, (n, _req, res) =>
        send(res, 200, { 'cache-control': 'max-age=60' }, `${p} ${n} `.padEnd(1000, '.')),
      );
    for (const p of paths) assert.equal(xcache(await httpRequest(gw.port, { path: p })), 'MISS', p);
    await sleep(50);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const evictions = sample(metrics, 'portico_cache_evictions_total', { store: 'memory' }) ?? 0;
    const bytes = sample(metrics, 'portico_cache_bytes', { store: 'memory' }) ?? -1;
    const entries = sample(metrics, 'portico_cache_entries', { store: 'memory' }) ?? -1;
    assert.ok(evictions >= 3, `evictions ${evictions}`);
    assert.ok(bytes > 1000 && bytes <= 4096, `bytes ${bytes}`);
    assert.equal(entries, paths.length - evictions);
    assert.equal(sample(metrics, 'portico_cache_stored_bytes_total', { route: 'lru' }), 6000);

    // The newest stays; the oldest was evicted.
    const newest = paths[paths.length - 1]!;
    assert.equal(xcache(await httpRequest(gw.port, { path: newest })), 'HIT');
    const oldest = await httpRequest(gw.port, { path: paths[0]! });
    assert.equal(xcache(oldest), 'MISS');
    assert.match(text(oldest), /^\/lru\/0 2 /);
    assert.equal(origin.hits(paths[0]!), 2);
    assert.equal(origin.hits(newest), 1);
  });
});

describe('edge cache: purge without a caching route', () => {
  let gw: TestGateway;
  let up: TestUpstream;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`
routes:
  - name: plain
    path_prefix: /
    upstream: ${up.url}
`);
  });
  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  it('answers a 404 problem', async () => {
    const res = await fetch(`${gw.adminUrl}/cache/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"prefix": "/"}',
    });
    assert.equal(res.status, 404);
    const p = assertProblemBody(res.headers.get('content-type') ?? undefined, await res.text(), 404);
    assert.match(String(p.detail), /cache/i);
  });
});
