// The SQLite event store off the event loop: a worker thread (thread-worker.ts) owns the SqliteEventStore and
// this class forwards every call to it as a message, so no fsync blocks the gateway. Group commit: the calls
// made in one tick go in one message, and the thread stores the accepts that queued up while it was busy in
// one transaction, so many accepts in flight share one fsync (stats() counts them).
//
// Errors cross as data: a StoreWriteError keeps its code and file, a TypeError or RangeError its class, any
// other error becomes an Error with its message. Two codes are this class's own:
//  - THREAD_EXITED: the thread ended unexpectedly (a crash, out of memory, kill()): every pending call and
//    every later one rejects with it; the gateway answers 503 and the store must be opened again;
//  - CLOSED: a call made after close().
// The thread keeps the process alive only while calls are pending: an idle store does not hold a shutdown,
// an accept in flight is never cut.
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  StoreWriteError,
  type AcceptResult,
  type AsyncEventStore,
  type AttemptRecord,
  type ClaimOptions,
  type ClaimRef,
  type DepthRow,
  type ListPage,
  type ListQuery,
  type NewEvent,
  type PruneResult,
  type StoredEvent,
} from './event-store.js';
import {
  fromWire,
  postable,
  reviveEvent,
  type Request,
  type StoreOp,
  type ThreadMessage,
  type ThreadStats,
  type ThreadedEventStoreOptions,
} from './thread-protocol.js';

export type { ThreadStats, ThreadedEventStoreOptions } from './thread-protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The options the thread needs, and nothing else (a clock function, say, cannot cross). */
function workerData(options: ThreadedEventStoreOptions, file: string): ThreadedEventStoreOptions {
  return {
    file,
    retentionMs: options.retentionMs,
    deliveredRetentionMs: options.deliveredRetentionMs,
    leaseMs: options.leaseMs,
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
  };
}

/**
 * Starts the thread on thread-worker.js next to this file (the build), or thread-worker.ts (the sources run
 * through tsx: tests, benches). Node 20 does not apply the loader hooks of the parent's `--import tsx` to a
 * worker thread (nodejs/node#47747), so there the thread registers tsx itself before loading the script.
 */
