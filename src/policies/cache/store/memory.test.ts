// The memory response cache on a clock the test moves: exact byte accounting, least-recently-used eviction,
// TTL (lazy and swept), purges by key, prefix and tag with the tag index kept consistent through every way
// an item leaves, and a randomized run against a naive model of the same rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheEntry } from './store.js';
import { createMemoryResponseCache, ITEM_OVERHEAD_BYTES, type MemoryResponseCacheStore } from './memory.js';

function entry(meta: Record<string, unknown> = {}, body: string | null = null, tags: string[] = []) {
  return { meta, body: body === null ? null : Buffer.from(body), tags } satisfies CacheEntry;
}

/** What the store must count for one item (UTF-8 lengths). */
function sizeOf(key: string, e: CacheEntry): number {
  const tags = e.tags.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const body = e.body?.length ?? 0;
  return (
    body + Buffer.byteLength(JSON.stringify(e.meta)) + Buffer.byteLength(key) + tags + ITEM_OVERHEAD_BYTES
  );
}

/** A store on a clock the test moves (`clock.t`), with no sweep timer, and the evictions it reported. */
function harness(maxBytes = 1_000_000) {
  const clock = { t: 1000 };
  const store = createMemoryResponseCache({ maxBytes, now: () => clock.t, sweepIntervalMs: 0 });
  const evictions: number[] = [];
  store.onEvict = (n) => evictions.push(n);
  return { store, clock, evictions };
}

async function present(store: MemoryResponseCacheStore, keys: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const k of keys) if ((await store.get(k)) !== undefined) out.push(k);
  return out;
}

describe('memory response cache: items', () => {
  it('get returns the stored object itself (entries are immutable), a miss is undefined', async () => {
    const { store } = harness();
    const e = entry({ status: 200 }, 'hello', ['t']);
    await store.set('k', e, 1000);
    assert.equal(await store.get('k'), e);
    assert.equal(await store.get('other'), undefined);
    const noBody = entry({ vary: ['accept'] });
    await store.set('v', noBody, 1000);
    assert.equal((await store.get('v'))?.body, null);
  });

  it('set replaces the item under a key, and its bytes', async () => {
    const { store } = harness();
    const a = entry({ n: 1 }, 'aaaa');
    const b = entry({ n: 2 }, 'bbbbbbbbbb', ['x']);
    await store.set('k', a, 1000);
    await store.set('k', b, 1000);
    assert.equal(await store.get('k'), b);
    assert.deepEqual(store.stats(), { entries: 1, bytes: sizeOf('k', b) });
  });

  it('stats: entries and bytes exactly, counted in UTF-8 bytes', async () => {
    const { store } = harness();
    const items: [string, CacheEntry][] = [
      ['/a', entry({ status: 200, headers: [['content-type', 'text/plain']] }, 'body', ['t1', 't2'])],
      ['/ü/€', entry({ note: 'ß€😀' }, '😀', ['ärger'])],
      ['/none', entry({})],
      ['/empty', { meta: {}, body: Buffer.alloc(0), tags: [] }],
    ];
    let bytes = 0;
    let entries = 0;
    for (const [k, e] of items) {
      await store.set(k, e, 1000);
      bytes += sizeOf(k, e);
      assert.deepEqual(store.stats(), { entries: ++entries, bytes });
    }
    assert.equal(sizeOf('/ü/€', items[1]![1]), 4 + 20 + 7 + 6 + ITEM_OVERHEAD_BYTES);
    await store.delete('/a');
    assert.deepEqual(store.stats(), { entries: 3, bytes: bytes - sizeOf('/a', items[0]![1]) });
  });

  it('delete resolves whether there was a (live) item', async () => {
    const { store, clock } = harness();
    await store.set('k', entry(), 100);
    await store.set('old', entry(), 10);
    assert.equal(await store.delete('k'), true);
    assert.equal(await store.delete('k'), false);
    assert.equal(await store.get('k'), undefined);
    clock.t += 10;
    assert.equal(await store.delete('old'), false, 'expired: there was none');
    assert.deepEqual(store.stats(), { entries: 0, bytes: 0 });
  });

  it('a meta that cannot be serialized is not stored, and set still resolves (the old item goes)', async () => {
    const { store } = harness();
    await store.set('k', entry({ ok: true }), 1000);
    await store.set('k', { meta: { n: 1n }, body: null, tags: ['t'] }, 1000);
    assert.equal(await store.get('k'), undefined);
    assert.deepEqual([store.stats(), store.indexedTags], [{ entries: 0, bytes: 0 }, 0]);
  });

  it('rejects options that cannot bound anything', () => {
    for (const maxBytes of [0, -1, NaN, Infinity]) {
      assert.throws(() => createMemoryResponseCache({ maxBytes }), RangeError, `maxBytes ${maxBytes}`);
    }
    for (const sweepIntervalMs of [-1, NaN, Infinity]) {
      assert.throws(() => createMemoryResponseCache({ maxBytes: 1, sweepIntervalMs }), RangeError);
    }
  });
});

