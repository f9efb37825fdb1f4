// Prometheus metrics through prom-client: one registry per process, shared by every snapshot. Labels are
// route names, methods from a fixed list and status classes — never raw paths or client values — so the
// number of series is bounded by the config. Per-route label children are resolved once, not per request.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram, type CounterSeries } from './fast-metrics.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { TracingStats } from './tracing.js';
import { createUpstreamMetrics, type UpstreamMetrics } from './upstream-metrics.js';
import { createPolicyMetrics } from './policy-metrics.js';
import type { PolicyMetrics } from '../pipeline/policy.js';

/** Request duration buckets in seconds: 1 ms to 30 s. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Gateway-added time is small: 50 µs to 250 ms. */
const OVERHEAD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25];

const METHOD_LIST = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'OTHER'];

/** Index in METHOD_LIST; anything unlisted is OTHER. */
function methodIndex(method: string): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'PATCH':
      return 4;
    case 'DELETE':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'TRACE':
      return 7;
    default:
      return 8;
  }
}
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
/** Label value for the consumers beyond the per-consumer counter's limit. */
export const OTHER_CONSUMER = '(other)';
/** Label value for requests no route matched. */
const NO_ROUTE = '(none)';

/**
 * Upstream failure kinds, from the problem the proxy reported (or a 5xx the upstream sent) — whatever the
 * client got instead: a route's fallback keeps the problem it replaced (`ex.problem`), so an upstream hidden
 * behind a fallback still counts here (and PorticoUpstreamErrors still sees it).
 */
const UPSTREAM_ERROR_KIND: Readonly<Record<string, string>> = {
  'upstream-timeout': 'timeout',
  'upstream-unavailable': 'refused',
  'bad-gateway': 'reset',
  'circuit-open': 'circuit_open',
};

export interface GatewayMetrics {
  readonly registry: Registry;
  /** The completion hook that records one route's requests (built once per route per snapshot). */
  routeRecorder(routeName: string): (ex: Exchange) => void;
  /** A config reload finished. */
  reloaded(result: 'ok' | 'failed', hash?: string): void;
  /** The config now serving. */
  configLoaded(hash: string): void;
  /** Span export outcomes (portico_tracing_spans_total). */
  readonly tracing: TracingStats;
  /**
   * The opt-in per-consumer request counter (`gateway.metrics.per_consumer`): a completion hook counting
   * requests by consumer id and status class. At most `limit` consumers get their own series; the others
   * are counted together under consumer="(other)", so a flood of identities cannot grow the scrape.
   */
  consumerRecorder(limit: number): (ex: Exchange) => void;
  /** Circuit, health, ejection and retry metrics of one upstream (created once per name). */
  upstream(name: string): UpstreamMetrics;
  /** The metrics service of one policy (names `portico_<policy>_*`), for its compile context. */
  forPolicy(policy: string): PolicyMetrics;
}

/** prom-client's process and Node.js metrics, in `registry` (a worker's, a primary's). */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters fail `promtool check metrics`; their per-type twins
  // (nodejs_active_handles{type=...} and so on) carry the same information.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ])
    registry.removeSingleMetric(name);
}

