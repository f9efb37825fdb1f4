// What an upstream group's events become: metrics (upstream-metrics.ts) and gateway event-log lines — a
// circuit opening, a target failing its health checks or being ejected, panic mode, a host name resolving
// differently. Repetitive events (panic, resolver errors) are logged at most every 10 s.
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics.js';
import type { UpstreamEvents } from '../proxy/upstream-group.js';

const QUIET_MS = 10_000;

export function upstreamEvents(
  upstream: string,
  metrics: GatewayMetrics | undefined,
  log: Logger | undefined,
): UpstreamEvents {
  const m = metrics?.upstream(upstream);
  let panicLoggedAt = -Infinity;
  let panics = 0;
  let resolveLoggedAt = -Infinity;
  return {
    circuit(target, from, to, reason) {
      m?.circuit(target, to);
      const fields = { event: 'circuit_' + to, upstream, target, from, to, reason };
      if (to === 'open') log?.warn(fields, `circuit of upstream ${upstream} opened (${reason})`);
      else log?.info(fields, `circuit of upstream ${upstream} is ${to.replace('_', '-')} (${reason})`);
    },
    health(target, healthy, reason) {
      m?.health(target, healthy);
      const fields = { event: healthy ? 'target_healthy' : 'target_unhealthy', upstream, target, reason };
      if (healthy) log?.info(fields, `${target} of upstream ${upstream} passes its health checks again`);
      else log?.warn(fields, `${target} of upstream ${upstream} fails its health checks (${reason})`);
    },
    ejected(target, forMs) {
      m?.ejected(target);
      log?.warn(
        { event: 'target_ejected', upstream, target, ejected_ms: forMs },
        `${target} of upstream ${upstream} failed repeatedly: out of service for ${forMs} ms`,
      );
    },
    returned(target) {
      log?.info(
        { event: 'target_returned', upstream, target },
        `${target} of upstream ${upstream} is back in service`,
      );
    },
    panic() {
      m?.panic();
      const now = performance.now();
      if (now - panicLoggedAt < QUIET_MS) {
        panics++;
        return;
      }
      log?.warn(
        { event: 'upstream_panic', upstream, suppressed: panics },
        `no target of upstream ${upstream} is in service: trying them anyway (panic mode)`,
      );
      panicLoggedAt = now;
      panics = 0;
    },
    retried: () => m?.retried(),
    budgetExhausted: () => m?.budgetExhausted(),
    resolved(target, addresses, error) {
      if (error === undefined) {
        log?.info(
          { event: 'upstream_resolved', upstream, target, addresses },
          `${target} of upstream ${upstream} resolves to ${addresses.join(', ')}`,
        );
        return;
      }
      const now = performance.now();
      if (now - resolveLoggedAt < QUIET_MS) return;
      resolveLoggedAt = now;
      log?.warn(
        { event: 'upstream_resolve_failed', upstream, target, error, keeping: addresses },
        `could not resolve ${target} of upstream ${upstream}; keeping the addresses it had`,
      );
    },
  };
}