describe('memory response cache: TTL', () => {
  it('an item is a hit until its TTL has passed, then a miss, dropped on that access', async () => {
    const { store, clock } = harness();
    await store.set('k', entry({}, 'x', ['t']), 500);
    clock.t += 499;
    assert.notEqual(await store.get('k'), undefined);
    clock.t += 1;
    assert.equal(await store.get('k'), undefined);
    assert.deepEqual([store.stats(), store.indexedTags], [{ entries: 0, bytes: 0 }, 0]);
  });

  it('a hit does not extend the TTL', async () => {
    const { store, clock } = harness();
    await store.set('k', entry(), 100);
    for (let i = 0; i < 9; i++) {
      clock.t += 10;
      assert.notEqual(await store.get('k'), undefined);
    }
    clock.t += 10;
    assert.equal(await store.get('k'), undefined);
  });

  it('a TTL that is not positive stores nothing and removes the item there', async () => {
    for (const ttl of [0, -5, NaN]) {
      const { store } = harness();
      await store.set('k', entry(), 1000);
      await store.set('k', entry({}, null, ['t']), ttl);
      assert.equal(await store.get('k'), undefined, `ttl ${ttl}`);
      assert.deepEqual([store.stats(), store.indexedTags], [{ entries: 0, bytes: 0 }, 0]);
    }
  });

  it('sweep() drops expired items nobody asks for, and only those', async () => {
    const { store, clock } = harness();
    for (let i = 0; i < 10; i++) await store.set(`k${i}`, entry({}, null, [`t${i % 3}`]), i < 6 ? 50 : 500);
    clock.t += 100;
    assert.equal(store.sweep(), 6);
    assert.equal(store.stats().entries, 4);
    assert.deepEqual(await present(store, ['k0', 'k5', 'k6', 'k9']), ['k6', 'k9']);
    assert.equal(store.indexedTags, 3); // k6..k9 carry t0, t1, t2
  });

  it('the sweep timer drops expired items a slice at a time, and close() stops it', async () => {
    const clock = { t: 0 };
    const store = createMemoryResponseCache({ maxBytes: 1e9, now: () => clock.t, sweepIntervalMs: 5 });
    try {
      for (let i = 0; i < 10_000; i++) await store.set(`k${i}`, entry({}, null, ['all']), 10);
      await store.set('live', entry(), 1e9);
      clock.t = 20;
      const deadline = Date.now() + 5000;
      while (store.stats().entries > 1 && Date.now() < deadline) await sleep(5);
      assert.deepEqual(await present(store, ['live', 'k0', 'k9999']), ['live']);
      assert.equal(store.stats().entries, 1);
      assert.equal(store.indexedTags, 0);
    } finally {
      await store.close();
    }
    assert.deepEqual(store.stats(), { entries: 0, bytes: 0 });
  });

  it('a pass of the sweep ends although hits keep moving items behind it', async () => {
    const { store, clock } = harness();
    for (let i = 0; i < 100; i++) await store.set(`k${i}`, entry(), i % 2 === 0 ? 10 : 1000);
    clock.t += 20;
    assert.equal(store.sweep(), 50);
    assert.equal(store.sweep(), 0);
  });
});

