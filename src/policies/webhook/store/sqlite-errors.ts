// Turns what better-sqlite3 throws when the file cannot be written into a StoreWriteError with a message that
// names the file and says what to do; other errors (bugs, misuse) pass through unchanged.
import { StoreWriteError, WRITE_ERROR_CODES } from './event-store.js';

const EXPLANATIONS: Readonly<Record<string, string>> = {
  SQLITE_FULL: 'the disk, or the size cap of the store, is full',
  SQLITE_READONLY: 'the file or its directory is read-only',
  SQLITE_CANTOPEN: 'the file cannot be opened or created (missing directory or no permission)',
  SQLITE_IOERR: 'an I/O error occurred',
  SQLITE_BUSY: 'another process held the file locked for longer than the busy timeout',
  SQLITE_LOCKED: 'the file is locked',
  SQLITE_PERM: 'permission denied',
};

/** The primary code of a better-sqlite3 error (SQLITE_IOERR_WRITE → SQLITE_IOERR), or undefined. */
export function primaryCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  return WRITE_ERROR_CODES.find((c) => code === c || code.startsWith(`${c}_`));
}

/** A StoreWriteError for an error that means "cannot write now", else the error itself. */
export function toStoreError(err: unknown, file: string, operation: string): unknown {
  if (err instanceof StoreWriteError) return err;
  const primary = primaryCode(err);
  if (primary === undefined) return err;
  const code = (err as { code: string }).code;
  const detail = err instanceof Error ? err.message : String(err);
  return new StoreWriteError(
    code,
    file,
    `webhook store ${file}: ${operation} failed: ${EXPLANATIONS[primary] ?? primary} (${code}: ${detail})`,
    { cause: err },
  );
}

/** Runs `fn`, turning a storage error into a StoreWriteError. */
export function guarded<T>(file: string, operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toStoreError(err, file, operation);
  }
}
