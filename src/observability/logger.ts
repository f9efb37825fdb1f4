// Structured logs: one pino logger for gateway events (each line has an `event` field) and one for access
// lines. Both write asynchronously to stdout so a burst of requests never waits on the terminal.
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LogDestination {
  write(line: string): unknown;
  flushSync?(): void;
}

let stdoutDestination: ReturnType<typeof pino.destination> | undefined;

/** The shared async stdout writer (created on first use, flushed on exit). */
export function stdoutSink(): LogDestination {
  if (!stdoutDestination) {
    stdoutDestination = pino.destination({ dest: 1, sync: false });
    process.once('exit', () => {
      try {
        stdoutDestination?.flushSync();
      } catch {
        // stdout already closed
      }
    });
  }
  return stdoutDestination;
}

/** Gateway event logger: `{"level":"info","time":"…","event":"config_reloaded",…,"msg":"…"}`. */
export function createEventLogger(level: string, destination: LogDestination = stdoutSink()): Logger {
  return pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Never log credentials even if a caller passes headers by mistake.
      redact: {
        paths: [
          '*.authorization',
          '*.cookie',
          '*["x-api-key"]',
          '*.headers.authorization',
          '*.headers.cookie',
        ],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream,
  );
}

/** Takes access lines (complete JSON objects, no newline) and writes them in batches. */
export interface AccessLogger {
  write(jsonLine: string): void;
  /** Writes what is pending now. */
  flush(): void;
  /** Writes what is pending and stops (shutdown). */
  close(): void;
}

/** Pending access lines are written when the process exits, whatever else happens. */
const openAccessLoggers = new Set<() => void>();
process.once('exit', () => {
  for (const flush of openAccessLoggers) flush();
});

/** A batch is written when it reaches this size, or after FLUSH_INTERVAL_MS at the latest. */
const BATCH_BYTES = 64 * 1024;
const FLUSH_INTERVAL_MS = 100;

/**
 * Lines are copied into one buffer and written in batches (at 64 KiB, or every 100 ms): under load one write
 * serves hundreds of requests, and no log string lives long enough to be promoted out of V8's young
 * generation. A timer rather than setImmediate, because an immediate keeps the event loop from blocking in
 * poll and so splits the socket work of busy turns into many small ones.
 */
export function createAccessLogger(destination: LogDestination = stdoutSink()): AccessLogger {
  const batch = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    const chunk = batch.toString('utf8', 0, used);
    used = 0;
    destination.write(chunk);
  };
  const timer = setInterval(flush, FLUSH_INTERVAL_MS);
  timer.unref();
  openAccessLoggers.add(flush);
  return {
    write(jsonLine) {
      // A line is at most a few hundred bytes; one that cannot fit even an empty batch goes on its own.
      if (used + jsonLine.length * 3 + 1 > BATCH_BYTES) {
        flush();
        if (jsonLine.length * 3 + 1 > BATCH_BYTES) {
          destination.write(jsonLine + '\n');
          return;
        }
      }
      used += batch.write(jsonLine, used);
      batch[used++] = 10;
    },
    flush,
    close() {
      clearInterval(timer);
      flush();
      openAccessLoggers.delete(flush);
    },
  };
}