describe('memory response cache: byte bound', () => {
  // Every item here weighs the same: 10 bytes of body, meta {} (2), a 2-character key, no tags.
  const weight = ITEM_OVERHEAD_BYTES + 14;
  const item = () => entry({}, '0123456789');

  it('evicts the least recently used until the new item fits, and reports how many', async () => {
    const { store, evictions } = harness(3 * weight);
    for (const k of ['k1', 'k2', 'k3']) await store.set(k, item(), 1000);
    assert.deepEqual(evictions, []);
    assert.equal(store.stats().bytes, 3 * weight);
    await store.get('k1'); // k2 is now the least recently used
    await store.set('k4', item(), 1000);
    assert.deepEqual(await present(store, ['k1', 'k2', 'k3', 'k4']), ['k1', 'k3', 'k4']);
    assert.deepEqual(evictions, [1]);
    const big = entry({}, 'x'.repeat(10 + weight)); // two items' worth
    await store.set('k5', big, 1000);
    assert.deepEqual(evictions, [1, 2]);
    assert.deepEqual(await present(store, ['k1', 'k3', 'k4', 'k5']), ['k4', 'k5']);
    assert.deepEqual(store.stats(), { entries: 2, bytes: 3 * weight });
  });

  it('an item larger than maxBytes is not stored, evicts nothing, and removes the item it replaces', async () => {
    const { store, evictions } = harness(3 * weight);
    await store.set('k1', item(), 1000);
    await store.set('k2', item(), 1000);
    await store.set('k2', entry({}, 'x'.repeat(3 * weight)), 1000);
    assert.deepEqual(await present(store, ['k1', 'k2']), ['k1']);
    assert.deepEqual(evictions, []);
    assert.deepEqual(store.stats(), { entries: 1, bytes: weight });
  });

  it('an item of exactly maxBytes fits; replacing an item frees its bytes before evicting others', async () => {
    const { store, evictions } = harness(2 * weight);
    await store.set('k1', item(), 1000);
    await store.set('k2', item(), 1000);
    await store.set('k1', item(), 1000); // the same weight again: nothing needs to go
    assert.deepEqual(evictions, []);
    await store.set('k3', entry({}, 'x'.repeat(10 + weight)), 1000);
    assert.deepEqual(evictions, [2]);
    assert.deepEqual(store.stats(), { entries: 1, bytes: 2 * weight });
  });

  it('expired items make room without counting as evictions', async () => {
    const { store, clock, evictions } = harness(3 * weight);
    await store.set('k1', item(), 10);
    await store.set('k2', item(), 10);
    await store.set('k3', item(), 1000);
    clock.t += 10;
    await store.set('k4', item(), 1000);
    await store.set('k5', item(), 1000);
    assert.deepEqual(evictions, []);
    await store.set('k6', item(), 1000);
    assert.deepEqual(evictions, [1]);
    assert.deepEqual(await present(store, ['k3', 'k4', 'k5', 'k6']), ['k4', 'k5', 'k6']);
  });

  it('onEvict may be assigned later, or not at all', async () => {
    const store = createMemoryResponseCache({ maxBytes: weight, sweepIntervalMs: 0 });
    await store.set('k1', item(), 1000);
    await store.set('k2', item(), 1000); // no listener: nothing to call
    const seen: number[] = [];
    store.onEvict = (n) => seen.push(n);
    await store.set('k3', item(), 1000);
    store.onEvict = undefined;
    await store.set('k4', item(), 1000);
    assert.deepEqual(seen, [1]);
  });
});

