// The named stores a policy opens through `CompileContext.store` (part of the policy contract in policy.ts).
import type { Awaitable, PolicyLog } from './policy-log.js';

export type StoreKind = 'memory' | 'redis';

/** Where a store keeps its state: `gateway.store`, as a policy's store sees it. */
export type StoreBackend =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'redis';
      /** `redis://…` (with `cluster`, a comma-separated list of seed nodes). */
      readonly url: string;
      readonly cluster: boolean;
      /** `gateway.store.prefix`. */
      readonly prefix: string;
      /** `gateway.store.timeout_ms`: longest one operation may wait. */
      readonly timeoutMs: number;
      /** The gateway event log, for the store's connection trouble. */
      readonly log: PolicyLog;
    };

export interface StoreOptions {
  /** A backend other than `gateway.store.type` (e.g. `cache.store: memory`); Redis still needs its url. */
  readonly kind?: StoreKind | undefined;
  /** The policy's own settings of this store (JSON): a change opens a new store. */
  readonly settings?: unknown;
  /**
   * One store for every worker process (`gateway.workers` > 1): a memory store then lives in the primary
   * process and each method call is a message to it (answered within `gateway.store.timeout_ms`, else
   * StoreUnavailable), so counts stay exact across workers. Opt in only when every method of the store may
   * return a Promise and takes and returns plain data (structured-cloneable). Redis stores are shared anyway.
   */
  readonly shared?: boolean;
}

/** What a policy's store must offer the gateway: a way to close it. */
export interface StoreHandle {
  close(): Awaitable<void>;
}
