// Configuration of `callbacks:` on a route: the internal endpoint services post events to, and the
// subscribers each event is signed for (Standard Webhooks) and delivered to, durably, with retries.
import { Type, type Static } from '@sinclair/typebox';
import { WebhookSchema } from './schema.js';

const Subscriber = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      maxLength: 64,
      description: 'Names the subscriber in the admin API, the metrics and the logs.',
      'x-expected': 'a name of letters, digits, ".", "_" or "-"',
    }),
    url: Type.String({
      pattern: '^https?://[^?#\\s]+$',
      description: 'Where its events are POSTed (no query string).',
      'x-expected': 'an http(s):// URL without a query string',
    }),
    secrets: Type.Array(Type.String({ pattern: '^whsec_[A-Za-z0-9+/=]+$' }), {
      minItems: 1,
      maxItems: 4,
      description:
        'Its Standard Webhooks secrets (`whsec_…`); each delivery carries a signature with each, so a ' +
        'secret can be rotated without a gap.',
      'x-expected': 'a list of whsec_… secrets',
    }),
  },
  { additionalProperties: false },
);

export const CallbacksSchema = Type.Object(
  {
    subscribers: Type.Array(Subscriber, {
      minItems: 1,
      maxItems: 64,
      description: 'Who receives the events.',
    }),
    internal_only: Type.Boolean({
      default: true,
      description:
        'Accept events only from loopback and private addresses (10/8, 172.16/12, 192.168/16, fc00::/7) — ' +
        'the client address after `gateway.trusted_proxies`.',
    }),
    max_body_bytes: WebhookSchema.properties.max_body_bytes,
    idempotency: Type.Object(
      {
        key: WebhookSchema.properties.idempotency.properties.key,
        retention_h: WebhookSchema.properties.idempotency.properties.retention_h,
      },
      { default: {}, additionalProperties: false },
    ),
    delivery: WebhookSchema.properties.delivery,
  },
  { additionalProperties: false },
);

export type CallbacksConfig = Static<typeof CallbacksSchema>;