describe('memory response cache: purges', () => {
  async function tagged() {
    const h = harness();
    await h.store.set('/p/1', entry({}, '1', ['product', 'p1']), 1000);
    await h.store.set('/p/2', entry({}, '2', ['product', 'p2', 'product']), 1000);
    await h.store.set('/c/1', entry({}, 'c', ['category', 'p1']), 1000);
    await h.store.set('/home', entry({}, 'h'), 1000);
    return h;
  }
  const all = ['/p/1', '/p/2', '/c/1', '/home'];

  const tagCases: { tag: string; purged: number; left: string[]; tags: number }[] = [
    { tag: 'product', purged: 2, left: ['/c/1', '/home'], tags: 2 },
    { tag: 'p1', purged: 2, left: ['/p/2', '/home'], tags: 2 },
    { tag: 'p2', purged: 1, left: ['/p/1', '/c/1', '/home'], tags: 3 },
    { tag: 'none', purged: 0, left: all, tags: 4 },
    { tag: '', purged: 0, left: all, tags: 4 },
  ];
  for (const c of tagCases) {
    it(`purgeTag(${JSON.stringify(c.tag)}) removes every item carrying it and no other`, async () => {
      const { store } = await tagged();
      assert.equal(await store.purgeTag(c.tag), c.purged);
      assert.deepEqual(await present(store, all), c.left);
      assert.equal(store.indexedTags, c.tags);
      assert.equal(await store.purgeTag(c.tag), 0);
    });
  }

  const prefixCases: { prefix: string; purged: number; left: string[] }[] = [
    { prefix: '/p/', purged: 2, left: ['/c/1', '/home'] },
    { prefix: '/p/1', purged: 1, left: ['/p/2', '/c/1', '/home'] },
    { prefix: '/', purged: 4, left: [] },
    { prefix: '', purged: 4, left: [] },
    { prefix: '/p/*', purged: 0, left: all }, // a prefix, not a pattern
    { prefix: '/x', purged: 0, left: all },
  ];
  for (const c of prefixCases) {
    it(`purgePrefix(${JSON.stringify(c.prefix)}) removes the keys starting with it`, async () => {
      const { store } = await tagged();
      assert.equal(await store.purgePrefix(c.prefix), c.purged);
      assert.deepEqual(await present(store, all), c.left);
    });
  }

  it('the tag index follows replace, delete, purgePrefix, eviction and expiry', async () => {
    const weight = sizeOf('k1', entry({}, null, ['a', 'b']));
    const { store, clock } = harness(2 * weight);
    await store.set('k1', entry({}, null, ['a', 'b']), 1000);
    await store.set('k1', entry({}, null, ['b', 'c']), 1000); // replaced: no longer carries a
    assert.equal(await store.purgeTag('a'), 0);
    assert.equal(store.indexedTags, 2);
    assert.equal(await store.delete('k1'), true);
    assert.equal(store.indexedTags, 0);

    await store.set('k1', entry({}, null, ['a', 'b']), 1000);
    await store.set('k2', entry({}, null, ['a', 'c']), 1000);
    await store.set('k3', entry({}, null, ['d', 'c']), 1000); // evicts k1
    assert.deepEqual(await present(store, ['k1', 'k2', 'k3']), ['k2', 'k3']);
    assert.equal(await store.purgeTag('b'), 0);
    assert.equal(store.indexedTags, 3); // a, c, d

    await store.purgePrefix('k2');
    assert.equal(await store.purgeTag('a'), 0);
    assert.equal(store.indexedTags, 2); // c, d

    clock.t += 1000;
    assert.equal(await store.purgeTag('c'), 0, 'expired: nothing to purge');
    assert.deepEqual([store.stats(), store.indexedTags], [{ entries: 0, bytes: 0 }, 0]);
  });

  it('purgeTag of 10,000 items', async () => {
    const { store } = harness(1e9);
    for (let i = 0; i < 10_000; i++) await store.set(`/i/${i}`, entry({}, null, ['all', `i${i % 2}`]), 1000);
    assert.equal(await store.purgeTag('i1'), 5000);
    assert.equal(await store.purgeTag('all'), 5000);
    assert.deepEqual([store.stats(), store.indexedTags], [{ entries: 0, bytes: 0 }, 0]);
  });
});

