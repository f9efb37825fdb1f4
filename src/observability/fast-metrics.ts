// Counters and histograms for the request path. prom-client's labelled children hash their label set on
// every inc()/observe(); these keep one series object per label set, resolved once, so recording a request
// is a few number updates. They plug into a prom-client Registry (same exposition, same /metrics).
import type { Metric, Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

interface MetricValue {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}

/** One counter series: increment `value` directly. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(n = 1): void {
    this.value += n;
  }
}

/** One histogram series: cumulative buckets are computed at scrape time. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

abstract class SeriesMetric<S extends { labels: Labels }> {
  protected readonly byLabels = new Map<string, S>();
  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }
  protected seriesFor(labels: Labels, make: () => S): S {
    const key = Object.values(labels).join('\u0000');
    let s = this.byLabels.get(key);
    if (s === undefined) this.byLabels.set(key, (s = make()));
    return s;
  }
  reset(): void {
    this.byLabels.clear();
  }
  abstract readonly type: string;
  abstract get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] };
}

export class FastCounter extends SeriesMetric<CounterSeries> {
  readonly type = 'counter';
  /** The series for these labels (keep it: incrementing it costs nothing more). */
  series(labels: Labels): CounterSeries {
    return this.seriesFor(labels, () => new CounterSeries(labels));
  }
  get() {
    const values = [...this.byLabels.values()].map((s) => ({ value: s.value, labels: s.labels }));
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}

export class FastHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = 'histogram';
  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, registry);
  }
  series(labels: Labels): HistogramSeries {
    return this.seriesFor(labels, () => new HistogramSeries(labels, this.bounds));
  }
  get() {
    const values: MetricValue[] = [];
    for (const s of this.byLabels.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}
