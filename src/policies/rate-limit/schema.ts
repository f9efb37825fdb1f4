// Configuration of rate limiting: the route's `rate_limit:` key (the brief's two token-bucket forms, a
// sliding window, several limits at once, keys, tiers) and the root `tiers:` section.
import { Type, type Static } from '@sinclair/typebox';
import { TCHAR_CLASS } from '../../lib/http-token.js';

const Positive = (description: string) =>
  Type.Number({ minimum: 0.0001, description, 'x-expected': 'a positive number' });
const Count = (description: string) =>
  Type.Integer({ minimum: 1, maximum: 1_000_000_000, description, 'x-expected': 'a whole number ≥ 1' });
const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$', 'x-expected': 'a short name' });

/** One limit, in any of its forms. */
const LimitSchema = Type.Object(
  {
    name: Type.Optional(Name),
    // Token bucket, brief form 1: capacity + refill per second.
    capacity: Type.Optional(Count('Bucket size: the largest burst.')),
    refill: Type.Optional(Positive('Tokens added per second.')),
    // Token bucket, brief form 2: requests per minute with a burst.
    requests_per_minute: Type.Optional(
      Positive('Sustained rate (the bucket refills at this rate / 60 per second).'),
    ),
    burst: Type.Optional(Count('Largest burst (bucket size; default: one minute of requests).')),
    // Sliding window.
    limit: Type.Optional(Count('Sliding window: at most this many requests in any `window_s`.')),
    window_s: Type.Optional(Positive('Sliding window length in seconds.')),
    // Quota: a budget per UTC calendar day or month.
    quota: Type.Optional(Count('Quota: at most this many requests per calendar `per` (UTC).')),
    per: Type.Optional(
      Type.Union([Type.Literal('day'), Type.Literal('month')], {
        description: 'Quota period: a UTC calendar day or month.',
        'x-expected': 'day or month',
      }),
    ),
  },
  { additionalProperties: false },
);
export type LimitConfig = Static<typeof LimitSchema>;

const KEY_PATTERN = `^(consumer|ip|route|global|header:${TCHAR_CLASS}+)$`;
const Key = Type.String({
  pattern: KEY_PATTERN,
  'x-expected': 'consumer, ip, route, global or header:<Name>',
});

export const RateLimitSchema = Type.Object(
  {
    ...LimitSchema.properties,
    limits: Type.Optional(
      Type.Array(LimitSchema, {
        minItems: 1,
        maxItems: 8,
        description: 'Several limits at once (e.g. 10 per second and 1000 per hour); all must allow.',
      }),
    ),
    key: Type.Union([Key, Type.Array(Key, { minItems: 1, maxItems: 4, uniqueItems: true })], {
      default: 'ip',
      description: 'Who shares a budget: consumer, ip, route, header:<Name>, global, or a list (combined).',
      'x-expected': 'consumer, ip, route, global, header:<Name>, or a list of them',
    }),
    tiered: Type.Boolean({
      default: false,
      description: "Take the budget from the consumer's tier (`tiers:`); anonymous clients use `anonymous`.",
    }),
    headers: Type.Boolean({
      default: true,
      description:
        'Send the RateLimit-Policy and RateLimit header fields (draft-ietf-httpapi-ratelimit-headers).',
    }),
    on_store_error: Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
      default: 'allow',
      description: 'When the store cannot answer in time: let the request through (allow) or 503 (deny).',
    }),
  },
  { additionalProperties: false },
);
export type RateLimitConfig = Static<typeof RateLimitSchema>;

/** `tiers:` — named budgets; a tier is one limit or a list of limits. */
export const TiersSchema = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }),
  Type.Union([LimitSchema, Type.Array(LimitSchema, { minItems: 1, maxItems: 8 })], {
    'x-expected': 'a limit ({ requests_per_minute, burst } …) or a list of limits',
  }),
  {
    default: {},
    description: 'Named rate-limit budgets for `tiered: true`; `anonymous` for unauthenticated clients.',
  },
);
export type TiersConfig = Static<typeof TiersSchema>;