function startWorker(data: ThreadedEventStoreOptions): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const script = new URL(`./thread-worker${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(script, { workerData: data });
  const tsx = import.meta.resolve('tsx/esm/api');
  const code =
    `import(${JSON.stringify(tsx)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(script.href)}); });`;
  return new Worker(code, { eval: true, workerData: data });
}

/** The {@link AsyncEventStore} over an SQLite file, run in a worker thread: see the file comment. */
export class ThreadedEventStore implements AsyncEventStore {
  private readonly pending = new Map<number, Pending>();
  private outbox: Request[] = [];
  private transfer: ArrayBuffer[] = [];
  private nextId = 1;
  /** Set once calls can no longer be answered: CLOSED or THREAD_EXITED. */
  private failure: StoreWriteError | undefined;
  private closing: Promise<void> | undefined;
  private threadError: string | undefined;

  private constructor(
    /** The database file (absolute). */
    readonly file: string,
    private readonly worker: Worker,
  ) {
    worker.on('message', (m: ThreadMessage) => this.onMessage(m));
    worker.on('error', (err: Error) => (this.threadError = err.message));
    worker.on('exit', (code: number) => this.onExit(code));
    worker.unref();
  }

  /**
   * Starts the thread and opens the file (creating it when absent). Rejects with the StoreWriteError of the
   * SQLite store when the file cannot be opened for writing (missing directory, read-only path); the thread
   * has ended by then.
   */
  static open(options: ThreadedEventStoreOptions): Promise<ThreadedEventStore> {
    const file = resolve(options.file);
    const worker = startWorker(workerData(options, file));
    return new Promise((resolveOpen, rejectOpen) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        // The error listener stays: an 'error' event without one would throw in this thread.
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        worker.terminate().then(
          () => rejectOpen(err),
          () => rejectOpen(err),
        );
      };
      const onMessage = (m: ThreadMessage): void => {
        if (m.type === 'open-failed') fail(fromWire(m.error, file));
        if (m.type !== 'ready' || settled) return;
        settled = true;
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolveOpen(new ThreadedEventStore(file, worker));
      };
      const onError = (err: Error): void =>
        fail(threadExited(file, `the store thread failed to start: ${err.message}`));
      const onExit = (code: number): void =>
        fail(threadExited(file, `the store thread exited (code ${code}) before the store opened`));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  accept(event: NewEvent): Promise<AcceptResult> {
    const body = postable(event.body);
    // A copy made for the crossing is moved rather than copied again.
    const moved = body !== event.body ? (body.buffer as ArrayBuffer) : undefined;
    return this.call('accept', [{ ...event, body }], moved);
  }

  async claimDue(now: number, limit: number, options?: ClaimOptions): Promise<StoredEvent[]> {
    const events = await this.call<StoredEvent[]>('claimDue', [now, limit, options]);
    return events.map(reviveEvent);
  }

  markDelivered(ref: ClaimRef, attempt: AttemptRecord): Promise<boolean> {
    return this.call('markDelivered', [{ id: ref.id, claim: ref.claim }, attempt]);
  }

  markFailed(ref: ClaimRef, attempt: AttemptRecord, nextAttemptAt: number | 'dead'): Promise<boolean> {
    return this.call('markFailed', [{ id: ref.id, claim: ref.claim }, attempt, nextAttemptAt]);
  }

  list(query?: ListQuery): Promise<ListPage> {
    return this.call('list', [query]);
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    const event = await this.call<StoredEvent | undefined>('get', [id]);
    return event === undefined ? undefined : reviveEvent(event);
  }

  replay(id: string): Promise<boolean> {
    return this.call('replay', [id]);
  }

  replayAll(options?: { readonly route?: string; readonly state?: 'dead' | 'delivered' }): Promise<number> {
    return this.call('replayAll', [options]);
  }

  delete(id: string): Promise<boolean> {
    return this.call('delete', [id]);
  }

  depth(): Promise<DepthRow[]> {
    return this.call('depth', []);
  }

  pause(route: string): Promise<void> {
    return this.call('pause', [route]);
  }

  resume(route: string): Promise<void> {
    return this.call('resume', [route]);
  }

  paused(route: string): Promise<boolean> {
    return this.call('paused', [route]);
  }

  pausedRoutes(): Promise<string[]> {
    return this.call('pausedRoutes', []);
  }

  prune(now: number, batchSize?: number): Promise<PruneResult> {
    return this.call('prune', [now, batchSize]);
  }

  /** The thread's counters since it opened: accept transactions (fsyncs) and accepts answered. */
  stats(): Promise<ThreadStats> {
    return this.call('stats', []);
  }

  /**
   * Answers the calls made before it, closes the file and ends the thread. Later calls reject with
   * StoreWriteError code CLOSED. Calling it again returns the same promise; after the thread died it only
   * waits for the thread to be gone.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const closed = this.failure === undefined ? this.call<void>('close', []) : Promise.resolve();
    this.failure ??= new StoreWriteError(
      'CLOSED',
      this.file,
      `webhook store ${this.file}: the store is closed`,
    );
    this.closing = closed
      .catch((err: unknown) => {
        // The thread died before it answered: the file is closed with it.
        if (!(err instanceof StoreWriteError && err.code === 'THREAD_EXITED')) throw err;
      })
      .finally(() => this.worker.terminate());
    return this.closing;
  }

  /**
   * Ends the thread abruptly, as a crash would (a last resort when close() does not finish, and for tests):
   * the pending calls and every later one reject with StoreWriteError code THREAD_EXITED. Nothing that was
   * acknowledged is lost (each answer follows its commit); the file's write lock ends with the thread.
   */
  async kill(): Promise<void> {
    await this.worker.terminate();
  }

  private call<T>(op: StoreOp, args: readonly unknown[], moved?: ArrayBuffer): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolveCall, rejectCall) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: resolveCall as (value: unknown) => void, reject: rejectCall });
      if (this.pending.size === 1) this.worker.ref();
      this.outbox.push({ id, op, args });
      if (moved !== undefined) this.transfer.push(moved);
      if (this.outbox.length === 1) queueMicrotask(() => this.flush());
    });
  }

  /** Posts the calls of this tick as one message. */
  private flush(): void {
    const requests = this.outbox;
    const transfer = this.transfer;
    this.outbox = [];
    this.transfer = [];
    if (requests.length === 0) return;
    try {
      this.worker.postMessage(requests, transfer);
    } catch {
      // An argument that cannot be cloned: post them one by one so that only the culprit fails.
      for (const request of requests) {
        try {
          this.worker.postMessage([request]);
        } catch (err) {
          this.settle(request.id, err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  private onMessage(m: ThreadMessage): void {
    if (m.type !== 'replies') return;
    for (const reply of m.replies) {
      if (reply.ok) this.settle(reply.id, undefined, reply.value);
      else this.settle(reply.id, fromWire(reply.error, this.file));
    }
  }

  private settle(id: number, error: Error | undefined, value?: unknown): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    if (error !== undefined) pending.reject(error);
    else pending.resolve(value);
  }

  private onExit(code: number): void {
    const detail = this.threadError !== undefined ? `: ${this.threadError}` : '';
    const err = threadExited(this.file, `the store thread exited (code ${code})${detail}`);
    this.failure ??= err;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
  }
}

function threadExited(file: string, what: string): StoreWriteError {
  return new StoreWriteError(
    'THREAD_EXITED',
    file,
    `webhook store ${file}: ${what}; the store must be opened again (THREAD_EXITED)`,
  );
}
