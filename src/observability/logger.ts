// Structured logs: one pino logger for gateway events (each line has an `event` field) and one for access
// lines. Both write asynchronously — to stdout, or to files opened for appending that are reopened after
// logrotate moved them — so a burst of requests never waits on the terminal or the disk.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LogDestination {
  write(line: string): unknown;
  /** Takes a batch of bytes as is (the access log's batches), when the destination can. */
  writeBytes?(chunk: Buffer): unknown;
  flushSync?(): void;
}

/**
 * Writers (stdout, files) are SonicBoom streams in buffer mode: the access log's batches go through without a
 * single conversion, where a string would be measured twice, appended to a rope and encoded on the way out.
 * Event lines (a few per minute) are encoded when written.
 */
function bytesWriter(file: SonicBoom): LogDestination {
  return {
    write: (line) => file.write(Buffer.from(line) as unknown as string),
    writeBytes: (chunk) => file.write(chunk as unknown as string),
    flushSync: () => file.flushSync(),
  };
}
type SonicBoom = ReturnType<typeof pino.destination>;

const stdoutDestinations: { async?: LogDestination; atomic?: LogDestination } = {};

/**
 * Largest write that reaches a pipe in one piece (POSIX PIPE_BUF on Linux): the processes of a
 * multi-process gateway share stdout (and the log files), so each of their writes is whole lines of at most
 * this many bytes, written synchronously — never merged or split by a buffering writer.
 */
export const ATOMIC_WRITE_BYTES = 4096;

/**
 * The shared stdout writer (created on first use, flushed on exit): asynchronous, or — `atomic`, for the
 * processes of a multi-process gateway — one synchronous write per call, so lines of two processes never mix.
 */
function stdoutSink(atomic = false): LogDestination {
  const which = atomic ? 'atomic' : 'async';
  let d = stdoutDestinations[which];
  if (!d) {
    const stdout = pino.destination({ dest: 1, sync: atomic, contentMode: 'buffer' });
    d = stdoutDestinations[which] = bytesWriter(stdout);
    process.once('exit', () => {
      try {
        stdout.flushSync();
      } catch {
        // stdout already closed
      }
    });
  }
  return d;
}

/** Headers whose values never reach a log line. */
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

/** Each secret header at the top level, one level down (`headers.x`) and in a request-like object (`req.headers.x`). */
const REDACTED_PATHS = SECRET_HEADERS.flatMap((h) => {
  const key = `["${h}"]`;
  return [key, `*${key}`, `*.headers${key}`];
});

/** Gateway event logger: `{"level":"info","time":"…","event":"config_reloaded",…,"msg":"…"}`. */
export function createEventLogger(level: string, destination: LogDestination = stdoutSink()): Logger {
  return pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Never log credentials even if a caller passes headers by mistake.
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
}

/** Takes access lines (complete JSON objects in ASCII, no newline) and writes them in batches. */
export interface AccessLogger {
  write(jsonLine: string): void;
  /** Writes what is pending now. */
  flush(): void;
  /** Writes what is pending and stops (shutdown). */
  close(): void;
  /** The worker process writing (`gateway.workers` > 1): every access line says which one served it. */
  readonly worker?: number | undefined;
}

/** Pending access lines are written when the process exits, whatever else happens. */
const openAccessLoggers = new Set<() => void>();
process.once('exit', () => {
  for (const flush of openAccessLoggers) flush();
});

/** A batch is written when it reaches this size, or after FLUSH_INTERVAL_MS at the latest. */
const BATCH_BYTES = 32 * 1024;
const FLUSH_INTERVAL_MS = 100;

/**
 * Lines are copied into one buffer and written in batches (at 32 KiB, or every 100 ms): under load one write
 * serves a hundred requests or more, and no log string lives long enough to be promoted out of V8's young
 * generation. Access lines are pure ASCII (createAccessLog escapes anything else), so each is copied with a
 * one-byte write — no UTF-8 encoding, no flattening of the line's rope — and a batch leaves as one flat
 * one-byte string, which the writer measures and writes without another conversion. (Appending lines to a
 * string instead measured about 1.5 µs per request more in place: the batch's rope of thousands of pieces is
 * flattened and encoded when written.) A timer rather than setImmediate, because an immediate keeps the
 * event loop from blocking in poll and so splits the socket work of busy turns into many small ones.
 */
export function createAccessLogger(
  destination: LogDestination = stdoutSink(),
  batchBytes = BATCH_BYTES,
  worker?: number,
): AccessLogger {
  let batch = Buffer.allocUnsafeSlow(batchBytes);
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    if (destination.writeBytes) {
      // The writer keeps the bytes until they are written: the next lines go to a new buffer.
      const chunk = batch.subarray(0, used);
      batch = Buffer.allocUnsafeSlow(batchBytes);
      used = 0;
      destination.writeBytes(chunk);
    } else {
      const chunk = batch.toString('latin1', 0, used);
      used = 0;
      destination.write(chunk);
    }
  };
  const timer = setInterval(flush, FLUSH_INTERVAL_MS);
  timer.unref();
  openAccessLoggers.add(flush);
  return {
    write(asciiLine) {
      if (used + asciiLine.length + 1 > batchBytes) {
        flush();
        if (asciiLine.length + 1 > batchBytes) {
          destination.write(asciiLine + '\n');
          return;
        }
      }
      used += batch.write(asciiLine, used, 'latin1');
      batch[used++] = 10;
    },
    flush,
    worker,
    close() {
      clearInterval(timer);
      flush();
      openAccessLoggers.delete(flush);
    },
  };
}

