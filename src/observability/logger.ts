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

/** Writes access lines (already-built objects) as JSON, one per line, through the same async sink. */
export interface AccessLogger {
  write(line: Readonly<Record<string, string | number | boolean>>): void;
}

export function createAccessLogger(destination: LogDestination = stdoutSink()): AccessLogger {
  return {
    write(line) {
      destination.write(JSON.stringify(line) + '\n');
    },
  };
}
