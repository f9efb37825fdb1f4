// The `gateway:` section: listeners, limits, timeouts, logs, metrics, tracing, the admin listener, the
// shared-state store and the trusted proxies — the settings of the gateway process itself.
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../lib/http-token.js';
import { Millis } from './schema-fields.js';

/**
 * The shape of an IP address or CIDR (`10.0.0.0/8`, `fd00::/8`), for editors through the JSON Schema, which
 * knows no `cidr` format. The validator checks the address itself as well (`x-format: cidr`: isCidr).
 */
export const CIDR_SHAPE =
  '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[0-9A-Za-z._~-]+)?)(/[0-9]{1,3})?$';
/** Most worker processes `gateway.workers` may ask for. */
export const MAX_WORKERS = 256;

const LISTEN_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$';

const Listen = Type.String({
  pattern: LISTEN_PATTERN,
  description: 'Address to listen on: ":port" (all interfaces) or "host:port".',
  'x-expected': 'an address like ":8080" or "127.0.0.1:8080"',
});

const Bytes = (description: string, def: number) =>
  Type.Integer({
    minimum: 1,
    description,
    default: def,
    'x-expected': 'a whole number of bytes (1 or more)',
  });

export const ACCESS_LOG_FIELDS = [
  'timestamp',
  'method',
  'path',
  'query',
  'host',
  'route',
  'status',
  'upstream',
  'upstream_status',
  'latency_ms',
  'upstream_latency_ms',
  'trace_id',
  'span_id',
  'client_ip',
  'bytes_sent',
  'bytes_received',
  'user_agent',
  'protocol',
  'consumer',
] as const;
export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

export const DEFAULT_ACCESS_LOG_FIELDS: readonly AccessLogField[] = [
  'timestamp',
  'method',
  'path',
  'route',
  'status',
  'upstream_status',
  'latency_ms',
  'upstream_latency_ms',
  'trace_id',
  'client_ip',
  'consumer',
  'bytes_sent',
];

/** Query parameters that carry credentials often enough to hide by default (OAuth, API keys, signed URLs). */
export const DEFAULT_REDACTED_QUERY_PARAMS: readonly string[] = [
  'access_token',
  'id_token',
  'refresh_token',
  'client_secret',
  'api_key',
  'apikey',
  'key',
  'token',
  'auth',
  'jwt',
  'password',
  'passwd',
  'secret',
  'session',
  'signature',
  'sig',
  'x-amz-signature',
  'x-amz-security-token',
  'x-goog-signature',
];

const LogFile = (description: string) =>
  Type.String({
    minLength: 1,
    description,
    'x-expected': 'a file path such as /var/log/portico/access.log',
  });

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
  { default: 'info', description: 'Level of gateway event logs. Env GATEWAY_LOG_LEVEL overrides.' },
);