/**
 * Where the event log and the access log go. Both start on the fallback (stdout) and can be pointed at files
 * once the config is known; the loggers keep writing to the same two objects either way.
 */
export interface LogSinks {
  readonly events: LogDestination;
  readonly access: LogDestination;
  /** Opens the given files (absolute paths; one file when both are the same). Throws when one cannot be opened. */
  useFiles(files: { readonly events?: string | undefined; readonly access?: string | undefined }): void;
  /** Reopens every file at its path (logrotate renamed it) and returns the paths; lines go there from now on. */
  reopen(): string[];
  /** Writes what is pending, closes the files and sends later lines to the fallback. */
  close(): Promise<void>;
}

type LogFile = ReturnType<typeof pino.destination>;

/** Open log files are flushed when the process exits, whatever else happens. */
const openLogFiles = new Set<LogFile>();
process.once('exit', () => {
  for (const file of openLogFiles) {
    try {
      file.flushSync();
    } catch {
      // not open yet, or the disk refuses: nothing more can be done at exit
    }
  }
});

/**
 * `atomic`: this process shares stdout and the log files with the other processes of a multi-process gateway:
 * writes are synchronous and whole (see ATOMIC_WRITE_BYTES); give the access logger batches of that size.
 */
export function createLogSinks(fallback?: LogDestination, opts: { atomic?: boolean } = {}): LogSinks {
  const atomic = opts.atomic === true;
  fallback ??= stdoutSink(atomic);
  const events = switchable(fallback);
  const access = switchable(fallback);
  const files = new Map<string, LogFile>();
  const writers = new WeakMap<LogFile, LogDestination>();
  const writerOf = (file: LogFile): LogDestination => {
    let w = writers.get(file);
    if (!w) writers.set(file, (w = bytesWriter(file)));
    return w;
  };
  /** Reopens not finished yet: closing waits for them (SonicBoom drops a reopen once it is ending). */
  const reopening = new Map<LogFile, Promise<void>>();
  const open = (path: string): LogFile => {
    let file = files.get(path);
    if (!file) {
      file = openLogFile(path, atomic);
      files.set(path, file);
      openLogFiles.add(file);
    }
    return file;
  };
  return {
    events,
    access,
    useFiles(paths) {
      if (paths.events !== undefined) events.target = writerOf(open(paths.events));
      if (paths.access !== undefined) access.target = writerOf(open(paths.access));
    },
    reopen() {
      for (const file of files.values()) {
        reopening.set(file, opened(file));
        file.reopen();
      }
      return [...files.keys()];
    },
    async close() {
      events.target = fallback;
      access.target = fallback;
      const closing = [...files.values()];
      files.clear();
      await Promise.all(
        closing.map(async (file) => {
          await reopening.get(file);
          await closeLogFile(file);
        }),
      );
      reopening.clear();
    },
  };
}

/** A destination whose target can change; writers hold on to it (one indirection per batch or event). */
function switchable(initial: LogDestination): LogDestination & { target: LogDestination } {
  const d = {
    target: initial,
    write: (line: string) => d.target.write(line),
    writeBytes: (chunk: Buffer) =>
      d.target.writeBytes ? d.target.writeBytes(chunk) : d.target.write(chunk.toString('latin1')),
    flushSync: () => d.target.flushSync?.(),
  };
  return d;
}

/**
 * Opens `path` for appending, creating its directory. The file is opened once synchronously first so that a
 * path that cannot work fails at start with a clear message; writing and reopening are asynchronous.
 */
function openLogFile(path: string, atomic: boolean): LogFile {
  checkWritable(path);
  const file = pino.destination({
    dest: path,
    append: true,
    mkdir: true,
    sync: atomic,
    contentMode: 'buffer',
  });
  // A failing disk must not stop the gateway: say so once on stderr (again only after a reopen succeeded).
  let reported = false;
  file.on('error', (err: unknown) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`portico: cannot write the log file ${path}: ${systemMessage(err)}\n`);
  });
  file.on('ready', () => (reported = false));
  return file;
}

/** Resolves when the file's next open (a reopen) has succeeded or failed. */
function opened(file: LogFile): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      file.off('ready', done);
      file.off('error', done);
      resolve();
    };
    file.on('ready', done);
    file.on('error', done);
  });
}

function closeLogFile(file: LogFile): Promise<void> {
  openLogFiles.delete(file);
  return new Promise((resolve) => {
    file.once('close', resolve);
    file.once('error', () => resolve());
    file.end();
  });
}

/** Opens `path` for appending and closes it again, creating its directory only when it is missing. */
function checkWritable(path: string): void {
  try {
    closeSync(openSync(path, 'a'));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotOpen(path, err);
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, 'a'));
  } catch (err) {
    throw cannotOpen(path, err);
  }
}

function cannotOpen(path: string, err: unknown): Error {
  return new Error(`cannot open the log file ${path}: ${systemMessage(err)}`);
}

/** "EACCES: permission denied" from "EACCES: permission denied, open '/x'" (the path is already said). */
function systemMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/, \w+ '[^']*'$/, '');
}
