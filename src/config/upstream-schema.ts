// The shape of a named upstream (`upstreams.<name>`): its targets, how requests are spread over them, how
// their health is judged, and how failures are contained (circuit breaker, retries). Split from schema.ts
// to keep each file readable; schema.ts composes it.
import { Type, type Static } from '@sinclair/typebox';
import { Millis } from './schema-fields.js';
import { TCHAR_CLASS } from '../lib/http-token.js';

const Count = (description: string, def: number, max = 1_000_000) =>
  Type.Integer({ minimum: 1, maximum: max, description, default: def, 'x-expected': 'a whole number ≥ 1' });
const Ratio = (description: string, def: number) =>
  Type.Number({
    minimum: 0.0001,
    maximum: 1,
    description,
    default: def,
    'x-expected': 'a number above 0 and at most 1',
  });

const UpstreamTarget = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', 'x-expected': 'an http:// or https:// URL' }),
    weight: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1,
      description: 'Relative share of requests.',
    }),
    max_connections: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        description: 'Most connections to this target (overrides the upstream-wide `connections`).',
      }),
    ),
  },
  { additionalProperties: false },
);

const StatusSpec = Type.Union(
  [
    Type.Integer({ minimum: 100, maximum: 599 }),
    Type.String({ pattern: '^([1-5]xx|[1-5][0-9]{2}-[1-5][0-9]{2})$' }),
  ],
  { 'x-expected': 'a status (200), a class ("2xx") or a range ("200-299")' },
);

const HealthCheckSchema = Type.Object(
  {
    path: Type.String({
      pattern: '^/',
      description: 'Path probed on every target (GET).',
      'x-expected': 'a path starting with /',
    }),
    interval_ms: Millis('Time between probes of one target.', 5_000),
    timeout_ms: Millis('A probe that takes longer fails.', 2_000),
    healthy_after: Count('Consecutive passing probes that bring an unhealthy target back.', 2, 100),
    unhealthy_after: Count('Consecutive failing probes that take a healthy target out.', 3, 100),
    expected_statuses: Type.Optional(
      Type.Array(StatusSpec, { minItems: 1, description: 'Statuses that pass (default 200-399).' }),
    ),
    method: Type.Union([Type.Literal('GET'), Type.Literal('HEAD')], { default: 'GET' }),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'Extra probe headers.' }),
    ),
  },
  { additionalProperties: false, description: 'Active health checks: probe every target on an interval.' },
);

const PassiveHealthSchema = Type.Object(
  {
    consecutive_failures: Count(
      'Failures in a row (connect error, reset, timeout or 5xx) that eject a target.',
      5,
      1000,
    ),
    base_ejection_ms: Millis('First ejection; each further one of the same target doubles it.', 30_000),
    max_ejection_ms: Millis('Longest ejection.', 300_000),
  },
  { additionalProperties: false, description: 'Passive health: eject targets that fail real requests.' },
);

const CircuitBreakerSchema = Type.Object(
  {
    failure_ratio: Ratio('Open when this share of the calls in the window failed…', 0.5),
    min_requests: Count('…and the window holds at least this many calls.', 20),
    window_ms: Millis('Rolling window the ratio is computed over.', 10_000),
    consecutive_failures: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        description: 'Also open after this many failures in a row.',
      }),
    ),
    open_ms: Millis('How long it stays open (fails fast) before letting probes through.', 30_000),
    half_open_requests: Count(
      'Probe requests let through at once while half-open; that many successes close it.',
      1,
      1000,
    ),
    per_target: Type.Boolean({
      default: false,
      description: 'One breaker per target instead of one per upstream.',
    }),
  },
  { additionalProperties: false, description: 'Fail fast while the upstream is failing.' },
);

const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', '5xx'] as const;

const RetriesSchema = Type.Object(
  {
    attempts: Type.Integer({
      minimum: 0,
      maximum: 10,
      default: 2,
      description: 'Retries after the first try (0 turns retries off).',
      'x-expected': 'a whole number from 0 to 10',
    }),
    backoff_ms: Millis('Base of the exponential backoff (full jitter) between tries.', 50),
    max_backoff_ms: Millis('Longest wait between tries.', 1_000),
    per_try_timeout_ms: Type.Optional(
      Millis('Each try must have its response headers within this (504 → next try).'),
    ),
    on: Type.Array(
      Type.Union(
        RETRY_CONDITIONS.map((c) => Type.Literal(c)),
        { 'x-expected': RETRY_CONDITIONS.join(', ') },
      ),
      {
        default: [...RETRY_CONDITIONS],
        uniqueItems: true,
        description:
          'What is retried: connect-failure (never reached the upstream: any method), reset and timeout (idempotent methods), 5xx (idempotent methods, statuses in `statuses`).',
      },
    ),
    statuses: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), {
      default: [502, 503, 504],
      uniqueItems: true,
      description: 'Upstream statuses that count as a failed try for `5xx`.',
    }),
    budget_ratio: Type.Number({
      minimum: 0,
      maximum: 10,
      default: 0.2,
      description: 'Retries at most this share of the requests in the last 10 s…',
    }),
    budget_min_per_second: Type.Number({
      minimum: 0,
      maximum: 100_000,
      default: 10,
      description: '…plus this many per second, so quiet upstreams can still retry.',
    }),
    buffer_body_bytes: Type.Integer({
      minimum: 0,
      maximum: 16_777_216,
      default: 65_536,
      description:
        'Request bodies up to this size are buffered so a try can be replayed; larger ones stream and are never retried.',
    }),
  },
  { additionalProperties: false, description: 'Retry failed tries on another target.' },
);

const HASH_ON_PATTERN = `^(ip|consumer|header:${TCHAR_CLASS}+|cookie:${TCHAR_CLASS}+)$`;

export const UpstreamSchema = Type.Object(
  {
    targets: Type.Array(UpstreamTarget, {
      minItems: 1,
      maxItems: 1024,
      description: 'Servers of this upstream.',
    }),
    balance: Type.Union([Type.Literal('round-robin'), Type.Literal('least-pending'), Type.Literal('hash')], {
      default: 'round-robin',
      description:
        'round-robin (smooth, weighted), least-pending (fewest in flight) or hash (consistent, `hash_on`).',
      'x-expected': 'round-robin, least-pending or hash',
    }),
    hash_on: Type.String({
      pattern: HASH_ON_PATTERN,
      default: 'ip',
      description: 'Key for balance: hash — ip, consumer, header:<Name> or cookie:<name>.',
      'x-expected': 'ip, consumer, header:<Name> or cookie:<name>',
    }),
    connections: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        description: 'Most connections per target (default: no limit).',
      }),
    ),
    connect_timeout_ms: Millis('Time to open a connection (504).', 5_000),
    keep_alive_timeout_ms: Millis('How long an idle upstream connection is kept.', 4_000),
    resolve_interval_ms: Type.Integer({
      minimum: 0,
      maximum: 86_400_000,
      default: 30_000,
      description:
        'Re-resolve target host names this often; each address becomes a target (0: resolve per connection only).',
      'x-expected': 'a whole number of milliseconds (0 turns it off)',
    }),
    health_check: Type.Optional(HealthCheckSchema),
    passive_health: Type.Optional(PassiveHealthSchema),
    max_ejected_percent: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 50,
      description:
        'Never take more than this share of the targets out at once (health checks and ejections).',
    }),
    circuit_breaker: Type.Optional(CircuitBreakerSchema),
    retries: Type.Optional(RetriesSchema),
  },
  { additionalProperties: false },
);
export type UpstreamConfig = Static<typeof UpstreamSchema>;
