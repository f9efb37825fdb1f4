// The worker thread of ThreadedEventStore: opens the SQLite store and answers the calls of the main thread in
// the order they arrive. Group commit: the calls that arrive while the thread is busy (an fsync takes from a
// fraction of a millisecond to several) queue up on the port; after each commit the thread takes them all
// (receiveMessageOnPort) and stores each run of consecutive accepts in one transaction (acceptMany), so N
// accepts in flight cost about one fsync instead of N. The delivery loops' claims and outcomes that queue up
// likewise share one transaction, each call in a savepoint of its own.
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { StoreWriteError, type AcceptResult, type NewEvent } from './event-store.js';
import { SqliteEventStore } from './sqlite-store.js';
import {
  asBuffer,
  toWire,
  type Reply,
  type Request,
  type ThreadMessage,
  type ThreadedEventStoreOptions,
} from './thread-protocol.js';

interface Counters {
  commits: number;
  accepts: number;
}

/** At most this many accepts in one transaction. */
const MAX_BATCH = 1000;

/** The operations answered by calling the store's method of that name with the arguments. */
const METHODS = new Set<string>([
  'claimDue',
  'markDelivered',
  'markFailed',
  'list',
  'get',
  'replay',
  'replayAll',
  'delete',
  'depth',
  'pause',
  'resume',
  'paused',
  'pausedRoutes',
  'prune',
]);

/** Calls that may share a transaction (each in its own savepoint); prune runs its own batches, alone. */
const GROUPED = new Set<string>([...METHODS].filter((op) => op !== 'prune'));

const port = parentPort;
if (port === null) throw new Error('thread-worker.ts runs as the worker thread of ThreadedEventStore');

function post(message: ThreadMessage): void {
  port?.postMessage(message);
}

function open(): SqliteEventStore | undefined {
  try {
    return new SqliteEventStore(workerData as ThreadedEventStoreOptions);
  } catch (err) {
    post({ type: 'open-failed', error: toWire(err) });
    return undefined;
  }
}

/** Answers the calls on `store` until the close call. */
function serve(store: SqliteEventStore, parent: MessagePort): void {
  const stats = { commits: 0, accepts: 0 };
  const queue: Request[] = [];
  /** Takes the messages that arrived meanwhile (during the last commit) without waiting for the loop. */
  const pull = (): void => {
    for (let m = receiveMessageOnPort(parent); m !== undefined; m = receiveMessageOnPort(parent)) {
      for (const r of m.message as readonly Request[]) queue.push(r);
    }
  };

  /** Answers every queued call in order: runs of accepts in one transaction, the other calls one by one. */
  parent.on('message', (requests: readonly Request[]) => {
    for (const r of requests) queue.push(r);
    for (pull(); queue.length > 0; pull()) {
      const first = queue[0] as Request;
      if (first.op === 'accept') {
        let n = 1;
        while (n < queue.length && n < MAX_BATCH && queue[n]?.op === 'accept') n++;
        post({ type: 'replies', replies: acceptBatch(store, stats, queue.splice(0, n)) });
        continue;
      }
      if (GROUPED.has(first.op)) {
        let n = 1;
        while (n < queue.length && n < MAX_BATCH && GROUPED.has((queue[n] as Request).op)) n++;
        post({ type: 'replies', replies: groupBatch(store, stats, queue.splice(0, n)) });
        continue;
      }
      queue.shift();
      post({ type: 'replies', replies: [answer(store, stats, first)] });
      if (first.op === 'close') {
        queue.length = 0;
        parent.removeAllListeners('message');
        return;
      }
    }
  });
  post({ type: 'ready' });
}

function acceptBatch(store: SqliteEventStore, stats: Counters, batch: readonly Request[]): Reply[] {
  const events = batch.map((r) => {
    const e = r.args[0] as NewEvent;
    return { ...e, body: asBuffer(e.body) };
  });
  const settle = (results: ReadonlyArray<AcceptResult | { error: unknown }>): Reply[] =>
    results.map((result, i) => {
      const id = (batch[i] as Request).id;
      if ('error' in result) return { id, ok: false, error: toWire(result.error) };
      stats.accepts++;
      return { id, ok: true, value: result };
    });
  try {
    const results = store.acceptMany(events);
    stats.commits++;
    return settle(results);
  } catch (err) {
    // All or nothing: the batch stored nothing. An error that one event may have caused (a bad value, the
    // size cap) is worth one transaction per event so that the others still get stored; an error of the
    // storage itself (read-only, I/O, lock) would only repeat.
    if (events.length === 1 || (err instanceof StoreWriteError && !err.code.startsWith('SQLITE_FULL'))) {
      return settle(events.map(() => ({ error: err })));
    }
    return settle(
      events.map((event) => {
        try {
          const result = store.accept(event);
          stats.commits++;
          return result;
        } catch (error) {
          return { error };
        }
      }),
    );
  }
}

/**
 * The delivery loop's calls (claims and outcomes) and the admin's, run of them in one transaction: each call
 * in its own savepoint, so one that fails leaves the others in; a failed commit fails them all (a lost
 * outcome is a lease that runs out: the event is delivered again).
 */
function groupBatch(store: SqliteEventStore, stats: Counters, batch: readonly Request[]): Reply[] {
  if (batch.length === 1) return [answer(store, stats, batch[0] as Request)];
  try {
    const replies = store.group(() => batch.map((r) => answer(store, stats, r)));
    stats.commits++;
    return replies;
  } catch (err) {
    return batch.map((r) => ({ id: r.id, ok: false, error: toWire(err) }));
  }
}

function answer(store: SqliteEventStore, stats: Counters, request: Request): Reply {
  const { id, op, args } = request;
  try {
    if (op === 'stats') return { id, ok: true, value: { ...stats } };
    if (op === 'close') {
      store.close();
      return { id, ok: true, value: undefined };
    }
    if (!METHODS.has(op)) throw new TypeError(`unknown store operation ${op}`);
    const method = (store as unknown as Record<string, (...a: readonly unknown[]) => unknown>)[op];
    return { id, ok: true, value: method?.apply(store, [...args]) };
  } catch (err) {
    return { id, ok: false, error: toWire(err) };
  }
}

// When the store does not open, nothing listens for calls and the thread ends (the main thread waits for it).
const opened = open();
if (opened !== undefined) serve(opened, port);
