// The Redis response cache against a real redis-server of its own (never the shared one on 6379): the stored
// form, TTLs, tag indexes and purges (standalone and Cluster), two gateways sharing items, purges racing
// with writes, and how it fails — a miss or a lost write within the deadline, logged once — and recovers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { StoreUnavailable } from '../../../lib/store-unavailable.js';
import type { CacheEntry } from './store.js';
import {
  createRedisResponseCache,
  decodeCacheEntry,
  encodeCacheEntry,
  escapeGlob,
  type RedisResponseCacheOptions,
  type RedisResponseCacheStore,
} from './redis.js';
import {
  redisServerSkip,
  startRedisServer,
  type TestRedisServer,
} from '../../../../test/helpers/redis-server.js';

const skip = redisServerSkip();
const PREFIX = 'portico:cache:';

function entry(meta: Record<string, unknown> = {}, body: string | Buffer | null = null, tags: string[] = []) {
  return { meta, body: typeof body === 'string' ? Buffer.from(body) : body, tags } satisfies CacheEntry;
}

/** Every byte value, so a body that is not UTF-8 must come back exactly. */
const binary = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));

function captureLog() {
  const lines: { fields: Readonly<Record<string, unknown>>; msg: string }[] = [];
  return {
    lines,
    warn: (fields: Readonly<Record<string, unknown>>, msg: string) => lines.push({ fields, msg }),
  };
}

async function present(store: RedisResponseCacheStore, keys: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const k of keys) if ((await store.get(k)) !== undefined) out.push(k);
  return out;
}

async function eventually(fn: () => Promise<unknown>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

/**
 * How long the operation `op` starts takes to settle, and its outcome. The clock starts before `op` runs: an
 * operation arms its deadline when it starts, and on a busy machine the process can be held up between that
 * and a clock read after it (it read 43 ms for a 50 ms deadline that way).
 */
async function timed<T>(op: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const started = performance.now();
  const [result] = await Promise.allSettled([op()]);
  return { ms: performance.now() - started, result: result! };
}

/** The commands Redis runs for `op`, in order (MONITOR), each as [source ('lua' or a client), name, ...args]. */
async function commandsOf(url: string, op: () => Promise<unknown>): Promise<string[][]> {
  const watcher = new Redis(url);
  const marker = new Redis(url);
  const seen: string[][] = [];
  try {
    const monitor = await watcher.monitor();
    let done: () => void = () => {};
    const end = new Promise<void>((resolve) => (done = resolve));
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1] === 'end-of-op') done();
      else if (args.some((a) => a.startsWith(PREFIX)))
        seen.push([source, args[0]!.toLowerCase(), ...args.slice(1)]);
    });
    await op();
    await marker.echo('end-of-op'); // runs after everything op sent, so MONITOR shows it last
    await end;
    monitor.disconnect();
  } finally {
    watcher.disconnect();
    marker.disconnect();
  }
  return seen;
}

/** 'client <command>' for commands sent ('script' for EVAL / EVALSHA), 'lua <command>' for those a script ran. */
const steps = (commands: string[][]) =>
  commands.map(([source, name]) =>
    source === 'lua' ? `lua ${name}` : `client ${name === 'evalsha' || name === 'eval' ? 'script' : name}`,
  );

