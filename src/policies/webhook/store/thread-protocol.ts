// The messages between ThreadedEventStore (thread-store.ts) and its worker thread (thread-worker.ts), and what
// crosses as data: errors (rebuilt on the other side) and bodies (a structured clone turns a Buffer into a
// plain Uint8Array, turned back here).
import type { EventStore, StoredEvent } from './event-store.js';
import { StoreWriteError } from './event-store.js';
import type { SqliteEventStoreOptions } from './sqlite-store.js';

/** What the thread opens the store with: the SQLite options but the clock (the thread uses Date.now). */
export type ThreadedEventStoreOptions = Omit<SqliteEventStoreOptions, 'now'>;

/** The operations the thread answers: every method of the store, and its counters. */
export type StoreOp = keyof EventStore | 'stats';

/** The thread's counters: accept transactions committed (one fsync each) and accept calls answered. */
export interface ThreadStats {
  readonly commits: number;
  readonly accepts: number;
}

/** One call: the main thread sends them in arrays (all the calls of one tick in one message). */
export interface Request {
  readonly id: number;
  readonly op: StoreOp;
  readonly args: readonly unknown[];
}

/** An error as data. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly file?: string;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** What the thread posts: whether the store opened, then the answers (several per message). */
export type ThreadMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'open-failed'; readonly error: WireError }
  | { readonly type: 'replies'; readonly replies: readonly Reply[] };

/** An error as data: StoreWriteError keeps its code and file; any other error its name and message. */
export function toWire(err: unknown): WireError {
  if (err instanceof StoreWriteError) {
    return { name: err.name, message: err.message, code: err.code, file: err.file };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * The error again: a StoreWriteError with its code and file, a TypeError or RangeError (a misuse, such as
 * claim caps without a route), else an Error with the message.
 */
export function fromWire(wire: WireError, file: string): Error {
  if (wire.name === 'StoreWriteError' && wire.code !== undefined) {
    return new StoreWriteError(wire.code, wire.file ?? file, wire.message);
  }
  if (wire.name === 'TypeError') return new TypeError(wire.message);
  if (wire.name === 'RangeError') return new RangeError(wire.message);
  return new Error(wire.message);
}

/** A Buffer over the same bytes (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The bytes to post: a structured clone copies a typed array's whole ArrayBuffer, so a small Buffer cut from
 * Node's shared pool would carry 8 KB; such a view is copied to its own exact buffer first.
 */
export function postable(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}

/** A stored event that crossed the thread: its body a Buffer again. */
export function reviveEvent(event: StoredEvent): StoredEvent {
  return { ...event, body: asBuffer(event.body) };
}