describe('memory response cache: against a naive model', () => {
  /** Deterministic PRNG (mulberry32), so a failure can be replayed. */
  function random(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  interface ModelItem {
    key: string;
    entry: CacheEntry;
    bytes: number;
    expiresAt: number;
  }

  /** The rules written plainly: an array in recency order, scanned for everything. */
  class Model {
    items: ModelItem[] = [];
    evicted = 0;
    constructor(
      private readonly maxBytes: number,
      private readonly clock: { t: number },
    ) {}
    private take(pick: (i: ModelItem) => boolean): number {
      const live = this.items.filter((i) => pick(i) && i.expiresAt > this.clock.t).length;
      this.items = this.items.filter((i) => !pick(i));
      return live;
    }
    get(key: string): CacheEntry | undefined {
      const i = this.items.findIndex((x) => x.key === key);
      const item = this.items[i];
      if (item === undefined) return undefined;
      this.items.splice(i, 1);
      if (item.expiresAt <= this.clock.t) return undefined;
      this.items.push(item);
      return item.entry;
    }
    set(key: string, e: CacheEntry, ttl: number): void {
      this.take((i) => i.key === key);
      const bytes = sizeOf(key, e);
      if (bytes > this.maxBytes) return;
      while (this.bytes() + bytes > this.maxBytes) {
        const oldest = this.items.shift()!;
        if (oldest.expiresAt > this.clock.t) this.evicted++;
      }
      this.items.push({ key, entry: e, bytes, expiresAt: this.clock.t + ttl });
    }
    delete = (key: string) => this.take((i) => i.key === key) > 0;
    purgeTag = (tag: string) => this.take((i) => i.entry.tags.includes(tag));
    purgePrefix = (prefix: string) => this.take((i) => i.key.startsWith(prefix));
    bytes = () => this.items.reduce((n, i) => n + i.bytes, 0);
    tags = () => new Set(this.items.flatMap((i) => i.entry.tags)).size;
  }

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`20,000 random operations agree with the model (seed ${seed})`, async () => {
      const rnd = random(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const keys = Array.from({ length: 40 }, (_, i) => `/k/${i % 4}/${i}`);
      const tags = ['a', 'b', 'c', 'd', 'e'];
      const maxBytes = 12 * (ITEM_OVERHEAD_BYTES + 40);
      const { store, clock } = harness(maxBytes);
      let evicted = 0;
      store.onEvict = (n) => (evicted += n);
      const model = new Model(maxBytes, clock);
      for (let step = 0; step < 20_000; step++) {
        const r = rnd();
        const key = pick(keys);
        const at = `step ${step}`;
        if (r < 0.35) {
          const e = entry({ step }, 'x'.repeat(Math.floor(rnd() * 80)), [pick(tags), pick(tags)]);
          const ttl = 1 + Math.floor(rnd() * 200);
          await store.set(key, e, ttl);
          model.set(key, e, ttl);
        } else if (r < 0.8) assert.equal(await store.get(key), model.get(key), at);
        else if (r < 0.87) assert.equal(await store.delete(key), model.delete(key), at);
        else if (r < 0.9) {
          const tag = pick(tags);
          assert.equal(await store.purgeTag(tag), model.purgeTag(tag), at);
        } else if (r < 0.92) {
          const prefix = key.slice(0, 4);
          assert.equal(await store.purgePrefix(prefix), model.purgePrefix(prefix), at);
        } else if (r < 0.93) {
          store.sweep();
          model.items = model.items.filter((i) => i.expiresAt > clock.t);
        } else clock.t += Math.floor(rnd() * 20);
        assert.deepEqual(store.stats(), { entries: model.items.length, bytes: model.bytes() }, at);
        assert.equal(store.indexedTags, model.tags(), at);
        assert.equal(evicted, model.evicted, at);
      }
      assert.ok(model.evicted > 100, `the bound was exercised: ${model.evicted} evictions`);
    });
  }
});
