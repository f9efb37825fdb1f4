// Active health checking: probes each upstream target's health endpoint through its own dispatcher on a
// timer and flips it healthy or unhealthy after consecutive results, so balancing can route around it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { probeTarget, type ProbeResult, type ProbeSpec } from './probe-target.js';

export { expectedStatuses } from './expected-statuses.js';

/** One upstream target to probe. */
export interface HealthCheckTarget {
  /** e.g. "http://127.0.0.1:8080" — also used in logs */
  readonly origin: string;
  /** Host header to send */
  readonly hostHeader: string;
  /** Where to send the probe: the target's own undici dispatcher (a Pool) so probes reuse its connections and TLS settings. */
  readonly dispatcher: Dispatcher;
}

/** How and how often targets are probed, and who hears about it. */
export interface ActiveHealthCheckOptions {
  /** e.g. /healthz (may include a query) */
  readonly path: string;
  readonly intervalMs: number;
  /** Whole probe: connect + headers + body (body is read and discarded, max 64 KiB, then the connection is dropped if larger). */
  readonly timeoutMs: number;
  /** Consecutive successes to mark an unhealthy target healthy. */
  readonly healthyAfter: number;
  /** Consecutive failures to mark a healthy target unhealthy. */
  readonly unhealthyAfter: number;
  readonly isExpectedStatus: (status: number) => boolean;
  /** Default GET. */
  readonly method?: 'GET' | 'HEAD';
  /** Sent with every probe; a `host` entry (any case) overrides the target's Host header. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Called when a target's health flips (index into the targets array). */
  readonly onChange?: (index: number, healthy: boolean, reason: string) => void;
  /** Called after every probe (metrics/debugging); not for probes cut short by stop(). */
  readonly onProbe?: (index: number, ok: boolean, detail: string, durationMs: number) => void;
}

/** A target's health and what its last probe found. */
export interface HealthSnapshot {
  readonly healthy: boolean;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  /** Date.now() when the last probe ended. */
  readonly lastCheckedAt: number | null;
  /** Why the last probe failed; null once a probe succeeds. */
  readonly lastError: string | null;
  /** Status of the last probe; null when it got no response. */
  readonly lastStatus: number | null;
}

export interface ActiveHealthCheck {
  /** Starts probing: every target right away, then every intervalMs (each target on its own timer, spread with a small random jitter ≤ 10% so a fleet does not probe in lockstep). Timers are unref()'d. Idempotent. */
  start(): void;
  /** Stops all timers and aborts probes in flight; resolves when nothing is left running. Idempotent. */
  stop(): Promise<void>;
  /** Current view: healthy per target. Targets start healthy (so traffic flows before the first probe completes) */
  healthy(index: number): boolean;
  snapshot(index: number): HealthSnapshot;
}

/** Share of the interval taken off at random before each next probe. */
const JITTER = 0.1;

type MutableSnapshot = { -readonly [K in keyof HealthSnapshot]: HealthSnapshot[K] };

/**
 * Builds a checker for `targets`; nothing runs until start(). Throws on invalid options. The next probe of
 * a target is scheduled when its previous one has ended, so a target never has two probes in flight.
 */
