// One upstream request through undici's dispatch API: headers resolve a promise, body chunks go straight
// to the client response with backpressure (no intermediate Readable, no AsyncResource, no pipe()), and
// failures before the headers reject with the problem the client should see.
import { errors, type Dispatcher } from 'undici';
import type { Exchange } from '../pipeline/exchange.js';
import {
  type BodySink,
  type GatewayResponse,
  type StreamingBody,
  type ResponseHeaders,
} from '../pipeline/gateway-response.js';
import { ResponseBodyTooLargeError } from '../pipeline/body.js';
import { parseResponseHeaders } from '../http/hop-by-hop.js';
import type { Endpoint } from './upstream-group.js';

/** Why an upstream call was aborted by the gateway. */
export const CLIENT_GONE = new Error('client closed the connection');
export const DEADLINE = Object.assign(new Error('route timeout'), { code: 'PORTICO_ROUTE_TIMEOUT' });
/** A response policy stopped reading a body past its limit. */
const BODY_LIMIT = new Error('response body past the limit of a policy');

/** Body bytes held before a destination is attached, beyond which the upstream socket is paused. */
const HOLD_BYTES = 64 * 1024;

/**
 * A dispatch handler that is also the response body. Chunks that arrive before a destination is attached
 * (while response policies run) are held — up to HOLD_BYTES, then the socket is paused — and written once a
 * destination is attached; from then on chunks are written through.
 */
export class UpstreamCall implements Dispatcher.DispatchHandler, StreamingBody {
  private abortFn: ((err?: Error) => void) | null = null;
  private abortReason: Error | null = null;
  private resolveHead: ((res: GatewayResponse) => void) | null;
  private rejectHead: ((err: unknown) => void) | null;
  private resumeFn: (() => void) | null = null;
  private dest: BodySink | null = null;
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  private paused = false;
  private ended = false;
  private failed: Error | null = null;
  /** performance.now() when the request was dispatched. */
  sentAt = 0;
  /** The route deadline, cleared when the call is over. */
  timer: NodeJS.Timeout | undefined = undefined;
  /** Time for the response headers once the request is written (first_byte_ms, per_try_timeout_ms). */
  headersTimeoutMs = Infinity;
  private headersTimer: NodeJS.Timeout | undefined = undefined;
  /** Longest pause between body chunks (idle_ms), timed here for the same reason as the headers. */
  idleTimeoutMs = Infinity;
  /** The response headers are in (a late headers timeout must not fail the call). */
  headersArrived = false;
  /** Body chunks read so far (a late idle timeout must not fail a call whose next chunk was waiting). */
  chunks = 0;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  /** Reading is paused for the client (backpressure) or while response policies run: not the upstream idling. */
  backpressured = false;
  /** The endpoint called: its pending count drops once the call is over (body done, failed or aborted). */
  endpoint: Endpoint | undefined = undefined;
  /** Hears the outcome for passive health: a response under 500 is a success, a failure otherwise. */
  group: { report(e: Endpoint, ok: boolean): void } | undefined = undefined;
  private settled = false;

  constructor(
    private readonly ex: Exchange,
    resolve: (res: GatewayResponse) => void,
    reject: (err: unknown) => void,
    private readonly toProblem: (err: Error) => unknown,
  ) {
    this.resolveHead = resolve;
    this.rejectHead = reject;
  }

  /** The client went away. */
  cancel(): void {
    this.abort(CLIENT_GONE);
  }

  /** Aborts the call; before the headers the promise rejects with `reason`. */
  abort(reason: Error): void {
    if (this.abortReason !== null || this.ended) return;
    this.abortReason = reason;
    if (this.abortFn) this.abortFn(reason);
    else this.onError(reason);
  }

