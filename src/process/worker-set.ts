// The primary's workers: one slot per worker (ids 1..N), forked, asked (requests with replies), replaced with
// back-off when one dies, and drained together on shutdown.
import type { Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { isMessage, EXIT_STARTUP_FAILED, type ReplyBody, type ToPrimary, type ToWorker } from './messages.js';

export interface WorkerSlot {
  readonly id: number;
  send(m: ToWorker): void;
}

interface Slot extends WorkerSlot {
  worker: Worker | undefined;
  ready: boolean;
  addresses: readonly string[];
  /** When the current worker became ready (Date.now()); 0 while starting. */
  readySince: number;
  /** Restarts in a row without a worker staying up STABLE_MS: the back-off grows with them. */
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
  readonly pending: Map<number, (r: ReplyBody) => void>;
}

export interface WorkerSetOptions {
  readonly size: number;
  readonly logger: Logger;
  readonly fork: (slot: number) => Worker;
  readonly onMessage: (slot: WorkerSlot, m: ToPrimary) => void;
  /** A dead worker was replaced (metrics). */
  readonly onRestart: () => void;
  /** The gateway is shutting down: a worker that exits is not replaced. */
  readonly stopping: () => boolean;
}

/** First restart delay; doubled for each restart in a row, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
/** A worker up this long before it died resets the back-off (it was not a crash loop). */
const STABLE_MS = 30_000;
/** Longest the primary waits for a worker's reply (a reload of a large config included). */
const REQUEST_TIMEOUT_MS = 120_000;

export class WorkerSet {
  private readonly slots: Slot[] = [];
  private nextRequest = 1;
  private starting:
    { resolve: (addresses: readonly string[]) => void; reject: (err: Error) => void } | undefined;

  constructor(private readonly o: WorkerSetOptions) {
    for (let id = 1; id <= o.size; id++) {
      const slot: Slot = {
        id,
        worker: undefined,
        ready: false,
        addresses: [],
        readySince: 0,
        failures: 0,
        restartTimer: undefined,
        pending: new Map(),
        send: (m) => {
          const w = slot.worker;
          if (w !== undefined && w.isConnected()) w.send(m);
        },
      };
      this.slots.push(slot);
    }
  }

  get readyCount(): number {
    return this.slots.filter((s) => s.ready).length;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Forks every worker; resolves with the listeners' addresses once all serve. */
  start(timeoutMs: number): Promise<readonly string[]> {
    return new Promise<readonly string[]>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the workers did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.starting = {
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      for (const slot of this.slots) this.spawn(slot);
    }).finally(() => (this.starting = undefined));
  }

  ready(s: WorkerSlot, addresses: readonly string[]): void {
    const slot = s as Slot;
    slot.ready = true;
    slot.addresses = addresses;
    slot.readySince = Date.now();
    this.o.logger.info(
      { event: 'worker_ready', worker: slot.id, pid: slot.worker?.process.pid },
      'worker ready',
    );
    if (this.starting && this.slots.every((x) => x.ready)) this.starting.resolve(this.slots[0]!.addresses);
  }

  startupFailed(s: WorkerSlot, message: string): void {
    this.o.logger.error(
      { event: 'worker_start_failed', worker: s.id, error: message },
      `worker ${s.id}: ${message}`,
    );
    this.starting?.reject(new Error(`worker ${s.id} ${message}`));
  }

  /** Sends the message `make(id)` builds and resolves with the worker's reply (or a failure). */
  request(s: WorkerSlot, make: (id: number) => ToWorker, timeoutMs = REQUEST_TIMEOUT_MS): Promise<ReplyBody> {
    const slot = s as Slot;
    const id = this.nextRequest++;
    return new Promise<ReplyBody>((resolve) => {
      if (slot.worker === undefined || !slot.worker.isConnected())
        return resolve({ ok: false, error: `worker ${slot.id} is not running` });
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        resolve({ ok: false, error: `worker ${slot.id} did not answer within ${timeoutMs} ms` });
      }, timeoutMs);
      slot.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      slot.send(make(id));
    });
  }

  settle(s: WorkerSlot, reply: ReplyBody & { id: number }): void {
    const slot = s as Slot;
    const done = slot.pending.get(reply.id);
    if (done === undefined) return;
    slot.pending.delete(reply.id);
    done(reply);
  }

  /** Asks every serving worker; the replies in worker order. */
  broadcast(make: (id: number) => ToWorker): Promise<[WorkerSlot, ReplyBody][]> {
    const serving = this.slots.filter((s) => s.ready);
    return Promise.all(
      serving.map(async (s): Promise<[WorkerSlot, ReplyBody]> => [s, await this.request(s, make)]),
    );
  }

  /** Asks the first serving worker (an operation on state every worker shares); undefined when none serves. */
  async askOne(make: (id: number) => ToWorker): Promise<[WorkerSlot, ReplyBody] | undefined> {
    const slot = this.slots.find((s) => s.ready);
    return slot === undefined ? undefined : [slot, await this.request(slot, make)];
  }

  /** Tells every running worker, without waiting for a reply. */
  post(m: ToWorker): void {
    for (const s of this.slots) s.send(m);
  }

  /**
   * Tells every worker to drain and waits for them to exit; those still running after `deadlineMs` are
   * killed. True when every worker finished by itself.
   */
  async stopAll(reason: string, deadlineMs: number): Promise<boolean> {
    for (const s of this.slots) clearTimeout(s.restartTimer);
    const running = this.slots.filter((s) => s.worker !== undefined && !isDead(s.worker));
    const exits = running.map(
      (s) =>
        new Promise<boolean>((resolve) => {
          s.worker!.once('exit', (code: number | null) => resolve(code === 0));
        }),
    );
    for (const s of running) s.send({ t: 'shutdown', reason });
    const timer = setTimeout(() => this.killAll(), deadlineMs);
    const results = await Promise.all(exits);
    clearTimeout(timer);
    return results.every(Boolean);
  }

  /** SIGKILLs every worker still running (the primary is exiting). */
  killAll(): void {
    for (const s of this.slots) {
      clearTimeout(s.restartTimer);
      const w = s.worker;
      if (w !== undefined && !isDead(w)) w.process.kill('SIGKILL');
    }
  }

  private spawn(slot: Slot): void {
    slot.restartTimer = undefined;
    const worker = this.o.fork(slot.id);
    slot.worker = worker;
    slot.ready = false;
    slot.readySince = 0;
    worker.on('message', (m: unknown) => {
      if (isMessage<ToPrimary>(m)) this.o.onMessage(slot, m);
    });
    worker.on('error', () => undefined);
    worker.once('exit', (code: number | null, signal: string | null) =>
      this.exited(slot, worker, code, signal),
    );
  }

  private exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const wasReady = slot.ready;
    const upMs = slot.readySince === 0 ? 0 : Date.now() - slot.readySince;
    slot.ready = false;
    slot.worker = undefined;
    for (const done of slot.pending.values()) done({ ok: false, error: `worker ${slot.id} exited` });
    slot.pending.clear();
    if (this.o.stopping()) return;
    const fields = { worker: slot.id, pid: worker.process.pid, code, signal };
    if (this.starting) {
      this.starting.reject(
        new Error(
          code === EXIT_STARTUP_FAILED
            ? `worker ${slot.id} could not start`
            : `worker ${slot.id} exited while starting (code ${code}, signal ${signal})`,
        ),
      );
      return;
    }
    if (wasReady && upMs >= STABLE_MS) slot.failures = 0;
    const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** slot.failures);
    slot.failures++;
    this.o.logger.error(
      { event: 'worker_exited', ...fields, restart_in_ms: delay },
      `worker ${slot.id} exited (code ${code}, signal ${signal}); replacing it in ${delay} ms`,
    );
    slot.restartTimer = setTimeout(() => {
      if (this.o.stopping()) return;
      this.o.onRestart();
      this.spawn(slot);
    }, delay);
  }
}

function isDead(w: Worker): boolean {
  return w.process.exitCode !== null || w.process.signalCode !== null;
}