export function createGatewayMetrics(opts: {
  inflight: () => number;
  defaultMetrics?: boolean;
}): GatewayMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectProcessMetrics(registry);
  const requests = new FastCounter(
    'portico_requests_total',
    'Requests answered, by route, method and status class.',
    registry,
  );
  const duration = new FastHistogram(
    'portico_request_duration_seconds',
    'Time from request arrival to the end of the response, by route.',
    registry,
    DURATION_BUCKETS,
  );
  const upstreamDuration = new FastHistogram(
    'portico_upstream_duration_seconds',
    'Time from sending the request upstream to its response headers, by route.',
    registry,
    DURATION_BUCKETS,
  );
  const gatewayDuration = new FastHistogram(
    'portico_gateway_duration_seconds',
    'Time the gateway added: total minus the upstream wait, by route.',
    registry,
    OVERHEAD_BUCKETS,
  );
  const upstreamErrors = new FastCounter(
    'portico_upstream_errors_total',
    'Upstream failures by route and kind (timeout, refused, reset, 5xx, circuit_open).',
    registry,
  );
  new Gauge({
    name: 'portico_requests_in_flight',
    help: 'Requests being handled right now.',
    registers: [registry],
    collect() {
      this.set(opts.inflight());
    },
  });
  const reloads = new Counter({
    name: 'portico_config_reloads_total',
    help: 'Config reloads by result (ok, failed).',
    labelNames: ['result'] as const,
    // Every worker process reloads once per reload: over several, the count is any one's, not their sum.
    aggregator: 'max',
    registers: [registry],
  });
  const configInfo = new Gauge({
    name: 'portico_config_info',
    help: 'The config serving now: 1 for its hash (first 12 hex digits of its sha256).',
    labelNames: ['hash'] as const,
    aggregator: 'max',
    registers: [registry],
  });
  reloads.inc({ result: 'ok' }, 0);
  reloads.inc({ result: 'failed' }, 0);
  const spans = new FastCounter(
    'portico_tracing_spans_total',
    'Spans handed to the OTLP exporter, by result (exported, failed).',
    registry,
  );
  const spansExported = spans.series({ result: 'exported' });
  const spansFailed = spans.series({ result: 'failed' });
  const upstreamMetrics = createUpstreamMetrics(registry);
  const upstreams = new Map<string, UpstreamMetrics>();
  let consumerSeries: Map<string, CounterSeries> | undefined;
  const consumersSeen = new Set<string>();
  const consumerRequests = new FastCounter(
    'portico_consumer_requests_total',
    'Requests by authenticated consumer and status class (opt-in, capped: the rest are consumer="(other)").',
    registry,
  );

  return {
    registry,
    routeRecorder(routeName: string) {
      const route = routeName === '' ? NO_ROUTE : routeName;
      const total = duration.series({ route });
      const upstream = upstreamDuration.series({ route });
      const added = gatewayDuration.series({ route });
      // Counter series by method and class, resolved on first use, in a flat table (no key strings).
      const children: (CounterSeries | undefined)[] = new Array<CounterSeries | undefined>(
        METHOD_LIST.length * 6,
      );
      const errorChildren = new Map<string, CounterSeries>();
      return function recordRequest(ex: Exchange): void {
        const m = methodIndex(ex.method);
        const c = Math.floor(ex.status / 100) - 1;
        const cls = c >= 0 && c < 5 ? c : 5;
        const slot = m * 6 + cls;
        let child = children[slot];
        if (child === undefined)
          children[slot] = child = requests.series({
            route,
            method: METHOD_LIST[m]!,
            status_class: STATUS_CLASSES[cls] ?? 'other',
          });
        child.inc();
        const seconds = (performance.now() - ex.startedAt) / 1000;
        total.observe(seconds);
        if (ex.upstreamLatencyMs >= 0) {
          const up = ex.upstreamLatencyMs / 1000;
          upstream.observe(up);
          added.observe(Math.max(0, seconds - up));
        } else {
          added.observe(seconds);
        }
        const kind =
          ex.problem !== undefined
            ? UPSTREAM_ERROR_KIND[ex.problem]
            : ex.upstreamStatus >= 500
              ? '5xx'
              : undefined;
        if (kind !== undefined) {
          let e = errorChildren.get(kind);
          if (e === undefined) errorChildren.set(kind, (e = upstreamErrors.series({ route, kind })));
          e.inc();
        }
      };
    },
    tracing: {
      spansExported: (n) => spansExported.inc(n),
      spansFailed: (n) => spansFailed.inc(n),
    },
    consumerRecorder(limit: number) {
      // One map for the whole process: the cap holds across routes and reloads.
      const seen = (consumerSeries ??= new Map());
      return function recordConsumer(ex: Exchange): void {
        if (ex.consumerId === '') return;
        const cls = STATUS_CLASSES[Math.floor(ex.status / 100) - 1] ?? 'other';
        const key = ex.consumerId + '\u0000' + cls;
        let series = seen.get(key);
        if (series === undefined) {
          const known = consumersSeen.has(ex.consumerId) || consumersSeen.size < limit;
          if (known) consumersSeen.add(ex.consumerId);
          const consumer = known ? ex.consumerId : OTHER_CONSUMER;
          series = consumerRequests.series({ consumer, status_class: cls });
          if (known) seen.set(key, series);
        }
        series.inc();
      };
    },
    upstream(name: string): UpstreamMetrics {
      let m = upstreams.get(name);
      if (m === undefined) upstreams.set(name, (m = upstreamMetrics.forUpstream(name)));
      return m;
    },
    forPolicy: (policy) => createPolicyMetrics(registry, policy),
    reloaded(result, hash) {
      reloads.inc({ result });
      if (hash !== undefined) this.configLoaded(hash);
    },
    configLoaded(hash: string) {
      configInfo.reset();
      configInfo.set({ hash: hash.slice(0, 12) }, 1);
    },
  };
}