export const GatewaySectionSchema = Type.Object(
  {
    listen: Type.Union([Listen, Type.Array(Listen, { minItems: 1 })], {
      default: ':8080',
      description: 'Where the gateway accepts traffic; a list for several addresses.',
    }),
    tracing_header: Type.String({
      pattern: HEADER_NAME_PATTERN,
      'x-expected': 'a header name',
      default: 'X-Trace-Id',
      description:
        'Header carrying the trace id to upstreams and back to clients. Env GATEWAY_TRACE_HEADER overrides.',
    }),
    log_level: LogLevel,
    log_file: Type.Optional(
      LogFile(
        'Append gateway event lines to this file instead of stdout (relative to the config file; reopened on SIGUSR1). Restart to change.',
      ),
    ),
    tracing: Type.Optional(
      Type.Object(
        {
          otlp_endpoint: Type.String({
            pattern: '^https?://[^\\s]+$',
            'x-expected': 'an http:// or https:// URL such as http://otel-collector:4318/v1/traces',
            description: 'OTLP/HTTP traces endpoint (JSON encoding). Setting it turns span export on.',
          }),
          sample_ratio: Type.Number({
            minimum: 0,
            maximum: 1,
            default: 1,
            'x-expected': 'a number from 0 to 1',
            description:
              'Head sampling: share of traces started here (or not following a parent) that are recorded.',
          }),
          parent_based: Type.Boolean({
            default: true,
            description: "Follow the sampled flag of the client's traceparent when there is one.",
          }),
          service_name: Type.String({
            minLength: 1,
            default: 'portico',
            description: 'Resource service.name.',
          }),
          resource_attributes: Type.Record(Type.String({ minLength: 1 }), Type.String(), {
            default: {},
            description: 'Extra resource attributes, e.g. deployment.environment.name: production.',
          }),
          headers: Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String(), {
            default: {},
            description: 'Headers sent to the collector (e.g. an API key; use ${VAR} for secrets).',
          }),
          timeout_ms: Millis('Time one export request may take.', 10_000),
          flush_interval_ms: Millis('Spans are exported at least this often.', 2_000),
          max_batch_size: Type.Integer({
            minimum: 1,
            maximum: 65_536,
            default: 512,
            description: 'Most spans per export request.',
          }),
          max_queue_size: Type.Integer({
            minimum: 1,
            maximum: 1_048_576,
            default: 4_096,
            description: 'Spans waiting for export; beyond this, new spans are dropped.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'OpenTelemetry span export. Absent: trace context is still propagated, nothing is exported.',
        },
      ),
    ),
    access_log: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Write one JSON line per request.' }),
        fields: Type.Array(Type.Union(ACCESS_LOG_FIELDS.map((f) => Type.Literal(f))), {
          default: [...DEFAULT_ACCESS_LOG_FIELDS],
          uniqueItems: true,
          description: 'Fields of each access line, in order. Env GATEWAY_ACCESS_LOG_FIELDS overrides.',
        }),
        sample: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 1,
          'x-expected': 'a number from 0 to 1 (0.1 logs one successful request in ten)',
          description:
            'Share of successful requests (status below 400, not aborted) that get a line. Errors, gateway problems and aborted requests always do.',
        }),
        redact: Type.Array(Type.String({ minLength: 1, 'x-expected': 'a query parameter name' }), {
          default: [...DEFAULT_REDACTED_QUERY_PARAMS],
          description:
            'Query parameters whose values are logged as [redacted] (names in any case). Setting it replaces the default list.',
        }),
        file: Type.Optional(
          LogFile(
            'Append access lines to this file instead of stdout (relative to the config file; reopened on SIGUSR1). Restart to change.',
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Record request metrics (process metrics are always on /metrics).',
        }),
        per_consumer: Type.Boolean({
          default: false,
          description:
            'Count requests per authenticated consumer (portico_consumer_requests_total{consumer,status_class}).',
        }),
        per_consumer_limit: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 1_000,
          description: 'Consumers with their own series; the rest are counted as consumer="(other)".',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Prometheus metrics on the admin listener.' },
    ),
    store: Type.Object(
      {
        type: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
          default: 'memory',
          description:
            'Where rate-limit counts live: memory (this process) or redis (shared by every instance).',
        }),
        url: Type.Optional(
          Type.String({
            pattern: '^rediss?://',
            'x-expected': 'a redis:// or rediss:// URL',
            description: 'The Redis server (type: redis); use ${VAR} for a password.',
          }),
        ),
        cluster: Type.Boolean({ default: false, description: 'The URL names a Redis Cluster node.' }),
        timeout_ms: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 50,
          description: "Longest a request waits for the store; then the route's on_store_error applies.",
          'x-expected': 'a number of milliseconds',
        }),
        prefix: Type.String({
          minLength: 1,
          default: 'portico:rl:',
          description: 'Prefix of every Redis key.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Shared state for rate limits.' },
    ),
    trusted_proxies: Type.Array(
      Type.String({
        pattern: CIDR_SHAPE,
        'x-format': 'cidr',
        'x-expected': 'an IP address or CIDR such as "10.0.0.0/8"',
      }),
      {
        default: [],
        description:
          'Peers (CIDRs) whose X-Forwarded-For / -Proto / -Host and Forwarded headers are believed. From anyone else they are replaced.',
      },
    ),
    forwarded_header: Type.Boolean({
      default: false,
      description: 'Also send the RFC 7239 Forwarded header upstream (X-Forwarded-* are always sent).',
    }),
    real_ip_header: Type.Boolean({
      default: false,
      description:
        'Send X-Real-IP upstream with the client address (after trusted_proxies), replacing any the client or a trusted proxy sent.',
    }),
    limits: Type.Object(
      {
        max_header_bytes: Bytes('Largest request header block; larger gets 431.', 16_384),
        max_body_bytes: Bytes('Largest request body; larger gets 413.', 10_485_760),
        max_url_length: Bytes('Longest request target; longer gets 414.', 8_192),
        header_timeout_ms: Millis('Time a client has to send the complete request headers (408).', 10_000),
        request_timeout_ms: Millis(
          'Time a client has to send the complete request, body included (408).',
          60_000,
        ),
        keep_alive_timeout_ms: Millis('How long an idle client connection is kept open.', 5_000),
      },
      { additionalProperties: false, default: {} },
    ),
    admin: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        listen: Type.String({ ...Listen, default: '127.0.0.1:9876' }),
        token: Type.Optional(
          Type.String({
            minLength: 16,
            description: 'Bearer token for the admin API; required when admin listens beyond loopback.',
            'x-expected': 'a token of at least 16 characters',
          }),
        ),
      },
      { additionalProperties: false, default: {}, description: 'Health, readiness and the admin API.' },
    ),
    workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: MAX_WORKERS })], {
      default: 1,
      description:
        'Processes serving the listeners: 1 (this process alone), a number, or "auto" (one per CPU). With more than one, a primary process runs the admin listener, reloads and restarts, and holds the memory-store rate-limit counts.',
      'x-expected': `"auto" or a whole number from 1 to ${MAX_WORKERS}`,
    }),
    shutdown_timeout_ms: Millis('On SIGTERM, how long in-flight requests may take to finish.', 15_000),
    reload: Type.Object(
      {
        watch: Type.Boolean({ default: true, description: 'Reload when the config file changes.' }),
        debounce_ms: Millis('Wait this long after the last change before reloading.', 250),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);
export type GatewaySection = Static<typeof GatewaySectionSchema>;
