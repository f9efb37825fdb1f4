// Metrics of upstream groups: circuit breaker states and transitions (the names the dashboard and alerts
// already use), target health, ejections, retries, exhausted retry budgets and panic mode. Labels are the
// upstream's name and its targets as configured — bounded by the config, never by requests.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CircuitState } from '../proxy/resilience/circuit-breaker.js';

export interface UpstreamMetrics {
  circuit(target: string, to: CircuitState): void;
  health(target: string, healthy: boolean): void;
  ejected(target: string): void;
  retried(): void;
  budgetExhausted(): void;
  panic(): void;
}

export interface UpstreamMetricSet {
  /** One upstream's recorder. */
  forUpstream(upstream: string): UpstreamMetrics;
}

const STATES: readonly CircuitState[] = ['closed', 'open', 'half_open'];

export function createUpstreamMetrics(registry: Registry): UpstreamMetricSet {
  const state = new Gauge({
    name: 'portico_circuit_state',
    help: 'Circuit breaker state: 1 for the current one of closed, open, half_open (target "(all)" for a breaker per upstream).',
    labelNames: ['upstream', 'target', 'state'] as const,
    registers: [registry],
    // Over several worker processes (each with its own breakers): 1 when any one is in that state.
    aggregator: 'max',
  });
  const transitions = new Counter({
    name: 'portico_circuit_transitions_total',
    help: 'Circuit breaker state changes, by the state entered.',
    labelNames: ['upstream', 'target', 'to'] as const,
    registers: [registry],
  });
  const healthy = new Gauge({
    name: 'portico_upstream_target_healthy',
    help: 'Active health checks: 1 while a target passes them, 0 while it fails them.',
    labelNames: ['upstream', 'target'] as const,
    registers: [registry],
    // Over several worker processes (each checks on its own): 1 only while every one sees it healthy.
    aggregator: 'min',
  });
  const ejections = new Counter({
    name: 'portico_upstream_ejections_total',
    help: 'Targets taken out of service by passive health (consecutive failures).',
    labelNames: ['upstream', 'target'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'portico_upstream_retries_total',
    help: 'Retries of failed tries, by upstream.',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
  const exhausted = new Counter({
    name: 'portico_upstream_retry_budget_exhausted_total',
    help: 'Retries not made because the retry budget was spent, by upstream.',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
  const panics = new Counter({
    name: 'portico_upstream_panic_total',
    help: 'Requests sent to an out-of-service target because no target was in service (panic mode).',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
  function forUpstream(upstream: string): UpstreamMetrics {
    const retried = retries.labels({ upstream });
    const spent = exhausted.labels({ upstream });
    const panic = panics.labels({ upstream });
    retried.inc(0);
    return {
      circuit(target, to) {
        for (const s of STATES) state.set({ upstream, target, state: s }, s === to ? 1 : 0);
        transitions.inc({ upstream, target, to });
      },
      health: (target, ok) => healthy.set({ upstream, target }, ok ? 1 : 0),
      ejected: (target) => ejections.inc({ upstream, target }),
      retried: () => retried.inc(),
      budgetExhausted: () => spent.inc(),
      panic: () => panic.inc(),
    };
  }
  return { forUpstream };
}
