// The messages between the primary process and its workers (node:cluster IPC, JSON). A request carries an
// `id` its reply repeats; store calls and their replies travel in batches (one message per loop turn).
import type { AdminCall, AdminResult } from '../admin/admin-server.js';

/** A Problem as plain data, to be rebuilt on the other side. */
export interface ProblemData {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export interface StoreCall {
  readonly id: number;
  readonly key: string;
  readonly method: string;
  readonly args: readonly unknown[];
}

export type StoreReply =
  { readonly id: number; readonly value: unknown } | { readonly id: number; readonly error: string };

/** Primary → worker. */
export type ToWorker =
  | { readonly t: 'start'; readonly text: string; readonly version: number }
  | {
      readonly t: 'reload';
      readonly id: number;
      readonly text: string;
      readonly version: number;
      readonly reason: string;
    }
  | { readonly t: 'admin'; readonly id: number; readonly call: AdminCall }
  | { readonly t: 'metrics'; readonly id: number }
  | { readonly t: 'shutdown'; readonly reason: string }
  | { readonly t: 'reopen-logs' }
  | { readonly t: 'store-replies'; readonly replies: readonly StoreReply[] };

/** What a worker answers to `reload`, `admin` and `metrics`. */
export type ReplyBody =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly problem?: ProblemData; readonly error: string };

/** Worker → primary. */
export type ToPrimary =
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly addresses: readonly string[]; readonly version: number }
  | { readonly t: 'startup-failed'; readonly message: string }
  | ({ readonly t: 'reply'; readonly id: number } & ReplyBody)
  | { readonly t: 'store-calls'; readonly calls: readonly StoreCall[] };

export type { AdminCall, AdminResult };

/** Exit code of a worker that could not start (its listeners or config): the primary stops, not restarts. */
export const EXIT_STARTUP_FAILED = 78;

/** The environment variable that tells a forked process which worker it is. */
export const WORKER_ID_ENV = 'PORTICO_WORKER_ID';

export function isMessage<T extends { t: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
