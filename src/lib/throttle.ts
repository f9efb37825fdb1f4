// Some events can happen on every request (a store down, a body passed through unchanged): their log line
// is written at most once per interval, saying how many were dropped since the last one.

/** The part of a logger a throttled log writes to (pino's Logger and PolicyLog fit). */
export interface LineLog {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  warn(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}

/**
 * Lets one event through per `intervalMs`: `pass()` returns how many were held back since the last one that
 * passed, or -1 when this one is held back too. `now` is monotonic milliseconds (injectable for tests).
 */
export class Throttle {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;
  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  pass(): number {
    const at = this.now();
    if (at - this.last < this.intervalMs) {
      this.held++;
      return -1;
    }
    this.last = at;
    const held = this.held;
    this.held = 0;
    return held;
  }
}

/** A log that writes at most one line per `intervalMs`, with `suppressed`: the lines dropped before it. */
export function throttledLog(log: LineLog, intervalMs = 10_000, now?: () => number): LineLog {
  const throttle = new Throttle(intervalMs, now);
  const write =
    (level: keyof LineLog) =>
    (fields: Readonly<Record<string, unknown>>, message: string): void => {
      const suppressed = throttle.pass();
      if (suppressed >= 0) log[level]({ ...fields, suppressed }, message);
    };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}
