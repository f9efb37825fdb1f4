// A named upstream at run time: its endpoints (one per target, or one per resolved address of a target's
// host name), the balancer that spreads requests over them, their health (active probes, passive ejection,
// both capped by max_ejected_percent, panic mode when none is left), the circuit breakers and the retry
// budget. Carried over across reloads while its configuration is unchanged, so health and circuit state
// survive a reload.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Pool } from 'undici';
import type { UpstreamConfig } from '../config/upstream-schema.js';
import { createBalancer, type Balancer, type BalancerTarget } from './balancer/balancer.js';
import {
  createActiveHealthCheck,
  expectedStatuses,
  type ActiveHealthCheck,
} from './health/active-health-check.js';
import { CircuitBreaker, type BreakerTimer, type CircuitState } from './resilience/circuit-breaker.js';
import { OutlierDetector } from './resilience/outlier-detector.js';
import { RetryBudget } from './resilience/retry-budget.js';
import { createPool, parseUpstreamUrl, type PoolSettings } from './upstream-target.js';

/** One place requests go: a target, or one address of a target's host name. */
export interface Endpoint extends BalancerTarget {
  readonly id: string;
  /** Where connections go: "http://10.0.0.7:8080". */
  readonly origin: string;
  /** Host header (the name as configured). */
  readonly hostHeader: string;
  readonly basePath: string;
  readonly weight: number;
  /** Requests in flight (incremented when a try starts, decremented when its response is over). */
  pending: number;
  readonly pool: Pool;
  /** Position in the group's current endpoint list. */
  readonly index: number;
  /** Index of the configured target it comes from. */
  readonly target: number;
  /** For logs, metrics and the admin view: the configured URL's origin, and the address when resolved. */
  readonly label: string;
  /** Its own breaker with `per_target: true`. */
  readonly breaker: CircuitBreaker | undefined;
  health: ActiveHealthCheck | undefined;
}

/** What the group reports (metrics and logs); every member optional. */
export interface UpstreamEvents {
  circuit?(target: string, from: CircuitState, to: CircuitState, reason: string): void;
  health?(target: string, healthy: boolean, reason: string): void;
  ejected?(target: string, forMs: number): void;
  returned?(target: string): void;
  panic?(): void;
  retried?(): void;
  budgetExhausted?(): void;
  resolved?(target: string, addresses: readonly string[], error?: string): void;
}

export interface RetrySettings {
  readonly attempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly perTryTimeoutMs: number | undefined;
  readonly onConnectFailure: boolean;
  readonly onReset: boolean;
  readonly onTimeout: boolean;
  readonly on5xx: boolean;
  readonly statuses: ReadonlySet<number>;
  readonly bufferBodyBytes: number;
  readonly budget: RetryBudget;
}

export interface UpstreamGroupOptions {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly pool: Omit<PoolSettings, 'connections'> & { readonly connections: number | undefined };
  readonly events?: UpstreamEvents;
  /** Resolves a host name to its addresses (default: the system resolver, every address). */
  readonly resolve?: (host: string) => Promise<readonly string[]>;
  /** The circuit breakers' clock and half-open timer (tests; default performance.now and setTimeout). */
  readonly breakerClock?: { readonly now: () => number; readonly timer: BreakerTimer };
}

