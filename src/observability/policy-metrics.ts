// The metrics service a policy gets from its compile context: counters, histograms and gauges whose names
// all start `portico_<policy>_`, in the process-wide registry. A metric declared again (by the next route,
// or the next reload) is the same metric, so its series survive reloads. Label sets are bounded: each
// metric has its declared label names, and past MAX_SERIES distinct label sets the rest share one series
// whose every label is "(other)", so no client value can grow the scrape without limit.
import { Gauge, type Registry } from 'prom-client';
import type {
  CounterSeries,
  HistogramSeries,
  MetricFamily,
  MetricLabels,
  PolicyMetrics,
} from '../pipeline/policy.js';
import { FastCounter, FastHistogram } from './fast-metrics.js';

/** Distinct label sets one policy metric may have; beyond it they are counted as "(other)". */
const MAX_SERIES = 10_000;
const OTHER = '(other)';

interface Declared {
  readonly kind: 'counter' | 'histogram' | 'gauge';
  readonly labels: readonly string[];
  /** Counters: a MetricFamily<CounterSeries>; histograms: a MetricFamily<HistogramSeries>. */
  readonly family: unknown;
  /** Gauges: what the latest declaration reads at scrape time. */
  read?: () => Iterable<readonly [MetricLabels, number]>;
}

/** Metric declarations by full name, per registry (one registry per process). */
const declaredIn = new WeakMap<Registry, Map<string, Declared>>();

/** The metrics service of policy `policy` (its config key, e.g. "rate_limit") on `registry`. */
export function createPolicyMetrics(registry: Registry, policy: string): PolicyMetrics {
  let declared = declaredIn.get(registry);
  if (declared === undefined) declaredIn.set(registry, (declared = new Map()));
  const known = declared;
  const prefix = `portico_${policy}_`;

  function declare(
    kind: Declared['kind'],
    name: string,
    labels: readonly string[],
    make: (full: string) => Declared,
  ): Declared {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new TypeError(`metric name "${name}": lowercase, digits, _`);
    const full = prefix + name;
    const existing = known.get(full);
    if (existing !== undefined) {
      if (existing.kind !== kind || existing.labels.join() !== labels.join())
        throw new TypeError(`metric ${full} is already declared as a ${existing.kind} (${existing.labels})`);
      return existing;
    }
    const d = make(full);
    known.set(full, d);
    return d;
  }

  return {
    enabled: true,
    counter(name, help, labels) {
      return declare('counter', name, labels, (full) => {
        const metric = new FastCounter(full, help, registry);
        return { kind: 'counter', labels, family: bounded(full, labels, (l) => metric.series(l)) };
      }).family as MetricFamily<CounterSeries>;
    },
    histogram(name, help, labels, buckets) {
      return declare('histogram', name, labels, (full) => {
        const metric = new FastHistogram(full, help, registry, buckets);
        return { kind: 'histogram', labels, family: bounded(full, labels, (l) => metric.series(l)) };
      }).family as MetricFamily<HistogramSeries>;
    },
    gauge(name, help, labels, read) {
      const d = declare('gauge', name, labels, (full) => {
        const entry: Declared = { kind: 'gauge', labels, family: undefined, read };
        new Gauge({
          name: full,
          help,
          labelNames: labels,
          registers: [registry],
          collect() {
            this.reset();
            for (const [l, value] of entry.read?.() ?? []) this.set(l, value);
          },
        });
        return entry;
      });
      d.read = read;
    },
  };
}

/** At most MAX_SERIES series made by `seriesOf`; label names are checked against the declaration. */
function bounded<S>(
  full: string,
  names: readonly string[],
  seriesOf: (labels: MetricLabels) => S,
): MetricFamily<S> {
  const byKey = new Map<string, S>();
  let other: S | undefined;
  return {
    series(labels) {
      const keys = Object.keys(labels);
      if (keys.length !== names.length || names.some((n) => !(n in labels)))
        throw new TypeError(`metric ${full} has labels ${names.join(', ')}; given ${keys.join(', ')}`);
      const key = names.map((n) => labels[n]).join('\u0000');
      let s = byKey.get(key);
      if (s !== undefined) return s;
      if (byKey.size >= MAX_SERIES)
        return (other ??= seriesOf(Object.fromEntries(names.map((n) => [n, OTHER]))));
      byKey.set(key, (s = seriesOf(labels)));
      return s;
    },
  };
}
