// OpenTelemetry span export. The request path does no tracing work of its own beyond the ids the
// request-id policy already makes: when a sampled exchange completes, its server span (the gateway's
// handling) and client span (the upstream call) are built from the exchange's timings in one go and handed
// to the SDK's batch processor, which exports them over OTLP/HTTP (JSON) off the request path. Unsampled
// requests never touch the SDK.
import { Throttle } from '../lib/throttle.js';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  createTraceState,
  trace,
  type Attributes,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  TracerProvider,
  type IdGenerator,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { GatewaySection } from '../config/gateway-schema.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { TraceSink } from '../pipeline/trace-sink.js';
import type { Logger } from './logger.js';
import { newSpanId, newTraceId } from '../pipeline/trace-ids.js';

export type TracingConfig = NonNullable<GatewaySection['tracing']>;

/** Counts exported and failed spans (portico_tracing_spans_total). */
export interface TracingStats {
  spansExported(count: number): void;
  spansFailed(count: number): void;
}

export interface TraceExporter extends TraceSink {
  /** Exports what is queued now. */
  flush(): Promise<void>;
  /** Exports what is queued and stops (the last snapshot using this exporter has drained). */
  shutdown(): Promise<void>;
}

export interface TraceExporterDeps {
  readonly logger?: Logger | undefined;
  readonly stats?: TracingStats | undefined;
  readonly version?: string;
}

/**
 * The SDK draws span (and root trace) ids from its IdGenerator. The spans are built after the fact, with the
 * ids already sent upstream and to the client, so the generator hands out those preset ids.
 */
class PresetIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId(): string {
    const id = this.traceId === '' ? newTraceId() : this.traceId;
    this.traceId = '';
    return id;
  }
  generateSpanId(): string {
    const id = this.spanId === '' ? newSpanId() : this.spanId;
    this.spanId = '';
    return id;
  }
}

/** A failed export is logged at most this often (with the number of failures since the last line). */
const FAILURE_LOG_INTERVAL_MS = 60_000;

export function createTraceExporter(cfg: TracingConfig, deps: TraceExporterDeps = {}): TraceExporter {
  const otlp = new OTLPTraceExporter({
    url: cfg.otlp_endpoint,
    headers: { ...cfg.headers },
    timeoutMillis: cfg.timeout_ms,
  });
  const failureLog = new Throttle(FAILURE_LOG_INTERVAL_MS);
  const exporter: SpanExporter = {
    export(spans, done) {
      otlp.export(spans, (result) => {
        if (result.code === 0) deps.stats?.spansExported(spans.length);
        else {
          deps.stats?.spansFailed(spans.length);
          const held = failureLog.pass();
          if (held >= 0) {
            deps.logger?.warn(
              {
                event: 'trace_export_failed',
                endpoint: cfg.otlp_endpoint,
                failures: held + 1,
                spans: spans.length,
                error: result.error?.message,
              },
              'exporting spans to the OTLP endpoint failed; spans of this batch are dropped',
            );
          }
        }
        done(result);
      });
    },
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  const ids = new PresetIds();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': cfg.service_name,
      ...(deps.version === undefined ? {} : { 'service.version': deps.version }),
      ...cfg.resource_attributes,
    }),
    sampler: new AlwaysOnSampler(),
    idGenerator: ids,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: cfg.max_queue_size,
        maxExportBatchSize: Math.min(cfg.max_batch_size, cfg.max_queue_size),
        scheduledDelayMillis: cfg.flush_interval_ms,
        exportTimeoutMillis: cfg.timeout_ms,
      }),
    ],
  });
  const tracer = provider.getTracer('portico', deps.version);
  // Head sampling on the trace id, as TraceIdRatioBased does, so every gateway of a fleet decides alike.
  const threshold = Math.floor(cfg.sample_ratio * 0x1_0000_0000);
  const sampleNew =
    cfg.sample_ratio >= 1
      ? () => true
      : cfg.sample_ratio <= 0
        ? () => false
        : (w3cTraceId: string) => parseInt(w3cTraceId.slice(24), 16) < threshold;

  return {
    parentBased: cfg.parent_based,
    sampleNew,
    record(ex: Exchange): void {
      try {
        recordSpans(ex, tracer, ids);
      } catch (err) {
        deps.logger?.error({ event: 'internal_error', trace_id: ex.traceId, err }, 'recording spans failed');
      }
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

type Tracer = ReturnType<TracerProvider['getTracer']>;

/**
 * performance.now() milliseconds as wall-clock [seconds, nanoseconds], with one clock offset for all the
 * times of a record: the SDK would take a fresh Date.now() offset per span (1 ms resolution), which can
 * place a child's end after its parent's.
 */
function hrTime(perfMs: number, offsetMs: number): [number, number] {
  const ms = perfMs + offsetMs;
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1_000_000));
  return [seconds, nanos];
}