const systemResolve = async (host: string): Promise<readonly string[]> =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export class UpstreamGroup {
  readonly name: string;
  readonly balance: UpstreamConfig['balance'];
  readonly hashOn: string;
  /** The upstream-wide breaker (undefined with `per_target: true` or without `circuit_breaker`). */
  readonly breaker: CircuitBreaker | undefined;
  readonly retry: RetrySettings | undefined;
  private list: Endpoint[] = [];
  private balancer!: Balancer<Endpoint>;
  private outlier: OutlierDetector | undefined;
  /** 1 where an endpoint is out of service (unhealthy or ejected, within max_ejected_percent). */
  private out = new Uint8Array(0);
  /** Earliest passive ejection end: a pick after it recomputes who is out. */
  private nextReturnAt = Infinity;
  private readonly addresses: (readonly string[] | undefined)[];
  private resolveTimer: NodeJS.Timeout | undefined;
  /** The current pick's exclusions, read by `inService` (bound once: no closure per pick). */
  private skip: (e: Endpoint) => boolean = () => false;
  private readonly inService = (e: Endpoint): boolean => this.out[e.index] === 0 && !this.skip(e);
  private readonly notSkipped = (e: Endpoint): boolean => !this.skip(e);
  private started = false;
  private closed = false;

  constructor(private readonly options: UpstreamGroupOptions) {
    const c = options.config;
    this.name = options.name;
    this.balance = c.balance;
    this.hashOn = c.hash_on;
    this.breaker =
      c.circuit_breaker && !c.circuit_breaker.per_target ? this.createBreaker('(all)') : undefined;
    this.retry = c.retries && c.retries.attempts > 0 ? retrySettings(c.retries) : undefined;
    if (c.health_check) expectedStatuses(c.health_check.expected_statuses); // throws on a bad spec
    this.addresses = c.targets.map(() => undefined);
    this.rebuild();
  }

  get events(): UpstreamEvents | undefined {
    return this.options.events;
  }

  /** Endpoints now (replaced, not mutated, when host names resolve differently). */
  get endpoints(): readonly Endpoint[] {
    return this.list;
  }

  /**
   * The endpoint for a try: eligible (in service and not `skip`ped), by the balancer; when none is, any
   * endpoint not skipped (panic mode: better to try an unhealthy target than to serve nothing).
   */
  pick(skip: (e: Endpoint) => boolean, hashKey: string | undefined): Endpoint | undefined {
    if (this.nextReturnAt !== Infinity && performance.now() >= this.nextReturnAt) this.recompute();
    const list = this.list;
    if (list.length === 1) {
      const only = list[0]!;
      if (skip(only)) return undefined;
      if (this.out[0] === 1) this.options.events?.panic?.();
      return only;
    }
    this.skip = skip;
    const chosen = this.balancer.pick(this.inService, hashKey);
    if (chosen !== undefined) return chosen;
    const any = this.balancer.pick(this.notSkipped, hashKey);
    if (any !== undefined) this.options.events?.panic?.();
    return any;
  }

  /** A try's outcome, for passive health (connect failures, resets, timeouts and 5xx are failures). */
  report(e: Endpoint, ok: boolean): void {
    const o = this.outlier;
    if (o === undefined || this.list[e.index] !== e) return;
    if (ok) o.success(e.index);
    else o.failure(e.index);
  }

  /** Starts health checks and host-name re-resolution (serving gateways only). Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const e of this.list) e.health?.start();
    const interval = this.options.config.resolve_interval_ms;
    if (interval > 0 && this.addresses.some((_, i) => this.resolvable(i))) {
      void this.resolveAll();
      this.resolveTimer = setInterval(() => void this.resolveAll(), interval);
      this.resolveTimer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.resolveTimer);
    // No breaker of a retired group may change state (and the shared metric series) on its own any more.
    this.breaker?.close();
    await Promise.all(this.list.map((e) => retire(e)));
  }

  /** The admin view (snake_case keys, like the rest of the admin API). */
  snapshot(): Record<string, unknown> {
    // Ejections end lazily, at the next pick: without traffic, `in_service` would stay false for a target
    // that is back in service.
    if (performance.now() >= this.nextReturnAt) this.recompute();
    return snakeKeys({
      name: this.name,
      balance: this.balance,
      ...(this.balance === 'hash' ? { hash_on: this.hashOn } : {}),
      circuit: this.breaker?.snapshot(),
      retry_budget: this.retry?.budget.snapshot(),
      targets: this.list.map((e) => ({
        target: e.label,
        url: this.options.config.targets[e.target]!.url,
        weight: e.weight,
        pending: e.pending,
        in_service: this.out[e.index] === 0,
        ...(e.health ? { health: e.health.snapshot(0) } : {}),
        ...(this.outlier ? { ejection: this.outlier.snapshot(e.index) } : {}),
        ...(e.breaker ? { circuit: e.breaker.snapshot() } : {}),
      })),
    }) as Record<string, unknown>;
  }

  private resolvable(i: number): boolean {
    const host = new URL(this.options.config.targets[i]!.url).hostname.replace(/^\[|\]$/g, '');
    // RFC 6761: localhost is loopback by definition; there is nothing to re-resolve.
    return isIP(host) === 0 && host !== 'localhost' && !host.endsWith('.localhost');
  }

  private async resolveAll(): Promise<void> {
    const resolve = this.options.resolve ?? systemResolve;
    let changed = false;
    await Promise.all(
      this.options.config.targets.map(async (t, i) => {
        if (!this.resolvable(i)) return;
        const label = new URL(t.url).origin;
        try {
          const found = [...new Set(await resolve(new URL(t.url).hostname))].sort();
          if (found.length === 0) throw new Error('no addresses');
          const before = this.addresses[i];
          if (before === undefined || before.join() !== found.join()) {
            this.addresses[i] = found;
            changed = true;
            this.options.events?.resolved?.(label, found);
          }
        } catch (err) {
          // Keep what we had (the last good answer, or the name itself): a DNS hiccup must not empty the pool.
          this.options.events?.resolved?.(label, this.addresses[i] ?? [], (err as Error).message);
        }
      }),
    );
    if (changed && !this.closed) this.rebuild();
  }

  /** (Re)builds the endpoint list from the targets and their resolved addresses, keeping what is unchanged. */
  private rebuild(): void {
    const c = this.options.config;
    const old = new Map(this.list.map((e) => [e.id, e]));
    const list: Endpoint[] = [];
    c.targets.forEach((t, ti) => {
      const parsed = parseUpstreamUrl(t.url);
      const url = new URL(t.url);
      const addrs = this.addresses[ti];
      const origins =
        addrs === undefined
          ? [{ origin: parsed.origin, address: '' }]
          : addrs.map((a) => ({
              origin: `${url.protocol}//${isIP(a) === 6 ? `[${a}]` : a}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`,
              address: a,
            }));
      for (const { origin, address } of origins) {
        const id = `${ti}|${origin}`;
        const reused = old.get(id);
        if (reused) {
          old.delete(id);
          list.push(reused);
          continue;
        }
        const label = address === '' ? parsed.origin : `${parsed.origin} (${address})`;
        const pool = createPool(origin, {
          ...this.options.pool,
          connections: t.max_connections ?? this.options.pool.connections,
          ...(address !== '' && url.protocol === 'https:' ? { servername: url.hostname } : {}),
        });
        const e: Endpoint = {
          id,
          origin,
          hostHeader: parsed.hostHeader,
          basePath: parsed.basePath,
          weight: t.weight,
          pending: 0,
          pool,
          target: ti,
          label,
          index: 0,
          breaker: c.circuit_breaker?.per_target ? this.createBreaker(label) : undefined,
          health: undefined,
        };
        if (c.health_check) e.health = this.createHealthCheck(e);
        if (this.started) e.health?.start();
        list.push(e);
      }
    });
    list.forEach((e, i) => ((e as { index: number }).index = i));
    for (const gone of old.values()) void retire(gone);
    this.list = list;
    this.balancer = createBalancer(c.balance, list);
    this.out = new Uint8Array(list.length);
    this.outlier = c.passive_health
      ? new OutlierDetector(list.length, {
          consecutiveFailures: c.passive_health.consecutive_failures,
          baseEjectionMs: c.passive_health.base_ejection_ms,
          maxEjectionMs: c.passive_health.max_ejection_ms,
          // The group applies max_ejected_percent to active and passive outages together; the detector
          // applies it too, so that a target over the cap is not ejected at all. With 100 here it was
          // "ejected" (logged and counted as out of service) while the group kept it in service, and its
          // further failures were ignored until that phantom ejection ended.
          maxEjectedPercent: c.max_ejected_percent,
          onEject: (i, forMs) => {
            this.options.events?.ejected?.(this.list[i]?.label ?? String(i), forMs);
            this.recompute();
          },
          onReturn: (i) => this.options.events?.returned?.(this.list[i]?.label ?? String(i)),
        })
      : undefined;
    this.recompute();
  }

  /** Who is out of service: unhealthy or ejected endpoints, at most max_ejected_percent of them. */
  private recompute(): void {
    const list = this.list;
    const pct = this.options.config.max_ejected_percent;
    // As the outlier detector counts it: a share of the pool, but one target at least from two on.
    let cap = Math.floor((list.length * pct) / 100);
    if (cap === 0 && list.length >= 2 && pct > 0) cap = 1;
    let outCount = 0;
    let next = Infinity;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      let down = e.health !== undefined && !e.health.healthy(0);
      if (this.outlier !== undefined && !this.outlier.available(i)) {
        down = true;
        const until = this.outlier.snapshot(i).ejectedUntil;
        if (until !== null && until < next) next = until;
      }
      this.out[i] = down && outCount < cap ? 1 : 0;
      if (this.out[i] === 1) outCount++;
    }
    this.nextReturnAt = next;
  }

  private createHealthCheck(e: Endpoint): ActiveHealthCheck {
    const h = this.options.config.health_check!;
    return createActiveHealthCheck([{ origin: e.origin, hostHeader: e.hostHeader, dispatcher: e.pool }], {
      path: h.path,
      intervalMs: h.interval_ms,
      timeoutMs: h.timeout_ms,
      healthyAfter: h.healthy_after,
      unhealthyAfter: h.unhealthy_after,
      isExpectedStatus: expectedStatuses(h.expected_statuses),
      method: h.method,
      ...(h.headers ? { headers: h.headers } : {}),
      onChange: (_i, healthy, reason) => {
        this.options.events?.health?.(e.label, healthy, reason);
        this.recompute();
      },
    });
  }

  private createBreaker(target: string): CircuitBreaker {
    const b = this.options.config.circuit_breaker!;
    return new CircuitBreaker({
      failureRatio: b.failure_ratio,
      minRequests: b.min_requests,
      windowMs: b.window_ms,
      ...(b.consecutive_failures !== undefined ? { consecutiveFailures: b.consecutive_failures } : {}),
      openMs: b.open_ms,
      halfOpenRequests: b.half_open_requests,
      ...(this.options.breakerClock ?? {}),
      onTransition: (from, to, reason) => this.options.events?.circuit?.(target, from, to, reason),
    });
  }
}

function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())] = snakeKeys(v);
  return out;
}

function retrySettings(r: NonNullable<UpstreamConfig['retries']>): RetrySettings {
  return {
    attempts: r.attempts,
    backoffMs: r.backoff_ms,
    maxBackoffMs: Math.max(r.max_backoff_ms, r.backoff_ms),
    perTryTimeoutMs: r.per_try_timeout_ms,
    onConnectFailure: r.on.includes('connect-failure'),
    onReset: r.on.includes('reset'),
    onTimeout: r.on.includes('timeout'),
    on5xx: r.on.includes('5xx'),
    statuses: new Set(r.statuses),
    bufferBodyBytes: r.buffer_body_bytes,
    budget: new RetryBudget({ ratio: r.budget_ratio, minPerSecond: r.budget_min_per_second }),
  };
}

/** Stops an endpoint's probes and breaker timer, and closes its pool once its requests are done. */
async function retire(e: Endpoint): Promise<void> {
  e.breaker?.close();
  await e.health?.stop();
  await e.pool.close();
}
