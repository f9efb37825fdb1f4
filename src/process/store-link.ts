// Shared memory stores across worker processes. The primary holds each `shared` store (its own build of the
// config creates them under the same keys as the workers'); a worker gets a stand-in whose every method call
// becomes a message to the primary. Calls made in one loop turn travel in one message, and so do their
// replies; a call unanswered within the store timeout rejects with StoreUnavailable, so the policy's
// on_store_error applies as it does for Redis.
import type { SharedStoreLink } from '../compiler/compile-context.js';
import type { StoreHandle } from '../pipeline/policy.js';
import { StoreUnavailable } from '../lib/store-unavailable.js';
import type { StoreCall, StoreReply } from './messages.js';

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

export interface StoreClient extends SharedStoreLink {
  /** The primary's answers to earlier calls. */
  onReplies(replies: readonly StoreReply[]): void;
  /** The primary is gone: every pending call fails now. */
  fail(reason: string): void;
}

/** Worker side: `send` delivers a batch of calls to the primary. */
export function createStoreClient(send: (calls: StoreCall[]) => void): StoreClient {
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let batch: StoreCall[] = [];
  let batchTimeout = 0;
  let flushScheduled = false;

  function flush(): void {
    flushScheduled = false;
    const calls = batch;
    const timeoutMs = batchTimeout;
    batch = [];
    batchTimeout = 0;
    try {
      send(calls);
    } catch (err) {
      for (const c of calls) settle(c.id, new StoreUnavailable(`shared store: ${(err as Error).message}`));
      return;
    }
    // One timer per batch. It rejects one loop turn after it fires: after a pause of the worker itself
    // (GC, a starved CPU) timers run before messages are read, and an answer already waiting must win.
    setTimeout(
      () =>
        setImmediate(() => {
          for (const c of calls)
            settle(
              c.id,
              new StoreUnavailable(`shared store: the primary did not answer within ${timeoutMs} ms`),
            );
        }),
      timeoutMs,
    );
  }

  function settle(id: number, outcome: Error | { value: unknown }): void {
    const p = pending.get(id);
    if (p === undefined) return;
    pending.delete(id);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome.value);
  }

  function call(key: string, method: string, args: unknown[], timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      batch.push({ id, key, method, args });
      batchTimeout = Math.max(batchTimeout, timeoutMs);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
  }

  return {
    connect<T extends StoreHandle>(key: string, timeoutMs: number): T {
      const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
      const target = { close: async () => undefined };
      return new Proxy(target, {
        get(t, prop) {
          if (prop === 'close') return t.close;
          // Not a thenable: `await store` must not call the primary.
          if (typeof prop !== 'string' || prop === 'then') return undefined;
          let m = methods.get(prop);
          if (m === undefined)
            methods.set(prop, (m = (...args: unknown[]) => call(key, prop, args, timeoutMs)));
          return m;
        },
      }) as unknown as T;
    },
    onReplies(replies) {
      for (const r of replies)
        settle(r.id, 'error' in r ? new StoreUnavailable(`shared store: ${r.error}`) : { value: r.value });
    },
    fail(reason) {
      for (const id of [...pending.keys()]) settle(id, new StoreUnavailable(`shared store: ${reason}`));
    },
  };
}

/** Primary side: runs a batch of calls on the stores `lookup` finds and answers them in one batch. */
export async function runStoreCalls(
  calls: readonly StoreCall[],
  lookup: (key: string) => unknown,
): Promise<StoreReply[]> {
  return Promise.all(
    calls.map(async (c): Promise<StoreReply> => {
      const store = lookup(c.key) as Record<string, unknown> | undefined;
      const fn = store === undefined || !callable(c.method) ? undefined : store[c.method];
      if (typeof fn !== 'function')
        return {
          id: c.id,
          error: store === undefined ? 'no such store in the primary' : `no method ${c.method}`,
        };
      try {
        return { id: c.id, value: await (fn as (...a: unknown[]) => unknown).apply(store, [...c.args]) };
      } catch (err) {
        return { id: c.id, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/** A method a worker may call: the store's own operations, never its life cycle or Object's. */
function callable(method: string): boolean {
  return method !== 'close' && method !== 'constructor' && !(method in Object.prototype);
}
