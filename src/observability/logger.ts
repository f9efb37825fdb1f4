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
  /** Writes what is pending and stops (shutdown). */
  close(): void;
}

/** Pending access lines are written when the process exits, whatever else happens. */
const openAccessLoggers = new Set<() => void>();
process.once('exit', () => {
  for (const flush of openAccessLoggers) flush();
});

/**
 * Lines of one event-loop turn are joined and written once: under load one write serves many requests,
 * and a quiet gateway still writes each line within the same turn it was logged.
 */
export function createAccessLogger(destination: LogDestination = stdoutSink()): AccessLogger {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    destination.write(chunk);
  };
  openAccessLoggers.add(flush);
  return {
    write(jsonLine) {
      pending += jsonLine + '\n';
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close() {
      flush();
      openAccessLoggers.delete(flush);
    },
  };
}
