// One health probe through a target's own undici dispatcher, bounded as a whole (connect, headers and body)
// by one deadline, reporting every failure as a value so nothing escapes as a rejection.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** Body bytes read and discarded; beyond this the connection is dropped rather than drained. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What one probe sends and accepts; compiled once per target. */
export interface ProbeSpec {
  readonly origin: string;
  readonly path: string;
  readonly method: 'GET' | 'HEAD';
  /** Final request headers, Host included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly isExpectedStatus: (status: number) => boolean;
}

/** How a probe ended. `stopped` probes were cut short by the checker stopping and count for nothing. */
export interface ProbeResult {
  readonly outcome: 'ok' | 'failed' | 'stopped';
  readonly status: number | null;
  readonly detail: string;
}

export interface Probe {
  /** Settles with the verdict, at the latest timeoutMs after the probe began (or when stopped). */
  readonly result: Promise<ProbeResult>;
  /**
   * Settles when the dispatcher has let go of the request. Usually with `result`; later only when the
   * deadline passed while undici was still connecting, since undici honours an abort only once the request
   * is on a socket (then its own connect timeout bounds the wait).
   */
  readonly settled: Promise<void>;
}

/** The status once the headers are in, so a deadline passing during the body can report it. */
interface Progress {
  status: number | null;
}

const TIMED_OUT = new Error('health probe timed out');
const STOPPED = new Error('health check stopped');

/** Sends one probe; `stop` aborts it. Never rejects. */
export function probeTarget(dispatcher: Dispatcher, spec: ProbeSpec, stop: AbortSignal): Probe {
  const controller = new AbortController();
  const signal = controller.signal;
  const progress: Progress = { status: null };
  const cutShort = new Promise<ProbeResult>((resolve) => {
    signal.addEventListener('abort', () => resolve(cutShortResult(signal.reason, progress.status, spec)), {
      once: true,
    });
  });
  const onStop = (): void => controller.abort(STOPPED);
  stop.addEventListener('abort', onStop, { once: true });
  const timer = setTimeout(() => controller.abort(TIMED_OUT), spec.timeoutMs);
  timer.unref();
  if (stop.aborted) onStop();

  const exchange = exchangeOnce(dispatcher, spec, signal, progress);
  const result = Promise.race([exchange, cutShort]).finally(() => {
    clearTimeout(timer);
    stop.removeEventListener('abort', onStop);
  });
  return { result, settled: exchange.then(() => undefined) };
}

function cutShortResult(reason: unknown, status: number | null, spec: ProbeSpec): ProbeResult {
  if (reason === STOPPED) return { outcome: 'stopped', status, detail: 'stopped' };
  const during = status === null ? '' : ` reading the body (status ${status})`;
  return { outcome: 'failed', status, detail: `timed out after ${spec.timeoutMs} ms${during}` };
}

async function exchangeOnce(
  dispatcher: Dispatcher,
  spec: ProbeSpec,
  signal: AbortSignal,
  progress: Progress,
): Promise<ProbeResult> {
  let status: number | null = null;
  try {
    const res = await dispatcher.request({
      origin: spec.origin,
      path: spec.path,
      method: spec.method,
      headers: spec.headers,
      signal,
      // Backstops in undici's own terms; the signal is the deadline, and it also covers connecting.
      headersTimeout: spec.timeoutMs,
      bodyTimeout: spec.timeoutMs,
    });
    status = res.statusCode;
    progress.status = status;
    await discardBody(res.body);
    return spec.isExpectedStatus(status)
      ? { outcome: 'ok', status, detail: `status ${status}` }
      : { outcome: 'failed', status, detail: `unexpected status ${status}` };
  } catch (err) {
    const phase = status === null ? '' : `status ${status}, then the body failed: `;
    return { outcome: 'failed', status, detail: phase + describeError(err) };
  }
}

/**
 * Reads the body to its end, or drops the connection once it exceeds MAX_BODY_BYTES (destroying an undici
 * body before its end aborts the request, which closes the socket). Rejects if the body fails before its end,
 * so a reset mid-body is a failed probe.
 */
function discardBody(body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BODY_BYTES) {
        resolve();
        body.destroy();
      }
    });
    body.once('end', resolve);
    // Also swallows the abort error that destroy() above emits after the probe has already resolved.
    body.on('error', reject);
    // A stream destroyed without an error emits only 'close'; the probe must still settle.
    body.once('close', () => reject(new Error('the body closed before its end')));
  });
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Connecting to a name with several addresses fails with an AggregateError whose own message is empty.
  if (err instanceof AggregateError && err.message === '' && err.errors.length > 0)
    return describeError(err.errors[0]);
  const code = (err as { code?: unknown }).code;
  const message = err.message === '' ? err.name : err.message;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
