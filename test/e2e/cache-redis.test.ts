// The edge cache on Redis (gateway.store: redis, which the cache follows by default), through two real
// `portico serve` processes on one private redis-server: an entry one process stored is a HIT on the
// other (the upstream is asked once), a purge or an unsafe request through one removes the other's hits,
// and a paused or dead Redis turns the cache into a fast passthrough (MISS, no error, no long wait) that
// comes back by itself. Also: `cache: { store: memory }` keeps entries per process despite a Redis store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { send } from '../helpers/counting-origin.js';
import {
  redisCommand,
  redisServerSkip,
  startRedisServer,
  type TestRedisServer,
} from '../helpers/redis-server.js';
import { assertProblemBody, httpRequest, type PlainResponse } from '../fixtures/http-tools.js';
import {
  childrenKilledOnExit,
  sleep,
  spawnCli,
  tempDir,
  waitForServe,
  type ServeChild,
} from '../fixtures/ops-child.js';

const skip = redisServerSkip();

/** Every gateway child this file started: SIGKILLed by PID when the test process exits. */
const children = childrenKilledOnExit();

const text = (r: PlainResponse) => r.body.toString('utf8');
const xcache = (r: PlainResponse) => r.headers['x-cache'];

describe('edge cache on Redis: two gateway processes', { skip }, () => {
  let redis: TestRedisServer | undefined;
  let up: TestUpstream | undefined;
  let dir: ReturnType<typeof tempDir> | undefined;
  let a: ServeChild;
  let b: ServeChild;
  const hits = new Map<string, number>();
  const hitsOf = (path: string) => hits.get(path) ?? 0;

  before(async () => {
    redis = await startRedisServer();
    up = await startUpstream((req, res) => {
      const [path = '/', query] = (req.url ?? '/').split('?');
      const n = hitsOf(path) + 1;
      hits.set(path, n);
      if (req.method !== 'GET') return send(res, 200, {}, 'changed');
      const headers: http.OutgoingHttpHeaders = { 'cache-control': 'max-age=60' };
      if (query === 'tag') headers['surrogate-key'] = `tag-${path.slice(path.lastIndexOf('/') + 1)}`;
      if (path.includes('/vary/')) headers['vary'] = 'Accept-Language';
      send(res, 200, headers, `${path} ${String(req.headers['accept-language'] ?? '-')} #${n}`);
    });
    dir = tempDir({
      'gateway.yaml': `
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  access_log: { enabled: false }
  store: { type: redis, url: "${redis.url}" }
routes:
  - name: shared
    path_prefix: /shared
    upstream: ${up.url}
    cache: {}
`,
    });
    const started = await Promise.allSettled(
      [0, 1].map(async () => {
        const c = await waitForServe(spawnCli(['serve', '-c', dir!.path('gateway.yaml'), '--no-watch']));
        children.add(c);
        return c;
      }),
    );
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    [a, b] = started.map((s) => (s as PromiseFulfilledResult<ServeChild>).value) as [ServeChild, ServeChild];
    // Until a process's Redis client is ready, lookups fail fast (MISS) and writes are lost: wait for both.
    for (const g of [a, b]) {
      let outcome: unknown;
      for (let i = 0; i < 100 && outcome !== 'HIT'; i++) {
        outcome = xcache(await httpRequest(g.port, { path: '/shared/warm-up' }));
        if (outcome !== 'HIT') await sleep(20);
      }
      assert.equal(outcome, 'HIT', 'the gateway reaches Redis');
    }
  });
  after(async () => {
    await Promise.all([a, b].filter((g) => g !== undefined).map((g) => g.kill()));
    for (const g of [a, b]) if (g !== undefined) children.delete(g);
    dir?.remove();
    await up?.close();
    await redis?.stop();
  });

  const get = (g: ServeChild, path: string, headers: Record<string, string> = {}) =>
    httpRequest(g.port, { path, headers });
  const purge = async (g: ServeChild, body: unknown) => {
    const res = await fetch(`${g.adminUrl}/cache/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, type: res.headers.get('content-type') ?? undefined, text: await res.text() };
  };

  /** The cache key of a request to this gateway: `<path>?<normalized query>\n<host>`. */
  const keyOf = (pathAndQuery: string) =>
    (pathAndQuery.includes('?') ? pathAndQuery : pathAndQuery + '?') + '\n127.0.0.1\nr:shared';
  /** Waits (bounded) until the item under cache key `key` is in Redis, or gone: writes follow the response. */
  const waitForEntry = async (key: string, present = true) => {
    const want = present ? ':1' : ':0';
    let reply = '';
    for (let i = 0; i < 100 && reply !== want; i++) {
      reply = await redisCommand(redis!.port, ['EXISTS', `portico:cache:e:${key}`]);
      if (reply !== want) await sleep(10);
    }
    assert.equal(reply, want, `${JSON.stringify(key)} ${present ? 'stored' : 'removed'} in Redis`);
  };

  it('an entry stored through A is a HIT on B; the upstream is asked once', async () => {
    const p = '/shared/one';
    const miss = await get(a, p);
    assert.equal(xcache(miss), 'MISS');
    assert.equal(text(miss), '/shared/one - #1');
    await waitForEntry(keyOf(p)); // under the default prefix
    const onB = await get(b, p);
    assert.equal(xcache(onB), 'HIT');
    assert.equal(text(onB), '/shared/one - #1');
    assert.equal(onB.headers['content-length'], String('/shared/one - #1'.length));
    assert.ok(onB.headers['age'] !== undefined);
    assert.equal(xcache(await get(a, p)), 'HIT');
    assert.equal(hitsOf(p), 1);

    // Variants are shared too.
    const v = '/shared/vary/item';
    assert.equal(text(await get(a, v, { 'accept-language': 'en' })), '/shared/vary/item en #1');
    await waitForEntry(keyOf(v) + '\nv:accept-language=en');
    const en = await get(b, v, { 'accept-language': 'en' });
    assert.equal(xcache(en), 'HIT');
    assert.equal(text(en), '/shared/vary/item en #1');
    const de = await get(b, v, { 'accept-language': 'de' });
    assert.equal(xcache(de), 'MISS');
    assert.equal(text(de), '/shared/vary/item de #2');
    await waitForEntry(keyOf(v) + '\nv:accept-language=de');
    assert.equal(text(await get(a, v, { 'accept-language': 'de' })), '/shared/vary/item de #2');
    assert.equal(hitsOf(v), 2);
  });

  it("a purge through A's admin (key, tag, prefix) and a POST through A remove B's hits", async () => {
    const paths = ['/shared/purge/k', '/shared/purge/t', '/shared/purge/p', '/shared/purge/post'];
    const query = (p: string) => (p.endsWith('/t') ? '?tag' : '');
    for (const p of paths) await get(a, p + query(p));
    for (const p of paths) await waitForEntry(keyOf(p + query(p)));
    for (const p of paths) assert.equal(xcache(await get(b, p + query(p))), 'HIT', p);

    const byKey = await purge(a, { key: '/shared/purge/k?\n127.0.0.1' });
    assert.equal(byKey.status, 200, byKey.text);
    assert.equal((JSON.parse(byKey.text) as { purged: number }).purged, 1);
    assert.equal(xcache(await get(b, '/shared/purge/k')), 'MISS');

    const byTag = await purge(a, { tag: 'tag-t' });
    assert.equal((JSON.parse(byTag.text) as { purged: number }).purged, 1);
    assert.equal(xcache(await get(b, '/shared/purge/t?tag')), 'MISS');

    const post = await httpRequest(a.port, { method: 'POST', path: '/shared/purge/post', body: 'x' });
    assert.equal(post.status, 200);
    await waitForEntry(keyOf('/shared/purge/post'), false);
    assert.equal(xcache(await get(b, '/shared/purge/post')), 'MISS', 'the POST through A invalidated it');

    for (const p of paths) await waitForEntry(keyOf(p + query(p)));
    for (const p of paths) assert.equal(xcache(await get(b, p + query(p))), 'HIT', `${p} cached again`);
    const byPrefix = await purge(a, { prefix: '/shared/purge/' });
    assert.equal((JSON.parse(byPrefix.text) as { purged: number }).purged, 4);
    for (const p of paths)
      assert.equal(xcache(await get(b, p + query(p))), 'MISS', `${p} after the prefix purge`);
    assert.equal(hitsOf('/shared/purge/k'), 3);
    assert.equal(hitsOf('/shared/purge/p'), 2);
  });

  it('Redis paused: fast MISS passthrough, no error; purges answer 503; back when Redis is', async () => {
    const p = '/shared/paused';
    await get(a, p);
    await waitForEntry(keyOf(p));
    assert.equal(xcache(await get(b, p)), 'HIT');
    assert.equal(hitsOf(p), 1);
    redis!.pause();
    try {
      for (let i = 0; i < 4; i++) {
        const g = i % 2 === 0 ? a : b;
        const t0 = performance.now();
        const r = await get(g, p);
        const took = performance.now() - t0;
        assert.equal(r.status, 200);
        assert.equal(xcache(r), 'MISS');
        assert.match(text(r), /^\/shared\/paused - #\d+$/);
        assert.ok(took < 1000, `request ${i} took ${took.toFixed(0)} ms`);
      }
      assert.equal(hitsOf(p), 5, 'each request went to the upstream');
      const t0 = performance.now();
      const failed = await purge(a, { prefix: '/shared/' });
      assert.equal(failed.status, 503, 'a purge Redis did not confirm is not reported as done');
      assertProblemBody(failed.type, failed.text, 503);
      assert.ok(performance.now() - t0 < 1000);
    } finally {
      redis!.resume();
    }
    // Back: stored and served from Redis again, without a restart (bounded wait for the reconnect).
    let outcome: unknown;
    for (let i = 0; i < 100 && outcome !== 'HIT'; i++) {
      outcome = xcache(await get(b, '/shared/after-pause'));
      if (outcome !== 'HIT') await sleep(30);
    }
    assert.equal(outcome, 'HIT');
  });

  it('a store failure is logged as a gateway event (with an `event` field)', () => {
    // The failures before the client first connected, and those while Redis was paused, were reported.
    const line = a.logs.find((l) => l.event === 'response_cache_store_error');
    assert.ok(line, 'a warning was written');
    assert.equal(line.level, 'warn');
    assert.equal(line.store, 'redis_response_cache');
    assert.equal(line.event, 'response_cache_store_error');
  });

  it('Redis gone: every request is a MISS straight to the upstream, without error or wait', async () => {
    const p = '/shared/gone';
    await get(a, p);
    await waitForEntry(keyOf(p));
    assert.equal(xcache(await get(b, p)), 'HIT');
    await redis!.stop();
    const before = hitsOf(p);
    for (let i = 0; i < 6; i++) {
      const g = i % 2 === 0 ? a : b;
      const t0 = performance.now();
      const r = await get(g, p);
      const took = performance.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(xcache(r), 'MISS');
      assert.ok(took < 1000, `request ${i} took ${took.toFixed(0)} ms`);
    }
    assert.equal(hitsOf(p), before + 6);
  });
});

describe('edge cache: `cache: { store: memory }` overrides a Redis gateway store', { skip }, () => {
  let redis: TestRedisServer | undefined;
  let up: TestUpstream | undefined;
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;
  let count = 0;

  before(async () => {
    redis = await startRedisServer();
    up = await startUpstream((_req, res) => {
      count++;
      send(res, 200, { 'cache-control': 'max-age=60' }, `local #${count}`);
    });
    const yaml = `
gateway:
  listen: "127.0.0.1:0"
  admin: { listen: "127.0.0.1:0" }
  store: { type: redis, url: "${redis.url}" }
cache:
  store: memory
routes:
  - name: local
    path_prefix: /local
    upstream: ${up.url}
    cache: {}
`;
    a = await startTestGateway(yaml);
    b = await startTestGateway(yaml);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await up?.close();
    await redis?.stop();
  });

  it('each gateway keeps its own entries, and nothing goes to Redis', async () => {
    const ga = a!;
    const gb = b!;
    assert.equal(xcache(await httpRequest(ga.port, { path: '/local/x' })), 'MISS');
    assert.equal(xcache(await httpRequest(ga.port, { path: '/local/x' })), 'HIT');
    const onB = await httpRequest(gb.port, { path: '/local/x' });
    assert.equal(xcache(onB), 'MISS');
    assert.equal(text(onB), 'local #2');
    assert.equal(count, 2);
    assert.equal(await redisCommand(redis!.port, ['DBSIZE']), ':0');
    const metrics = await (await fetch(`${ga.adminUrl}/metrics`)).text();
    assert.match(metrics, /^portico_cache_entries\{store="memory"\} [1-9]/m);
  });
});