function recordSpans(ex: Exchange, tracer: Tracer, ids: PresetIds): void {
  const end = performance.now();
  const offset = Date.now() - end;
  const tracestate = ex.req.headers['tracestate'];
  let parent = ROOT_CONTEXT;
  if (ex.parentSpanId !== '') {
    parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: ex.w3cTraceId,
      spanId: ex.parentSpanId,
      traceFlags: parseInt(ex.traceFlags, 16),
      isRemote: true,
      ...(typeof tracestate === 'string' && tracestate !== ''
        ? { traceState: createTraceState(tracestate) }
        : {}),
    });
  }
  const attributes: Attributes = {
    'http.request.method': ex.method,
    'url.path': ex.path,
    'url.scheme': ex.protocol,
    'server.address': ex.host,
    'client.address': ex.clientIp,
    'network.protocol.version': ex.req.httpVersion,
    'http.response.status_code': ex.status,
  };
  const ua = ex.req.headers['user-agent'];
  if (ua !== undefined) attributes['user_agent.original'] = ua;
  if (ex.routeName !== '') attributes['portico.route'] = ex.routeName;
  if (ex.problem !== undefined) attributes['portico.problem'] = ex.problem;
  if (ex.status >= 500) attributes['error.type'] = ex.problem ?? String(ex.status);
  if (!ex.res.writableFinished) attributes['portico.aborted'] = true;

  ids.traceId = ex.w3cTraceId;
  ids.spanId = ex.spanId;
  const server = tracer.startSpan(
    ex.routeName === '' ? ex.method : `${ex.method} ${ex.routeName}`,
    { kind: SpanKind.SERVER, startTime: hrTime(ex.startedAt, offset), attributes },
    parent,
  );
  if (ex.status >= 500) server.setStatus({ code: SpanStatusCode.ERROR });

  if (ex.upstreamSentAt >= 0 && ex.upstreamSpanId !== '') {
    const call: Attributes = { 'http.request.method': ex.method, 'portico.upstream': ex.upstreamTarget };
    const target = parseOrigin(ex.upstreamTarget);
    if (target) {
      call['server.address'] = target.host;
      call['server.port'] = target.port;
    }
    if (ex.upstreamStatus > 0) {
      call['http.response.status_code'] = ex.upstreamStatus;
      if (ex.upstreamStatus >= 400) call['error.type'] = String(ex.upstreamStatus);
    } else {
      // The upstream never answered: the problem the client got names why (timeout, refused, reset).
      call['error.type'] = ex.problem ?? 'no-response';
    }
    ids.spanId = ex.upstreamSpanId;
    const client = tracer.startSpan(
      ex.method,
      { kind: SpanKind.CLIENT, startTime: hrTime(ex.upstreamSentAt, offset), attributes: call },
      trace.setSpan(ROOT_CONTEXT, server),
    );
    if (ex.upstreamStatus === 0 || ex.upstreamStatus >= 400) client.setStatus({ code: SpanStatusCode.ERROR });
    client.end(hrTime(ex.upstreamEndedAt >= 0 ? ex.upstreamEndedAt : end, offset));
  }
  server.end(hrTime(end, offset));
}

const origins = new Map<string, { host: string; port: number } | null>();

/** host and port of an upstream origin, parsed once per origin. */
function parseOrigin(origin: string): { host: string; port: number } | undefined {
  let parsed = origins.get(origin);
  if (parsed === undefined) {
    try {
      const u = new URL(origin);
      parsed = {
        host: u.hostname,
        port: u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
      };
    } catch {
      parsed = null;
    }
    if (origins.size < 1024) origins.set(origin, parsed);
  }
  return parsed ?? undefined;
}
