// What the edge cache must never do, end to end against a real upstream that counts its hits: store
// Set-Cookie, private or no-store responses, or anything for a request that says no-store; serve one
// consumer's response to another (authenticated requests bypass the cache unless the route keys entries by
// consumer or varies on Authorization); let an unkeyed request header that the upstream reflects poison
// what later clients get; let one route's entry answer another route; answer Range requests from entries;
// or mix up different paths.
//
// Requests go through node:http (httpRequest) so that the headers sent are exactly the ones written here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Origin, send, type PathHandler } from '../helpers/counting-origin.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { httpRequest, type PlainResponse } from '../fixtures/http-tools.js';

const KEY_A = 'pk_alpha_0123456789abcdef';
const KEY_B = 'pk_bravo_fedcba9876543210';
const sha = (k: string) => 'sha256:' + createHash('sha256').update(k).digest('hex');

const text = (r: PlainResponse) => r.body.toString('utf8');
const xcache = (r: PlainResponse) => r.headers['x-cache'];

describe('edge cache safety', () => {
  const origin = new Origin();
  let gw: TestGateway;

  before(async () => {
    await origin.start();
    gw = await startTestGateway(`
auth:
  api_key:
    header: X-Api-Key
consumers:
  - id: alpha
    api_keys: ["${sha(KEY_A)}"]
  - id: bravo
    api_keys: ["${sha(KEY_B)}"]
routes:
  - name: public
    path_prefix: /v1/products
    upstream: ${origin.up.url}
    # An encoded "/" is data here, so a%2Fb and a/b must be two entries (refused by default).
    path_escapes: keep
    cache: {}
  - name: authed
    path_prefix: /authed
    upstream: ${origin.up.url}
    auth: api_key
    cache: {}
  - name: per-consumer
    path_prefix: /mine
    upstream: ${origin.up.url}
    auth: api_key
    cache: { key: [consumer] }
  - name: by-credential
    path_prefix: /credential
    upstream: ${origin.up.url}
    cache: { vary: [Authorization] }
  - name: keyed-no-auth
    path_prefix: /keyed
    upstream: ${origin.up.url}
    cache: { key: [consumer] }
  - name: versioned-v2
    match: { path: /versioned, headers: { X-Api-Version: "2" } }
    upstream: ${origin.up.url}
    cache: {}
  - name: versioned-v1
    path_prefix: /versioned
    upstream: ${origin.up.url}
    cache: {}
`);
  });
  after(async () => {
    await gw?.stop();
    await origin.up?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => httpRequest(gw.port, { path, headers });

  describe('responses a shared cache must not store', () => {
    const cases: [string, http.OutgoingHttpHeaders][] = [
      ['set-cookie', { 'cache-control': 'public, max-age=60', 'set-cookie': 'sid=SECRET' }],
      ['private', { 'cache-control': 'private, max-age=60' }],
      ['private-field', { 'cache-control': 'max-age=60, private="x-user"' }],
      ['no-store', { 'cache-control': 'no-store, max-age=60' }],
      ['no-store-s-maxage', { 'cache-control': 's-maxage=60, no-store' }],
    ];
    for (const [name, headers] of cases) {
      it(`${name}: every request reaches the upstream`, async () => {
        const p = `/v1/products/never/${name}`;
        origin.on(p, (n, _req, res) => send(res, 200, headers, `${name} ${n}`));
        for (let i = 1; i <= 3; i++) {
          const r = await get(p);
          assert.equal(r.status, 200);
          assert.equal(xcache(r), 'MISS');
          assert.equal(text(r), `${name} ${i}`);
        }
        assert.equal(origin.hits(p), 3);
      });
    }

    it('Set-Cookie under concurrency: no client ever gets another client’s cookie', async () => {
      const p = '/v1/products/never/cookie-burst';
      origin.on(p, async (n, _req, res) => {
        await new Promise((r) => setTimeout(r, 50));
        send(res, 200, { 'cache-control': 'public, max-age=60', 'set-cookie': `sid=s${n}` }, `cookie ${n}`);
      });
      const all = await Promise.all(Array.from({ length: 20 }, () => get(p)));
      const cookies = all.map((r) => String(r.headers['set-cookie']));
      assert.equal(new Set(cookies).size, 20, JSON.stringify(cookies));
      for (const r of all) {
        const n = /^cookie (\d+)$/.exec(text(r))?.[1];
        assert.deepEqual(r.headers['set-cookie'], [`sid=s${n}`], 'the cookie belongs to this very response');
      }
      assert.equal(origin.hits(p), 20);
    });

    it('a request with Cache-Control: no-store neither uses nor fills the cache', async () => {
      const p = '/v1/products/request-no-store';
      origin.on(p, (n, _req, res) => send(res, 200, { 'cache-control': 'max-age=60' }, `rns ${n}`));
      const first = await get(p, { 'cache-control': 'no-store' });
      assert.equal(xcache(first), 'BYPASS');
      const plain = await get(p);
      assert.equal(xcache(plain), 'MISS', 'the no-store request stored nothing');
      assert.equal(text(plain), 'rns 2');
      assert.equal(xcache(await get(p)), 'HIT');
      const again = await get(p, { 'cache-control': 'no-store' });
      assert.equal(xcache(again), 'BYPASS', 'a stored entry is not used either');
      assert.equal(text(again), 'rns 3');
      assert.equal(origin.hits(p), 3);
    });
  });

  describe('authenticated requests', () => {
    const echoUser: PathHandler = (n, req, res) =>
      send(
        res,
        200,
        { 'cache-control': 'public, s-maxage=60, max-age=60' },
        `user=${String(req.headers['x-authenticated-user'])} #${n}`,
      );

    it('bypass the cache on a route not keyed by consumer, even when the upstream says public', async () => {
      const p = '/authed/profile';
      origin.on(p, echoUser);
      const seen: string[] = [];
      for (const key of [KEY_A, KEY_B, KEY_A, KEY_B]) {
        const r = await get(p, { 'x-api-key': key });
        assert.equal(r.status, 200);
        assert.equal(xcache(r), 'BYPASS');
        seen.push(text(r));
      }
      assert.deepEqual(seen, ['user=alpha #1', 'user=bravo #2', 'user=alpha #3', 'user=bravo #4']);
      assert.equal(origin.hits(p), 4);
      assert.equal((await get(p)).status, 401, 'no key, no entry');
    });

    it('key: [consumer] gives each consumer its own entries; A never gets B’s', async () => {
      const p = '/mine/profile';
      origin.on(p, echoUser);
      const a1 = await get(p, { 'x-api-key': KEY_A });
      const b1 = await get(p, { 'x-api-key': KEY_B });
      assert.equal(xcache(a1), 'MISS');
      assert.equal(xcache(b1), 'MISS');
      assert.equal(text(a1), 'user=alpha #1');
      assert.equal(text(b1), 'user=bravo #2');
      for (let i = 0; i < 3; i++) {
        const a = await get(p, { 'x-api-key': KEY_A });
        const b = await get(p, { 'x-api-key': KEY_B });
        assert.equal(xcache(a), 'HIT');
        assert.equal(xcache(b), 'HIT');
        assert.equal(text(a), 'user=alpha #1');
        assert.equal(text(b), 'user=bravo #2');
      }
      assert.equal(origin.hits(p), 2);
      assert.equal((await get(p)).status, 401);
      assert.equal(origin.hits(p), 2);
    });

    it('key: [consumer] under concurrency: both consumers’ misses at once, no mix-up', async () => {
      const p = '/mine/burst';
      origin.on(p, async (n, req, res) => {
        await new Promise((r) => setTimeout(r, 50));
        echoUser(n, req, res);
      });
      const all = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          get(p, { 'x-api-key': i % 2 === 0 ? KEY_A : KEY_B }).then((r) => ({ i, r })),
        ),
      );
      for (const { i, r } of all)
        assert.match(text(r), i % 2 === 0 ? /^user=alpha #[12]$/ : /^user=bravo #[12]$/, `request ${i}`);
      assert.equal(origin.hits(p), 2, 'one upstream request per consumer');
    });

    it('vary: [Authorization] keys entries by credential', async () => {
      const p = '/credential/me';
      origin.on(p, (n, req, res) =>
        send(
          res,
          200,
          { 'cache-control': 'max-age=60' },
          `auth=${String(req.headers['authorization'])} #${n}`,
        ),
      );
      const alice = await get(p, { authorization: 'Bearer alice' });
      const bob = await get(p, { authorization: 'Bearer bob' });
      assert.equal(xcache(alice), 'MISS');
      assert.equal(xcache(bob), 'MISS');
      for (let i = 0; i < 2; i++) {
        const a = await get(p, { authorization: 'Bearer alice' });
        const b = await get(p, { authorization: 'Bearer bob' });
        assert.equal(xcache(a), 'HIT');
        assert.equal(xcache(b), 'HIT');
        assert.equal(text(a), 'auth=Bearer alice #1');
        assert.equal(text(b), 'auth=Bearer bob #2');
        assert.match(String(a.headers['vary']), /Authorization/i);
      }
      const anonymous = await get(p);
      assert.equal(xcache(anonymous), 'MISS');
      assert.equal(text(anonymous), 'auth=undefined #3');
      assert.equal(origin.hits(p), 3);
    });

    it('key: [consumer] on a route without auth: a request with Authorization never answers another', async () => {
      const p = '/keyed/me';
      origin.on(p, (n, req, res) =>
        send(
          res,
          200,
          { 'cache-control': 'max-age=60' },
          `auth=${String(req.headers['authorization'])} #${n}`,
        ),
      );
      const alice = await get(p, { authorization: 'Bearer alice' });
      assert.equal(text(alice), 'auth=Bearer alice #1');
      const bob = await get(p, { authorization: 'Bearer bob' });
      assert.doesNotMatch(text(bob), /alice/, `Bob got ${text(bob)} (${String(xcache(bob))})`);
      const anonymous = await get(p);
      assert.doesNotMatch(text(anonymous), /alice/, `an anonymous client got ${text(anonymous)}`);
    });
  });

  describe('cache poisoning through unkeyed request headers', () => {
    const reflected = ['x-forwarded-host', 'x-original-url', 'x-forwarded-scheme', 'x-host'];
    /** Answers as a naive origin would: builds links from whatever these headers say, cacheable, no Vary. */
    const naive: PathHandler = (n, req, res) => {
      const parts = reflected.map((h) => `${h}=${String(req.headers[h])}`);
      send(res, 200, { 'cache-control': 'public, max-age=60' }, `${parts.join(' ')} #${n}`);
    };
    const attacks: [string, string][] = [
      ['X-Forwarded-Host', 'evil.example'],
      ['X-Original-URL', '/evil'],
      ['X-Forwarded-Scheme', 'evil'],
      ['X-Host', 'evil.example'],
    ];
    for (const [header, value] of attacks) {
      it(`${header}: ${value} does not change what a later normal request gets`, async () => {
        const p = `/v1/products/poison/${header.toLowerCase()}`;
        origin.on(p, naive);
        const attack = await get(p, { [header]: value });
        assert.equal(attack.status, 200);
        const normal = await get(p);
        assert.equal(normal.status, 200);
        assert.doesNotMatch(
          text(normal),
          /evil/,
          `the normal client got: ${text(normal)} (${String(xcache(normal))})`,
        );
        const again = await get(p);
        assert.doesNotMatch(text(again), /evil/);
      });
    }
  });

  it('routes told apart by a header match never answer each other from the cache', async () => {
    const p = '/versioned/item';
    origin.on(p, (n, req, res) =>
      send(
        res,
        200,
        { 'cache-control': 'max-age=60' },
        `v${String(req.headers['x-api-version'] ?? '1')} #${n}`,
      ),
    );
    const v1 = await get(p);
    assert.equal(text(v1), 'v1 #1');
    const v2 = await get(p, { 'x-api-version': '2' });
    assert.equal(text(v2), 'v2 #2', `the v2 route answered ${text(v2)} (${String(xcache(v2))})`);
    assert.equal(text(await get(p)), 'v1 #1');
  });

  it('Range requests bypass the cache, and a 206 is never stored', async () => {
    const p = '/v1/products/range';
    origin.on(p, (n, req, res) => {
      const full = `0123456789 #${n}`;
      if (req.headers['range'] === 'bytes=0-3')
        return send(
          res,
          206,
          { 'cache-control': 'max-age=60', 'content-range': `bytes 0-3/${full.length}` },
          full.slice(0, 4),
        );
      send(res, 200, { 'cache-control': 'max-age=60' }, full);
    });
    const partialFirst = await get(p, { range: 'bytes=0-3' });
    assert.equal(partialFirst.status, 206);
    assert.equal(xcache(partialFirst), 'BYPASS');
    assert.equal(text(partialFirst), '0123');
    const full = await get(p);
    assert.equal(full.status, 200);
    assert.equal(xcache(full), 'MISS', 'the 206 was not stored');
    assert.equal(text(full), '0123456789 #2');
    assert.equal(xcache(await get(p)), 'HIT');
    const partial = await get(p, { range: 'bytes=0-3' });
    assert.equal(partial.status, 206);
    assert.equal(xcache(partial), 'BYPASS');
    assert.equal(origin.hits(p), 3);
    const hit = await get(p);
    assert.equal(xcache(hit), 'HIT');
    assert.equal(text(hit), '0123456789 #2');
  });

  it('paths: dot segments share the normalized entry; different paths never share', async () => {
    const echoPath: PathHandler = (n, req, res) =>
      send(res, 200, { 'cache-control': 'max-age=60' }, `${String(req.url)} #${n}`);
    for (const p of [
      '/v1/products/a',
      '/v1/products/b',
      '/v1/products/A',
      '/v1/products/a%2Fb',
      '/v1/products/a/b',
    ])
      origin.on(p, echoPath);

    const dotted = await get('/v1/products/./a');
    assert.equal(text(dotted), '/v1/products/a #1', 'the upstream gets the normalized path');
    const plain = await get('/v1/products/a');
    assert.equal(xcache(plain), 'HIT');
    assert.equal(text(plain), '/v1/products/a #1');
    assert.equal(text(await get('/v1/products/b/../a')), '/v1/products/a #1');
    assert.equal(origin.hits('/v1/products/a'), 1);

    const others: [string, string][] = [
      ['/v1/products/b', '/v1/products/b #1'],
      ['/v1/products/A', '/v1/products/A #1'],
      ['/v1/products/a%2Fb', '/v1/products/a%2Fb #1'],
      ['/v1/products/a/b', '/v1/products/a/b #1'],
    ];
    for (const [path, body] of others) {
      const miss = await get(path);
      assert.equal(xcache(miss), 'MISS', path);
      assert.equal(text(miss), body);
    }
    for (const [path, body] of others) assert.equal(text(await get(path)), body, `${path} from the cache`);
    assert.equal(text(await get('/v1/products/a')), '/v1/products/a #1');
  });
});