describe('redis response cache: stored form', () => {
  const roundTrips: [string, CacheEntry][] = [
    ['a binary body', entry({ status: 200, headers: [['content-type', 'image/png']] }, binary, ['img'])],
    ['no body', entry({ vary: ['accept-encoding'] })],
    ['an empty body', entry({ status: 204 }, Buffer.alloc(0))],
    ['Unicode meta and tags', entry({ title: 'ß€😀', nested: { a: [1, null, true] } }, 'é', ['ärger', '😀'])],
  ];
  for (const [name, e] of roundTrips) {
    it(`round trip: ${name}`, () => assert.deepEqual(decodeCacheEntry(encodeCacheEntry(e)), e));
  }

  it('layout: format byte 1, header length (uint32 BE), header JSON, body bytes', () => {
    const raw = encodeCacheEntry(entry({ s: 1 }, 'BODY', ['t']));
    const header = '{"meta":{"s":1},"tags":["t"],"body":true}';
    assert.equal(raw[0], 1);
    assert.equal(raw.readUInt32BE(1), header.length);
    assert.equal(raw.toString('utf8', 5, 5 + header.length), header);
    assert.equal(raw.toString('utf8', 5 + header.length), 'BODY');
  });

  const head = (json: string, body = '', format = 1) => {
    const h = Buffer.alloc(5);
    h[0] = format;
    h.writeUInt32BE(Buffer.byteLength(json), 1);
    return Buffer.concat([h, Buffer.from(json), Buffer.from(body)]);
  };
  const malformed: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['shorter than the length', Buffer.from([1, 0, 0])],
    ['another format', head('{"meta":{},"tags":[],"body":false}', '', 2)],
    ['a header past the end', head('{"meta":{},"tags":[],"body":false}').subarray(0, 20)],
    ['a header that is not JSON', head('{meta')],
    ['meta an array', head('{"meta":[],"tags":[],"body":false}')],
    ['meta null', head('{"meta":null,"tags":[],"body":false}')],
    ['a tag that is not a string', head('{"meta":{},"tags":[1],"body":false}')],
    ['no body flag', head('{"meta":{},"tags":[]}')],
    ['body bytes without a body', head('{"meta":{},"tags":[],"body":false}', 'x')],
  ];
  for (const [name, raw] of malformed) {
    it(`rejects ${name}`, () => assert.throws(() => decodeCacheEntry(raw)));
  }

  const globs: [string, string][] = [
    ['/plain/path', '/plain/path'],
    ['a*b?c', 'a\\*b\\?c'],
    ['[x]', '\\[x\\]'],
    ['back\\slash', 'back\\\\slash'],
  ];
  for (const [text, escaped] of globs) {
    it(`escapeGlob(${JSON.stringify(text)})`, () => assert.equal(escapeGlob(text), escaped));
  }
});

