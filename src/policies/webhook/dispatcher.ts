// The delivery loop of one route (webhook or callbacks subscriber): claims due events from the shared store
// and sends each to its target with a timeout; a 2xx marks it delivered, anything else schedules a retry
// with exponential backoff and full jitter until `attempts`, then the event is dead-lettered.
//
// Every serving process runs a loop per route; the store decides who gets what. A claim is a lease fenced by
// a claim number (a crashed process's events come back once the lease ends), and it is the store that caps
// the route's deliveries in flight (`concurrency`) and starts per second (`rate_per_s`) across every process
// and instance, and that holds back a failing event's order key. So the loop keeps no state that must
// survive it: at-least-once, whatever dies when.
import type { UpstreamAnswer, UpstreamRequest } from '../../pipeline/policy.js';
import { backoffDelay, type AsyncEventStore, type StoredEvent } from './store/event-store.js';
import type { SharedStore } from './section.js';
import type { WebhookMetrics } from './metrics.js';

export interface DeliverySettings {
  readonly attempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly ratePerS: number | undefined;
}

/** Builds the request of one attempt and sends it: the route's upstream, or a subscriber's URL. */
export type Sender = (event: StoredEvent, attempt: number, timeoutMs: number) => Promise<UpstreamAnswer>;

export interface DispatcherDeps {
  readonly store: SharedStore;
  /** The store's route id of these events. */
  readonly route: string;
  readonly metrics: WebhookMetrics;
  readonly log: {
    warn(fields: Readonly<Record<string, unknown>>, message: string): void;
  };
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Idle poll: how soon an event due later (a retry, a resumed route, another process's accept) is seen. */
const POLL_MS = 250;
/** After a store failure, wait this long before claiming again. */
const STORE_RETRY_MS = 1_000;

export class Dispatcher {
  private settings: DeliverySettings;
  private sender: Sender;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private claiming = false;
  private again = false;
  private closed = false;
  private readonly now: () => number;
  private readonly random: () => number;
  /** Deliveries running (close waits for them, bounded by their timeout). */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly deps: DispatcherDeps,
    settings: DeliverySettings,
    sender: Sender,
  ) {
    this.settings = settings;
    this.sender = sender;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    // The store waits for its loops before it closes: an outcome in flight at shutdown is still recorded.
    deps.store.loops.add(this);
  }

  /** Claim now (an event was accepted here, a delivery ended, the route was resumed). */
  wake(): void {
    if (this.closed) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.claim();
  }

  private schedule(ms: number): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wake();
    }, ms);
    this.timer.unref();
  }

  private async claim(): Promise<void> {
    const s = this.settings;
    const room = s.concurrency - this.inFlight;
    if (room <= 0) return; // a delivery ending wakes the loop
    this.claiming = true;
    this.again = false;
    let events: StoredEvent[];
    try {
      const store = await this.deps.store.get();
      events = await store.claimDue(this.now(), room, {
        route: this.deps.route,
        leaseMs: leaseMs(s.timeoutMs),
        maxInFlight: s.concurrency,
        ...(s.ratePerS !== undefined ? { ratePerS: s.ratePerS } : {}),
      });
      for (const e of events) this.start(store, e);
    } catch (err) {
      this.claiming = false;
      if (this.closed || this.deps.store.closed) return;
      this.deps.log.warn(
        { event: 'webhook_claim_failed', route: this.deps.route, error: errorText(err) },
        'webhook events could not be claimed; trying again',
      );
      this.schedule(STORE_RETRY_MS);
      return;
    }
    this.claiming = false;
    if (this.closed) return;
    // A full claim may have left more due now; an empty or partial one waits for the poll or a wake-up.
    if (this.again || (events.length === room && room > 0)) this.wake();
    else this.schedule(s.ratePerS !== undefined ? Math.min(POLL_MS, Math.ceil(1000 / s.ratePerS)) : POLL_MS);
  }

  private start(store: AsyncEventStore, event: StoredEvent): void {
    this.inFlight++;
    const run = this.deliver(store, event).finally(() => {
      this.inFlight--;
      this.running.delete(run);
      this.wake();
    });
    this.running.add(run);
  }

  private async deliver(store: AsyncEventStore, event: StoredEvent): Promise<void> {
    const s = this.settings;
    const m = this.deps.metrics;
    const attempt = event.attempts + 1;
    const at = this.now();
    const started = performance.now();
    let status: number | undefined;
    let error: string | undefined;
    try {
      const answer = await this.sender(event, attempt, s.timeoutMs);
      status = answer.status;
      if (status < 200 || status > 299) error = `upstream answered ${status}`;
    } catch (err) {
      error = errorText(err);
    }
    const durationMs = performance.now() - started;
    m.latency(this.deps.route).observe(durationMs / 1000);
    const record = {
      at,
      durationMs,
      ...(status !== undefined ? { status } : {}),
      ...(error ? { error } : {}),
    };
    try {
      if (error === undefined) {
        if (await store.markDelivered(event, record)) m.count(this.deps.route, 'delivered');
        return;
      }
      const dead = attempt >= s.attempts;
      const next = dead
        ? 'dead'
        : this.now() + backoffDelay(attempt, s.backoffMs, s.maxBackoffMs, this.random);
      if (await store.markFailed(event, record, next))
        m.count(this.deps.route, dead ? 'dead_lettered' : 'retried');
      if (dead)
        this.deps.log.warn(
          { event: 'webhook_dead_lettered', route: this.deps.route, id: event.id, attempts: attempt, error },
          'a webhook event was dead-lettered after its last attempt',
        );
    } catch (err) {
      // The outcome could not be recorded: the lease runs out and the event is delivered again.
      this.deps.log.warn(
        { event: 'webhook_mark_failed', route: this.deps.route, id: event.id, error: errorText(err) },
        'a delivery outcome could not be recorded; the event will be delivered again',
      );
    }
  }

  /** Stops claiming; waits for deliveries in flight (each ends by its timeout). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.running]);
    this.deps.store.loops.delete(this);
  }
}

/** How long a claim holds an event: past the longest delivery, with a margin for a busy process. */
export function leaseMs(timeoutMs: number): number {
  return timeoutMs * 2 + 10_000;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The request of a stored webhook event as its handler gets it: headers and body as received. */
export function eventRequest(event: StoredEvent, attempt: number, timeoutMs: number): UpstreamRequest {
  const q = event.path.indexOf('?');
  const headers: string[] = [];
  for (const [name, value] of event.headers) headers.push(name, value);
  headers.push('X-Portico-Event-Id', event.id, 'X-Portico-Attempt', String(attempt));
  return {
    method: event.method,
    path: q === -1 ? event.path : event.path.slice(0, q),
    query: q === -1 ? '' : event.path.slice(q + 1),
    prefixLength: event.prefixLength ?? 0,
    headers,
    body: event.body,
    timeoutMs,
  };
}
