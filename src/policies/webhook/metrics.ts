// Metrics of the webhook and callbacks policies (`portico_webhook_*`, `portico_callbacks_*`): events
// received, refused by reason, delivery outcomes, delivery latency, and the queue depth read from the store.
// Series are resolved once per route and outcome and kept.
import type { CompileContext, CounterSeries, HistogramSeries } from '../../pipeline/policy.js';
import type { DepthRow } from './store/event-store.js';

export const DELIVERY_RESULTS = ['delivered', 'retried', 'dead_lettered'] as const;
export type DeliveryResult = (typeof DELIVERY_RESULTS)[number];

/** Why an event was not accepted (the sender was told 401, 413 or 503). */
export const REFUSALS = [
  'missing',
  'malformed',
  'mismatch',
  'stale',
  'future',
  'too_large',
  'store_unavailable',
  'forbidden',
] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface WebhookMetrics {
  /** A delivery outcome of the store route `route`. */
  count(route: string, result: DeliveryResult): void;
  latency(route: string): HistogramSeries;
  accepted(route: string, duplicate: boolean): void;
  refused(route: string, reason: Refusal): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics of one policy (names carry its own prefix) and the depth gauge over `depth()`. */
export function webhookMetrics(ctx: CompileContext, depth: () => readonly DepthRow[]): WebhookMetrics {
  const m = ctx.metrics;
  const received = m.counter('events_received_total', 'Events accepted and stored, by route.', ['route']);
  const duplicates = m.counter(
    'duplicates_total',
    'Events acknowledged without storing: their id was seen within the retention.',
    ['route'],
  );
  const refusedFamily = m.counter(
    'rejected_total',
    'Events refused, by route and reason (missing, malformed, mismatch, stale, future: the signature; ' +
      'too_large; store_unavailable: answered 503; forbidden: a callback from outside).',
    ['route', 'reason'],
  );
  const deliveries = m.counter(
    'deliveries_total',
    'Delivery attempts by outcome: delivered, retried (failed, tried again later), dead_lettered (failed last).',
    ['route', 'result'],
  );
  const latencyFamily = m.histogram(
    'delivery_duration_seconds',
    'Time of each delivery attempt, until the answer was read.',
    ['route'],
    LATENCY_BUCKETS,
  );
  m.gauge(
    'queue_depth',
    'Events in the store by route and state (pending, delivering, delivered, dead).',
    ['route', 'state'],
    () => depth().map((r) => [{ route: r.route, state: r.state }, r.count] as const),
  );
  const memo = new Map<string, CounterSeries | HistogramSeries>();
  const series = <S extends CounterSeries | HistogramSeries>(key: string, make: () => S): S => {
    let s = memo.get(key) as S | undefined;
    if (s === undefined) memo.set(key, (s = make()));
    return s;
  };
  return {
    count: (route, result) =>
      series(`d:${route}:${result}`, () => deliveries.series({ route, result })).inc(),
    latency: (route) => series(`l:${route}`, () => latencyFamily.series({ route })),
    accepted: (route, duplicate) =>
      duplicate
        ? series(`u:${route}`, () => duplicates.series({ route })).inc()
        : series(`a:${route}`, () => received.series({ route })).inc(),
    refused: (route, reason) =>
      series(`r:${route}:${reason}`, () => refusedFamily.series({ route, reason })).inc(),
  };
}