// One test at a time: the large ones would otherwise delay the TTL checks of the others.
describe('redis response cache: items and tags', { skip }, () => {
  let server: TestRedisServer;
  let admin: Redis;
  let store: RedisResponseCacheStore;
  const errors: Error[] = [];
  before(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    // A generous deadline: these tests are about what is stored, not about a loaded CI machine.
    store = createRedisResponseCache({ url: server.url, timeoutMs: 2000, onError: (e) => errors.push(e) });
    await store.ready;
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await server?.stop();
  });

  it('one string key per item, holding the encoded entry, with its TTL', async () => {
    const e = entry({ status: 200 }, binary, ['t1', 't2']);
    await store.set('/one', e, 60_000);
    assert.deepEqual(await store.get('/one'), e);
    assert.equal(await admin.type(`${PREFIX}e:/one`), 'string');
    assert.deepEqual(await admin.getBuffer(`${PREFIX}e:/one`), encodeCacheEntry(e));
    const ttl = await admin.pttl(`${PREFIX}e:/one`);
    assert.ok(ttl > 59_000 && ttl <= 60_000, `PTTL ${ttl}`);
    assert.equal(await store.get('/absent'), undefined);
  });

  it('null and empty bodies stay apart; set replaces the item under a key', async () => {
    await store.set('/nb', entry({ n: 1 }), 60_000);
    await store.set('/eb', entry({ n: 2 }, Buffer.alloc(0)), 60_000);
    assert.equal((await store.get('/nb'))?.body, null);
    assert.deepEqual((await store.get('/eb'))?.body, Buffer.alloc(0));
    await store.set('/nb', entry({ n: 3 }, 'now with a body'), 60_000);
    assert.deepEqual(await store.get('/nb'), entry({ n: 3 }, 'now with a body'));
  });

  it('an item is gone at its TTL', async () => {
    await store.set('/short', entry({}, 'x', ['short']), 400);
    assert.notEqual(await store.get('/short'), undefined);
    await sleep(500);
    assert.equal(await store.get('/short'), undefined);
    assert.equal(await store.purgeTag('short'), 0, 'expired: nothing to purge');
  });

  it('TTLs: not positive removes the item there; fractions round up; infinity is capped', async () => {
    for (const ttl of [0, -1, NaN]) {
      await store.set('/ttl', entry(), 60_000);
      await store.set('/ttl', entry({}, null, ['never']), ttl);
      assert.equal(await store.get('/ttl'), undefined, `ttl ${ttl}`);
      assert.equal(await admin.exists(`${PREFIX}t:never`), 0);
    }
    await store.set('/frac', entry(), 1000.2);
    const frac = await admin.pttl(`${PREFIX}e:/frac`);
    assert.ok(frac > 1000 - 50 && frac <= 1001, `PTTL ${frac}`);
    await store.set('/inf', entry({}, null, ['inf']), Infinity);
    for (const key of [`${PREFIX}e:/inf`, `${PREFIX}t:inf`]) {
      const ttl = await admin.pttl(key);
      assert.ok(ttl > 2 ** 40 - 60_000 && ttl <= 2 ** 40, `${key} PTTL ${ttl}`);
    }
  });

  it('a meta JSON cannot carry: set resolves, counts an error, and the old item goes', async () => {
    await store.set('/bigint', entry({ ok: true }), 60_000);
    await store.set('/bigint', entry({ n: 10n }), 60_000);
    assert.equal(await store.get('/bigint'), undefined);
    assert.equal(errors.filter((e) => /BigInt/.test(e.message)).length, 1);
  });

  it('a value this store did not write is a miss, counted as an error', async () => {
    await admin.set(`${PREFIX}e:/foreign`, 'not an entry');
    assert.equal(await store.get('/foreign'), undefined);
    assert.equal(errors.filter((e) => /unknown format/.test(e.message)).length, 1);
  });

  it('delete resolves whether there was an item; stats are unknown (-1)', async () => {
    await store.set('/del', entry(), 60_000);
    assert.equal(await store.delete('/del'), true);
    assert.equal(await store.delete('/del'), false);
    assert.deepEqual(store.stats(), { entries: -1, bytes: -1 });
    assert.equal(store.onEvict, undefined);
    store.onEvict = () => {}; // assignable, like the memory store's (Redis never calls it)
  });

  it('a tag index is a sorted set of keys scored by expiry, living at least as long as its items', async () => {
    const [s] = await admin.time();
    await store.set('/ix/1', entry({}, null, ['ix']), 60_000);
    const index = `${PREFIX}t:ix`;
    assert.equal(await admin.type(index), 'zset');
    const score = Number(await admin.zscore(index, '/ix/1'));
    assert.ok(score >= Number(s) * 1000 + 60_000 && score < Number(s) * 1000 + 62_000, `score ${score}`);
    await store.set('/ix/2', entry({}, null, ['ix']), 1000); // shorter: the index keeps its 60 s
    assert.ok((await admin.pttl(index)) > 59_000);
    await store.set('/ix/3', entry({}, null, ['ix']), 120_000); // longer: the index lives as long
    assert.ok((await admin.pttl(index)) > 119_000);
    assert.deepEqual(await admin.zrange(index, '0', '-1'), ['/ix/2', '/ix/1', '/ix/3']);
  });

  it('a set drops index members whose items expired over 10 s ago, and keeps the rest', async () => {
    const [s] = await admin.time();
    const index = `${PREFIX}t:reap`;
    await admin.zadd(index, Number(s) * 1000 - 20_000, '/long-gone', Number(s) * 1000 - 2000, '/just-gone');
    await store.set('/reap', entry({}, null, ['reap']), 60_000);
    assert.deepEqual(await admin.zrange(index, '0', '-1'), ['/just-gone', '/reap']);
  });

  it('purgeTag removes every item carrying the tag (1,200: several ZSCAN and DEL steps), and no other', async () => {
    const keys = Array.from({ length: 1200 }, (_, i) => `/pt/${i}`);
    await Promise.all(keys.map((k, i) => store.set(k, entry({ i }, 'x', ['pt', `pt${i % 3}`]), 60_000)));
    await store.set('/pt-other', entry({}, 'y', ['other']), 60_000);
    await store.set('/pt-none', entry({}, 'y'), 60_000);
    assert.equal(await store.purgeTag('pt1'), 400);
    assert.equal(await store.purgeTag('pt'), 800);
    assert.equal(await admin.exists(`${PREFIX}t:pt`, `${PREFIX}t:pt1`), 0, 'emptied indexes are gone');
    assert.deepEqual(await present(store, ['/pt/0', '/pt/1', '/pt-other', '/pt-none']), [
      '/pt-other',
      '/pt-none',
    ]);
    assert.equal(await store.purgeTag('pt'), 0);
    assert.equal(await store.purgeTag('no-such-tag'), 0);
  });

  it('purgeTag counts only items that were there (deleted or re-stored without it: no count, no harm)', async () => {
    for (const k of ['/c/1', '/c/2', '/c/3']) await store.set(k, entry({}, null, ['cnt']), 60_000);
    await store.delete('/c/1');
    assert.equal(await store.purgeTag('cnt'), 2);
  });

  it('an item re-stored without a tag is still purged by it: an extra miss, never a stale hit', async () => {
    await store.set('/re', entry({ v: 1 }, null, ['old-tag']), 60_000);
    await store.set('/re', entry({ v: 2 }, null, ['new-tag']), 60_000);
    assert.equal(await store.purgeTag('old-tag'), 1);
    assert.equal(await store.get('/re'), undefined);
  });

  const prefixCases: { prefix: string; purged: string[] }[] = [
    { prefix: '/g/a*', purged: ['/g/a*1'] },
    { prefix: '/g/a?', purged: ['/g/a?2'] },
    { prefix: '/g/[a]', purged: ['/g/[a]3'] },
    { prefix: '/g/a\\', purged: ['/g/a\\4'] },
    { prefix: '/g/a', purged: ['/g/a*1', '/g/a?2', '/g/a\\4', '/g/ab'] },
    { prefix: '/g/', purged: ['/g/a*1', '/g/a?2', '/g/[a]3', '/g/a\\4', '/g/ab', '/g/b'] },
  ];
  for (const c of prefixCases) {
    it(`purgePrefix(${JSON.stringify(c.prefix)}) takes the prefix literally`, async () => {
      const keys = ['/g/a*1', '/g/a?2', '/g/[a]3', '/g/a\\4', '/g/ab', '/g/b'];
      // Each case its own namespace: the keys of one case must not be in the way of another's.
      const ns = `/ns${prefixCases.indexOf(c)}`;
      for (const k of keys) await store.set(ns + k, entry(), 60_000);
      assert.equal(await store.purgePrefix(ns + c.prefix), c.purged.length);
      const left = keys.filter((k) => !c.purged.includes(k));
      assert.deepEqual(
        await present(
          store,
          keys.map((k) => ns + k),
        ),
        left.map((k) => ns + k),
      );
    });
  }

  it('purgePrefix of 2,500 items (several SCAN and DEL steps), and of nothing', async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => `/many/${i}`);
    await Promise.all(keys.map((k) => store.set(k, entry(), 60_000)));
    await store.set('/manyx', entry(), 60_000);
    assert.equal(await store.purgePrefix('/many/'), 2500);
    assert.equal(await store.purgePrefix('/many/'), 0);
    assert.deepEqual(await present(store, ['/many/0', '/manyx']), ['/manyx']);
  });
});

