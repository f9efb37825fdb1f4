// The shared-store link without processes: a client's calls go through a function standing in for IPC to
// runStoreCalls over real stores, so what crosses is what a worker and its primary exchange.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryRateLimitStore } from '../policies/rate-limit/store/memory.js';
import type { RateLimitStore } from '../policies/rate-limit/store/store.js';
import { StoreUnavailable } from '../lib/store-unavailable.js';
import type { StoreCall } from './messages.js';
import { createStoreClient, runStoreCalls } from './store-link.js';

const KEY = 'store:rate_limit:counts:["memory",{},null]';

/** A client wired to a primary holding `stores`; counts the messages sent. */
function wired(stores: Map<string, unknown>) {
  const sent: StoreCall[][] = [];
  const client = createStoreClient((calls) => {
    // Through JSON, as node:cluster sends it.
    const copy = JSON.parse(JSON.stringify(calls)) as StoreCall[];
    sent.push(copy);
    void runStoreCalls(copy, (k) => stores.get(k)).then((replies) =>
      client.onReplies(JSON.parse(JSON.stringify(replies)) as typeof replies),
    );
  });
  return { client, sent };
}

describe('shared stores across workers (store-link)', () => {
  it('two workers share one count: exactly the limit is allowed', async () => {
    const stores = new Map<string, unknown>([[KEY, createMemoryRateLimitStore()]]);
    const a = wired(stores).client.connect<RateLimitStore>(KEY, 1000);
    const b = wired(stores).client.connect<RateLimitStore>(KEY, 1000);
    const spec = { kind: 'window' as const, limit: 7, windowMs: 60_000 };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).check(['k'], [spec], 1)),
    );
    assert.equal(results.filter((r) => r[0]!.allowed).length, 7);
    assert.equal(results.at(-1)![0]!.remaining, 0);
  });

  it('sends the calls of one loop turn as one message', async () => {
    const stores = new Map<string, unknown>([[KEY, createMemoryRateLimitStore()]]);
    const { client, sent } = wired(stores);
    const store = client.connect<RateLimitStore>(KEY, 1000);
    const spec = { kind: 'bucket' as const, capacity: 100, refillPerSecond: 1 };
    await Promise.all(Array.from({ length: 50 }, () => store.check(['x'], [spec], 1)));
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.length, 50);
  });

  it('is not a thenable, and closing it is local', async () => {
    const { client, sent } = wired(new Map());
    const store = client.connect<RateLimitStore>(KEY, 1000);
    assert.equal((store as unknown as { then?: unknown }).then, undefined);
    assert.equal(await Promise.resolve(store), store);
    await store.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 0);
  });

  it('rejects with StoreUnavailable when the primary has no such store or refuses the method', async () => {
    const stores = new Map<string, unknown>([[KEY, createMemoryRateLimitStore()]]);
    const { client } = wired(stores);
    const missing = client.connect<RateLimitStore>('store:nope', 1000);
    await assert.rejects(missing.check(['k'], [], 1) as Promise<unknown>, (err: unknown) => {
      assert.ok(err instanceof StoreUnavailable);
      assert.match((err as Error).message, /no such store/);
      return true;
    });
    const store = client.connect<RateLimitStore & Record<string, (...a: unknown[]) => Promise<unknown>>>(
      KEY,
      1000,
    );
    for (const method of ['constructor', 'toString', 'hasOwnProperty', 'valueOf'])
      await assert.rejects(store[method]!(), StoreUnavailable);
    // The primary never closes a store because a worker asked.
    const replies = await runStoreCalls([{ id: 1, key: KEY, method: 'close', args: [] }], (k) =>
      stores.get(k),
    );
    assert.deepEqual(replies, [{ id: 1, error: 'no method close' }]);
  });

  it('carries a store error back as StoreUnavailable with its message', async () => {
    const stores = new Map<string, unknown>([[KEY, createMemoryRateLimitStore()]]);
    const store = wired(stores).client.connect<RateLimitStore>(KEY, 1000);
    await assert.rejects(store.check(['a', 'b'], [], 1) as Promise<unknown>, /one spec per key/);
  });

  it('rejects when the primary does not answer in time, and when it is gone', async () => {
    const silent = createStoreClient(() => undefined);
    const store = silent.connect<RateLimitStore>(KEY, 20);
    const spec = { kind: 'bucket' as const, capacity: 1, refillPerSecond: 1 };
    await assert.rejects(store.check(['k'], [spec], 1) as Promise<unknown>, /did not answer within 20 ms/);
    const pending = store.check(['k'], [spec], 1) as Promise<unknown>;
    silent.fail('the primary process is gone');
    await assert.rejects(pending, /the primary process is gone/);
  });

  it('an answer already waiting wins over a timer that fired late because the worker was blocked', async () => {
    let deliver: (() => void) | undefined;
    const stores = new Map<string, unknown>([[KEY, createMemoryRateLimitStore()]]);
    const client = createStoreClient((calls) => {
      deliver = () =>
        void runStoreCalls(calls, (k) => stores.get(k)).then((r) => {
          // The reply arrives as a message would: in the poll phase, after the (late) timers.
          setImmediate(() => client.onReplies(r));
        });
    });
    const store = client.connect<RateLimitStore>(KEY, 5);
    const spec = { kind: 'bucket' as const, capacity: 1, refillPerSecond: 1 };
    const result = store.check(['k'], [spec], 1) as Promise<readonly { allowed: boolean }[]>;
    await new Promise((r) => setImmediate(r));
    deliver!();
    // Blocked well past the timeout: the timer is due when the loop comes back.
    const until = performance.now() + 50;
    while (performance.now() < until);
    assert.equal((await result)[0]!.allowed, true);
  });
});