export function createActiveHealthCheck(
  targets: readonly HealthCheckTarget[],
  options: ActiveHealthCheckOptions,
): ActiveHealthCheck {
  checkOptions(options);
  const specs = targets.map((target) => compileSpec(target, options));
  const states: MutableSnapshot[] = targets.map(() => ({
    healthy: true,
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
    lastCheckedAt: null,
    lastError: null,
    lastStatus: null,
  }));
  let running: AbortController | null = null;
  /** Settles when every loop of the last run has ended; a new run waits for it. */
  let idle: Promise<void> = Promise.resolve();

  function record(index: number, result: ProbeResult, durationMs: number): void {
    const state = states[index]!;
    const ok = result.outcome === 'ok';
    state.lastCheckedAt = Date.now();
    state.lastStatus = result.status;
    state.lastError = ok ? null : result.detail;
    state.consecutiveSuccesses = ok ? state.consecutiveSuccesses + 1 : 0;
    state.consecutiveFailures = ok ? 0 : state.consecutiveFailures + 1;
    notify(options.onProbe, index, ok, result.detail, durationMs);
    if (state.healthy && state.consecutiveFailures >= options.unhealthyAfter) {
      state.healthy = false;
      const reason = `${state.consecutiveFailures} consecutive failed probes; last: ${result.detail}`;
      notify(options.onChange, index, false, reason);
    } else if (!state.healthy && state.consecutiveSuccesses >= options.healthyAfter) {
      state.healthy = true;
      const reason = `${state.consecutiveSuccesses} consecutive successful probes; last: ${result.detail}`;
      notify(options.onChange, index, true, reason);
    }
  }

  async function probeLoop(index: number, stop: AbortSignal): Promise<void> {
    const target = targets[index]!;
    const spec = specs[index]!;
    while (!stop.aborted) {
      const startedAt = performance.now();
      const probe = probeTarget(target.dispatcher, spec, stop);
      const result = await probe.result;
      if (result.outcome !== 'stopped') record(index, result, performance.now() - startedAt);
      await probe.settled;
      const delay = options.intervalMs * (1 - Math.random() * JITTER);
      try {
        await sleep(delay, undefined, { signal: stop, ref: false });
      } catch {
        return; // aborted by stop()
      }
    }
  }

  return {
    start: function start(): void {
      if (running !== null) return;
      const controller = new AbortController();
      running = controller;
      idle = idle
        .then(() => Promise.allSettled(targets.map((_, index) => probeLoop(index, controller.signal))))
        .then((ends) => {
          // probeLoop catches everything a probe can throw; this only keeps a bug from going unhandled.
          for (const end of ends)
            if (end.status === 'rejected')
              process.emitWarning(`active health check loop ended on an error: ${String(end.reason)}`);
        });
    },
    stop: async function stop(): Promise<void> {
      running?.abort();
      running = null;
      await idle;
    },
    healthy: function healthy(index: number): boolean {
      return stateAt(states, index).healthy;
    },
    snapshot: function snapshot(index: number): HealthSnapshot {
      return { ...stateAt(states, index) };
    },
  };
}

function compileSpec(target: HealthCheckTarget, options: ActiveHealthCheckOptions): ProbeSpec {
  const headers: Record<string, string> = { host: target.hostHeader };
  // Lower-cased so a configured "Host" replaces ours instead of sending two.
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  return {
    origin: target.origin,
    path: options.path,
    method: options.method ?? 'GET',
    headers,
    timeoutMs: options.timeoutMs,
    isExpectedStatus: options.isExpectedStatus,
  };
}

function checkOptions(o: ActiveHealthCheckOptions): void {
  const problems: string[] = [];
  if (typeof o.path !== 'string' || !o.path.startsWith('/')) problems.push('path must start with "/"');
  for (const key of ['intervalMs', 'timeoutMs'] as const)
    if (!(Number.isFinite(o[key]) && o[key] > 0)) problems.push(`${key} must be a positive number`);
  for (const key of ['healthyAfter', 'unhealthyAfter'] as const)
    if (!(Number.isInteger(o[key]) && o[key] >= 1)) problems.push(`${key} must be a whole number ≥ 1`);
  if (o.method !== undefined && o.method !== 'GET' && o.method !== 'HEAD')
    problems.push('method must be GET or HEAD');
  if (problems.length > 0) throw new Error(`active health check: ${problems.join('; ')}`);
}

function stateAt(states: readonly MutableSnapshot[], index: number): MutableSnapshot {
  const state = states[index];
  if (state === undefined) throw new RangeError(`no health check target at index ${index}`);
  return state;
}

/** Calls a listener; one that throws must not stop health checking, so its error becomes a warning. */
function notify<A extends unknown[]>(listener: ((...args: A) => void) | undefined, ...args: A): void {
  if (listener === undefined) return;
  try {
    listener(...args);
  } catch (err) {
    process.emitWarning(`active health check listener threw: ${String(err)}`);
  }
}