describe('redis response cache: instances sharing a server', { skip }, () => {
  let server: TestRedisServer;
  before(async () => {
    server = await startRedisServer();
  });
  after(() => server?.stop());

  it('what A stores B reads, and B purges it (tag, prefix, key); another prefix is another cache', async () => {
    const a = createRedisResponseCache({ url: server.url, timeoutMs: 2000 });
    const b = createRedisResponseCache({ url: server.url, timeoutMs: 2000 });
    const other = createRedisResponseCache({ url: server.url, timeoutMs: 2000, prefix: 'other:' });
    try {
      await Promise.all([a.ready, b.ready, other.ready]);
      const e = entry({ from: 'a' }, binary, ['shared']);
      for (const k of ['/s/1', '/s/2', '/s/3', '/t/1']) await a.set(k, e, 60_000);
      await other.set('/s/1', entry({ from: 'other' }, null, ['shared']), 60_000);
      assert.deepEqual(await b.get('/s/1'), e);
      assert.equal(await b.delete('/s/3'), true);
      assert.equal(await b.purgeTag('shared'), 3);
      assert.deepEqual(await present(a, ['/s/1', '/s/2', '/s/3', '/t/1']), []);
      assert.deepEqual((await other.get('/s/1'))?.meta, { from: 'other' });
      await a.set('/p/1', e, 60_000);
      await other.set('/p/1', e, 60_000);
      assert.equal(await b.purgePrefix(''), 1);
      assert.deepEqual(await present(other, ['/s/1', '/p/1']), ['/s/1', '/p/1']);
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });
});

/**
 * Gateways writing items of a tag while another purges it over and over, each on its own connection so
 * that their commands interleave in Redis: an item stored before a purge began is gone after it, and once
 * the writes stop every item left is still indexed — the last purge leaves none behind.
 */
async function racePurges(writer: RedisResponseCacheStore, purger: RedisResponseCacheStore, admin: Redis) {
  const tag = 'race';
  const early = Array.from({ length: 1000 }, (_, i) => `/race/early/${i}`);
  await Promise.all(early.map((k) => writer.set(k, entry({}, 'x', [tag, 'other']), 60_000)));
  let writing = true;
  const loops = Array.from({ length: 8 }, async (_, loop) => {
    for (let i = 0; i < 400 || writing; i++) {
      await writer.set(`/race/${loop}/${i % 25}`, entry({}, 'x', ['other', tag]), 60_000);
    }
  });
  const purged = await purger.purgeTag(tag);
  assert.ok(purged >= early.length, `purged ${purged}`);
  assert.deepEqual(await present(writer, early), [], 'items stored before the purge');
  for (let i = 0; i < 20; i++) await purger.purgeTag(tag);
  writing = false;
  await Promise.all(loops);
  await purger.purgeTag(tag);
  assert.deepEqual(await admin.keys(`${PREFIX}e:/race/*`), [], 'items left without their index entry');
}

describe('redis response cache: purges racing with writes', { skip }, () => {
  it('standalone: a set is one script (item and index entries), a purge step one script', async () => {
    const server = await startRedisServer();
    const store = createRedisResponseCache({ url: server.url, timeoutMs: 2000 });
    try {
      await store.ready;
      const set = await commandsOf(server.url, () => store.set('/m', entry({}, 'x', ['a', 'b']), 60_000));
      assert.deepEqual(steps(set).slice(0, 2), ['client script', 'lua set']);
      assert.equal(steps(set).filter((s) => s.startsWith('client')).length, 1, steps(set).join());
      assert.deepEqual(set[0]?.slice(3, 7), ['3', `${PREFIX}e:/m`, `${PREFIX}t:a`, `${PREFIX}t:b`]);
      const purge = await commandsOf(server.url, () => store.purgeTag('a'));
      assert.deepEqual(steps(purge), ['client zscan', 'client script', 'lua zrem', 'lua del']);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('standalone: the set script and purge steps are atomic', async () => {
    const server = await startRedisServer();
    const writer = createRedisResponseCache({ url: server.url, timeoutMs: 2000 });
    const purger = createRedisResponseCache({ url: server.url, timeoutMs: 2000 });
    const admin = new Redis(server.url);
    try {
      await Promise.all([writer.ready, purger.ready]);
      await racePurges(writer, purger, admin);
    } finally {
      admin.disconnect();
      await Promise.all([writer.close(), purger.close()]);
      await server.stop();
    }
  });
});

describe('redis response cache: Redis Cluster', { skip }, () => {
  let server: TestRedisServer;
  let admin: Redis;
  let store: RedisResponseCacheStore;
  before(async () => {
    server = await startRedisServer({ cluster: true });
    admin = new Redis(server.url);
    store = createRedisResponseCache({ url: `${server.url},${server.url}`, cluster: true, timeoutMs: 2000 });
    await store.ready;
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await server?.stop();
  });

  it('items and their tag indexes sit in different slots, yet set, get and every purge work', async () => {
    // What the standalone set script would do here is refused by the cluster.
    await assert.rejects(admin.eval('return 1', 2, `${PREFIX}e:/x`, `${PREFIX}t:a`), /CROSSSLOT/);
    const e = entry({ s: 1 }, binary, ['a', 'b', 'c']);
    const keys = Array.from({ length: 600 }, (_, i) => `/cl/${i}`);
    await Promise.all(keys.map((k) => store.set(k, e, 60_000)));
    assert.deepEqual(await store.get('/cl/7'), e);
    assert.equal(await admin.zcard(`${PREFIX}t:b`), 600);
    assert.equal(await store.delete('/cl/0'), true);
    assert.equal(await store.purgeTag('b'), 599);
    assert.equal(await admin.exists(`${PREFIX}t:b`), 0);
    for (const k of keys) await store.set(k, e, 60_000);
    assert.equal(await store.purgePrefix('/cl/1'), 111); // 1, 10-19, 100-199
    assert.equal(await store.purgePrefix('/cl/'), 489);
  });

  it('a set writes its item before its index entries, a purge removes index entries before items', async () => {
    const set = await commandsOf(server.url, () => store.set('/order', entry({}, 'x', ['o1', 'o2']), 60_000));
    assert.deepEqual(
      steps(set).filter((s) => s.startsWith('client')),
      ['client set', 'client script', 'client script'],
    );
    const purge = await commandsOf(server.url, () => store.purgeTag('o1'));
    assert.deepEqual(steps(purge), ['client zscan', 'client zrem', 'client del']);
  });

  it('purges racing with writes leave every remaining item indexed', async () => {
    const purger = createRedisResponseCache({ url: server.url, cluster: true, timeoutMs: 2000 });
    try {
      await purger.ready;
      await racePurges(store, purger, admin);
    } finally {
      await purger.close();
    }
  });
});

describe('redis response cache: failures', { skip, concurrency: true }, () => {
  const timeoutMs = 50;
  const margin = 40;

  async function storeOn(server: TestRedisServer, extra: Partial<RedisResponseCacheOptions> = {}) {
    const log = captureLog();
    const errors: Error[] = [];
    const store = createRedisResponseCache({
      url: server.url,
      timeoutMs,
      log,
      onError: (err) => errors.push(err),
      ...extra,
    });
    await store.ready;
    return { store, log, errors };
  }

  /** Each operation against a store that cannot answer: get a miss, set resolves, the rest reject. */
  async function allFail(store: RedisResponseCacheStore, atLeastMs: number): Promise<void> {
    const outcomes = await Promise.all([
      timed(() => store.get('/k')),
      timed(() => store.set('/k', entry({}, 'x', ['t']), 60_000)),
      timed(() => store.delete('/k')),
      timed(() => store.purgeTag('t')),
      timed(() => store.purgePrefix('/')),
    ]);
    const [get, set, ...rejecting] = outcomes;
    assert.deepEqual(get?.result, { status: 'fulfilled', value: undefined });
    assert.deepEqual(set?.result, { status: 'fulfilled', value: undefined });
    for (const r of rejecting) {
      assert.equal(r.result.status, 'rejected');
      assert.ok(r.result.status === 'rejected' && r.result.reason instanceof StoreUnavailable);
    }
    for (const { ms } of outcomes) assert.ok(ms >= atLeastMs && ms < timeoutMs + margin, `took ${ms} ms`);
  }

  it('Redis paused (SIGSTOP): misses and lost writes within the deadline, one log line, then back', async () => {
    const server = await startRedisServer();
    const { store, log, errors } = await storeOn(server);
    try {
      await store.set('/k', entry({}, 'before'), 60_000);
      server.pause();
      await allFail(store, timeoutMs - 5);
      assert.equal(errors.length, 5);
      assert.equal(log.lines.length, 1);
      assert.equal(log.lines[0]?.msg, 'response_cache_store_error');
      assert.equal(log.lines[0]?.fields.store, 'redis_response_cache');
      server.resume();
      // Commands written while Redis was stopped still run when it resumes (DEL /k among them).
      await eventually(async () => {
        await store.set('/k2', entry({}, 'after'), 60_000);
        assert.notEqual(await store.get('/k2'), undefined);
      }, 3000);
    } finally {
      server.resume();
      await store.close();
      await server.stop();
    }
  });

  it('Redis stopped: every operation fails at once; back by itself after a restart', async () => {
    let server = await startRedisServer();
    const { store, errors } = await storeOn(server);
    try {
      await server.stop();
      await allFail(store, 0);
      assert.ok(errors.length >= 5);
      server = await startRedisServer({ port: server.port });
      await eventually(async () => {
        await store.set('/k', entry({}, 'after'), 60_000);
        assert.notEqual(await store.get('/k'), undefined);
      }, 3000);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('Redis absent from the start: operations fail fast, ready waits, close() settles it', async () => {
    const server = await startRedisServer();
    await server.stop();
    const store = createRedisResponseCache({ url: server.url, timeoutMs });
    await allFail(store, 0);
    await store.close();
    await assert.rejects(store.ready, StoreUnavailable);
  });

  it('after close(): get misses, set resolves, the rest reject — none of it counted as a failure', async () => {
    const server = await startRedisServer();
    const { store, errors } = await storeOn(server);
    try {
      await store.set('/k', entry(), 60_000);
      await store.close();
      await store.close();
      assert.equal(await store.get('/k'), undefined);
      await store.set('/k', entry(), 60_000);
      await assert.rejects(store.delete('/k'), StoreUnavailable);
      await assert.rejects(store.purgeTag('t'), StoreUnavailable);
      assert.equal(errors.length, 0);
    } finally {
      await server.stop();
    }
  });
});

// Alone, not beside the failure tests: it blocks the event loop, which would delay their timers.
describe('redis response cache: a paused gateway', { skip }, () => {
  it('answers that arrived while the gateway itself was blocked win over the timeout', async () => {
    const server = await startRedisServer();
    const errors: Error[] = [];
    const store = createRedisResponseCache({
      url: server.url,
      timeoutMs: 200,
      onError: (e) => errors.push(e),
    });
    await store.ready;
    try {
      await store.set('/blocked', entry({}, 'x'), 60_000);
      const inFlight = Array.from({ length: 20 }, () => store.get('/blocked'));
      const until = performance.now() + 250;
      while (performance.now() < until);
      const results = await Promise.all(inFlight);
      assert.equal(results.filter((r) => r !== undefined).length, 20);
      assert.equal(errors.length, 0);
    } finally {
      await store.close();
      await server.stop();
    }
  });
});
