// /metrics of a multi-process gateway: every worker's registry (as JSON) summed into one exposition by
// prom-client's aggregator — requests, durations and policy counters add up; gauges say how they combine
// (the config hash and circuit states by max, target health by min) — while the process and Node.js metrics
// of each worker (and of the primary) keep their own series, labelled `worker`.
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { collectProcessMetrics } from '../observability/metrics.js';

export interface PrimaryMetrics {
  readonly registry: Registry;
  /** A dead worker was replaced. */
  restarted(): void;
}

export function createPrimaryMetrics(readyWorkers: () => number): PrimaryMetrics {
  const registry = new Registry();
  collectProcessMetrics(registry);
  const restarts = new Counter({
    name: 'portico_worker_restarts_total',
    help: 'Worker processes replaced after they exited unexpectedly.',
    registers: [registry],
  });
  new Gauge({
    name: 'portico_workers_ready',
    help: 'Worker processes serving the listeners right now.',
    registers: [registry],
    collect() {
      this.set(readyWorkers());
    },
  });
  return { registry, restarted: () => restarts.inc() };
}

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Metrics of the process itself (prom-client's default metrics): one series set per worker. */
function perProcess(name: string): boolean {
  return name.startsWith('process_') || name.startsWith('nodejs_');
}

function labelled(metrics: MetricsJson, worker: string): MetricsJson {
  return metrics.map((m) =>
    perProcess(m.name)
      ? { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) }
      : m,
  );
}

/** One exposition: the workers' metrics (JSON, by worker id) and the primary's own. */
export async function clusterMetrics(
  primary: Registry,
  workers: readonly (readonly [number, unknown])[],
): Promise<{ text: string; contentType: string }> {
  const all = [labelled(await primary.getMetricsAsJSON(), 'primary')];
  for (const [id, json] of workers) all.push(labelled(json as MetricsJson, String(id)));
  const merged = AggregatorRegistry.aggregate(all);
  return { text: await merged.metrics(), contentType: merged.contentType };
}