  get abortedBy(): Error | null {
    return this.abortReason;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.abortReason !== null) abort(this.abortReason);
    // undici's own headersTimeout runs on its coarse timer wheel (fires 0.5–1 s late), so a 100 ms
    // per_try_timeout_ms would never fire before a 300 ms route deadline: time the headers ourselves,
    // from the moment the request is written, as undici does.
    else if (this.headersTimeoutMs !== Infinity)
      this.headersTimer = setTimeout(onHeadersTimeout, this.headersTimeoutMs, this);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: informational, not forwarded
    this.headersArrived = true;
    this.clearHeadersTimer();
    if (this.idleTimeoutMs !== Infinity) this.idleTimer = setTimeout(onIdleTimeout, this.idleTimeoutMs, this);
    if (this.group !== undefined) this.group.report(this.endpoint!, statusCode < 500);
    const ex = this.ex;
    ex.upstreamStatus = statusCode;
    ex.upstreamLatencyMs = performance.now() - this.sentAt;
    this.resumeFn = resume;
    const resolve = this.resolveHead;
    this.resolveHead = null;
    this.rejectHead = null;
    const headers: ResponseHeaders = parseResponseHeaders(rawHeaders);
    resolve?.({ status: statusCode, headers, body: this, source: 'upstream' });
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks++;
    if (this.idleTimer !== undefined) this.idleTimer.refresh();
    const dest = this.dest;
    if (dest === null) {
      // Keep reading small bodies (the usual case: the whole response is in the first read); pausing and
      // resuming the upstream socket for every response costs more than holding a few kilobytes.
      (this.held ??= []).push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < HOLD_BYTES) return true;
      this.paused = true;
      this.backpressured = true;
      return false;
    }
    if (dest.write(chunk)) return true;
    this.backpressured = true;
    return false;
  }

  onComplete(): void {
    this.ended = true;
    this.settle();
    if (this.dest !== null && this.held === null) this.dest.end();
  }

  onError(err: Error): void {
    if (this.failed !== null || this.ended) return;
    this.failed = err;
    this.settle();
    const reject = this.rejectHead;
    if (reject !== null) {
      this.resolveHead = null;
      this.rejectHead = null;
      if (this.group !== undefined && err !== CLIENT_GONE) this.group.report(this.endpoint!, false);
      reject(this.toProblem(err));
      return;
    }
    // After the headers: never a silently truncated body — close the client connection.
    this.dest?.destroy();
  }

  /** Streams the body into the client response (StreamingBody). */
  pipeTo(dest: BodySink): void {
    this.attach(dest);
  }

  /** Reads the whole body (StreamingBody); past `maxBytes` the upstream call is aborted. */
  collect(maxBytes: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      const sink: BodySink = {
        write: (chunk) => {
          if (tooLarge) return true;
          size += chunk.length;
          if (size > maxBytes) {
            tooLarge = true;
            chunks.length = 0;
            reject(new ResponseBodyTooLargeError(maxBytes));
            this.abort(BODY_LIMIT);
            return true;
          }
          chunks.push(chunk);
          return true;
        },
        end: (chunk) => {
          if (tooLarge) return;
          if (chunk !== undefined && !sink.write(chunk)) return;
          if (tooLarge) return;
          resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
        },
        destroy: () => {
          if (!tooLarge)
            reject(this.failed ?? this.abortReason ?? new Error('the upstream body ended early'));
        },
        on: () => sink,
      };
      this.attach(sink);
    });
  }

  private attach(dest: BodySink): void {
    this.dest = dest;
    if (this.failed !== null) {
      dest.destroy();
      return;
    }
    const held = this.held;
    this.held = null;
    if (this.ended) {
      if (held !== null && held.length === 1) dest.end(held[0]);
      else {
        if (held !== null) for (const chunk of held) dest.write(chunk);
        dest.end();
      }
      return;
    }
    if (held !== null) for (const chunk of held) dest.write(chunk);
    dest.on('drain', () => this.resume());
    if (this.paused) {
      this.paused = false;
      this.resume();
    }
  }

  /** Discards the body (a policy replaced the response, or the client is gone). */
  destroy(): void {
    this.held = null;
    if (!this.ended && this.failed === null) this.abort(CLIENT_GONE);
  }

  /** Reads from the upstream again; the idle time counts from now. */
  private resume(): void {
    this.backpressured = false;
    if (this.idleTimer !== undefined) this.idleTimer.refresh();
    this.resumeFn?.();
  }

  private clearHeadersTimer(): void {
    if (this.headersTimer !== undefined) {
      clearTimeout(this.headersTimer);
      this.headersTimer = undefined;
    }
  }

  private settle(): void {
    if (this.ex.traceSampled) this.ex.upstreamEndedAt = performance.now();
    this.clearHeadersTimer();
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.endpoint !== undefined && !this.settled) {
      this.settled = true;
      this.endpoint.pending--;
    }
  }
}

/**
 * Runs `then(call, …)` one loop turn after a timeout fired. Timers run before sockets are read: after a pause
 * of the gateway itself (a blocked loop, GC, a starved CPU) a timer comes due while the answer that arrived in
 * time still waits in the socket, and that answer must win over a timeout that is only due because the
 * gateway was not running — the rule of the Redis stores. The poll phase of this turn reads it first.
 */
export function afterWaitingInput<A extends unknown[]>(
  then: (call: UpstreamCall, ...args: A) => void,
  call: UpstreamCall,
  ...args: A
): void {
  setImmediate(then, call, ...args);
}

function onIdleTimeout(call: UpstreamCall): void {
  // A pause the gateway asked for (a slow client) is not the upstream idling: wait for it to read again.
  if (call.backpressured) return;
  afterWaitingInput(idleTimedOut, call, call.chunks);
}

function idleTimedOut(call: UpstreamCall, chunksAtTimeout: number): void {
  // A chunk that was waiting re-armed the idle timer as it was read.
  if (call.backpressured || call.chunks !== chunksAtTimeout) return;
  // The same error undici raises for bodyTimeout; after the headers the client connection is closed.
  call.abort(new errors.BodyTimeoutError());
}

function onHeadersTimeout(call: UpstreamCall): void {
  afterWaitingInput(headersTimedOut, call);
}

function headersTimedOut(call: UpstreamCall): void {
  if (call.headersArrived) return;
  // The same error undici raises, so failure kinds and problems treat both alike (504, retried as timeout).
  call.abort(new errors.HeadersTimeoutError());
}
