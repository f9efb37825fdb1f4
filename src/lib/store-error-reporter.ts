// Store failures come in floods (every request while Redis is down): each one reaches the metrics hook, but
// the log gets one `rate_limit_store_error` line per interval, counting what happened since the last line.
import { Throttle } from './throttle.js';

/** The part of the event logger a store uses (PolicyLog fits). */
export interface StoreLog {
  warn(fields: Readonly<Record<string, unknown>>, message: string): void;
}

export interface StoreErrorReporterOptions {
  readonly store: string;
  readonly log?: StoreLog | undefined;
  /** Called for every failed check (for `portico_rate_limit_store_errors_total`). */
  readonly onError?: ((err: Error) => void) | undefined;
  /** Default 10 000. */
  readonly intervalMs?: number;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
}

export interface StoreErrorReporter {
  /** A check that failed (rejected with StoreUnavailable). */
  failedCheck(err: Error): void;
  /** The connection reported a problem (refused, reset, timed out); no check failed because of it yet. */
  connectionError(err: Error): void;
}

export function createStoreErrorReporter(opts: StoreErrorReporterOptions): StoreErrorReporter {
  const throttle = new Throttle(opts.intervalMs ?? 10_000, opts.now);
  let errors = 0;
  let connectionErrors = 0;
  let lastConnectionError: string | undefined;

  function maybeLog(err: Error): void {
    if (opts.log === undefined || throttle.pass() < 0) return;
    const fields: Record<string, unknown> = {
      store: opts.store,
      errors,
      connectionErrors,
      error: err.message,
    };
    if (lastConnectionError !== undefined && lastConnectionError !== err.message) {
      fields.connectionError = lastConnectionError;
    }
    errors = 0;
    connectionErrors = 0;
    opts.log.warn(fields, 'rate_limit_store_error');
  }

  return {
    failedCheck: function failedCheck(err) {
      errors++;
      opts.onError?.(err);
      maybeLog(err);
    },
    connectionError: function connectionError(err) {
      connectionErrors++;
      lastConnectionError = err.message;
      maybeLog(err);
    },
  };
}
