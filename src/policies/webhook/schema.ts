// Configuration of `webhook:` on a route (the shape of ../shared/config-reference.yaml): how the sender signs
// (scheme, secrets, tolerance), how duplicates are recognised, and how accepted events are delivered to the
// route's upstream (attempts, backoff, timeout, concurrency, rate, order).
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';
import type { VerifierConfig } from './verify/verify.js';

export const SCHEMES = ['github', 'stripe', 'standard-webhooks', 'hmac'] as const;

/** A duration in whole milliseconds, 1 ms to 1 day. */
const Millis = (description: string, def: number) =>
  Type.Integer({
    minimum: 1,
    maximum: 86_400_000,
    default: def,
    description,
    'x-expected': 'a whole number of milliseconds (1 or more)',
  });

/**
 * A key read from the request: `${header.X-Shop-Id}` or `${body.shop.id}` (a field of a JSON body), alone or
 * inside text.
 */
const KeyTemplate = (description: string) =>
  Type.String({
    minLength: 1,
    maxLength: 256,
    pattern: "\\$\\{(header\\.[!#$%&'*+.^_`|~0-9A-Za-z-]+|body(\\.[A-Za-z0-9_-]+)+)\\}",
    description,
    'x-expected': 'a template with ${header.<Name>} or ${body.<field>}, e.g. "${header.X-Shop-Id}"',
  });

const HmacOptions = Type.Object(
  {
    header: Type.String({ pattern: HEADER_NAME_PATTERN, description: 'Header carrying the signature.' }),
    algorithm: Type.Union([Type.Literal('sha256'), Type.Literal('sha512')], {
      default: 'sha256',
      description: 'HMAC hash.',
      'x-expected': 'sha256 or sha512',
    }),
    encoding: Type.Union([Type.Literal('hex'), Type.Literal('base64')], {
      default: 'hex',
      description: 'How the signature is written.',
      'x-expected': 'hex or base64',
    }),
    prefix: Type.String({
      default: '',
      description: 'Text before the signature in the header, e.g. "sha256=".',
    }),
    timestamp_header: Type.Optional(
      Type.String({
        pattern: HEADER_NAME_PATTERN,
        description: 'Header carrying a signed timestamp (seconds); checked against `tolerance_s`.',
      }),
    ),
    id_header: Type.Optional(
      Type.String({ pattern: HEADER_NAME_PATTERN, description: "Header carrying the sender's delivery id." }),
    ),
    payload: Type.String({
      default: '{body}',
      minLength: 1,
      description: 'What is signed: text with {body}, {timestamp} and {id}, e.g. "{timestamp}.{body}".',
    }),
  },
  { additionalProperties: false },
);

export const WebhookSchema = Type.Object(
  {
    scheme: Type.Union(
      SCHEMES.map((s) => Type.Literal(s)),
      { description: 'How the sender signs its requests.', 'x-expected': SCHEMES.join(', ') },
    ),
    secrets: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      maxItems: 8,
      description:
        'Active signing secrets; a request signed with any of them is accepted (add the new one, then retire ' +
        'the old). standard-webhooks secrets are `whsec_…`.',
    }),
    tolerance_s: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 300,
      description: 'How far a signed timestamp may be from now, either way (replays and skewed clocks).',
      'x-expected': 'seconds, 1 to 86400',
    }),
    hmac: Type.Optional(HmacOptions),
    max_body_bytes: Type.Integer({
      minimum: 1,
      maximum: 104_857_600,
      default: 1_048_576,
      description: 'Largest event body accepted (413 beyond).',
      'x-expected': 'a whole number of bytes',
    }),
    idempotency: Type.Object(
      {
        key: Type.Optional(
          KeyTemplate(
            "What identifies an event (default: the scheme's delivery id, else an `Idempotency-Key` header).",
          ),
        ),
        retention_h: Type.Integer({
          minimum: 1,
          maximum: 8_760,
          default: 72,
          description:
            'How long an event id is remembered: a duplicate within it is acknowledged, not delivered.',
          'x-expected': 'hours, 1 to 8760',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    delivery: Type.Object(
      {
        attempts: Type.Integer({
          minimum: 1,
          maximum: 100,
          default: 8,
          description: 'Tries before the event is dead-lettered.',
          'x-expected': 'a whole number, 1 to 100',
        }),
        backoff_ms: Millis('Delay before the first retry; each retry doubles it, with jitter.', 1_000),
        max_backoff_ms: Millis('Longest delay between two tries.', 300_000),
        timeout_ms: Millis('Longest one delivery may take.', 5_000),
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 1_000,
          default: 8,
          description: "Deliveries in flight at once to this route's upstream.",
          'x-expected': 'a whole number, 1 to 1000',
        }),
        rate_per_s: Type.Optional(
          Type.Number({
            exclusiveMinimum: 0,
            maximum: 100_000,
            description: 'Most deliveries started per second (default: no limit beyond `concurrency`).',
          }),
        ),
        order_key: Type.Optional(
          KeyTemplate(
            'Events with the same key are delivered in order; a failing one holds back its key only.',
          ),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type WebhookConfig = Static<typeof WebhookSchema>;

/** The verifier settings of a validated config; `hmac` is required for scheme hmac (checked by the caller). */
export function verifierConfigOf(c: WebhookConfig): VerifierConfig {
  switch (c.scheme) {
    case 'github':
      return { scheme: 'github', secrets: c.secrets };
    case 'stripe':
      return { scheme: 'stripe', secrets: c.secrets, toleranceS: c.tolerance_s };
    case 'standard-webhooks':
      return { scheme: 'standard-webhooks', secrets: c.secrets, toleranceS: c.tolerance_s };
    case 'hmac': {
      const h = c.hmac;
      if (h === undefined) throw new TypeError('scheme hmac needs `hmac: { header, … }`');
      return {
        scheme: 'hmac',
        secrets: c.secrets,
        header: h.header,
        algorithm: h.algorithm,
        encoding: h.encoding,
        prefix: h.prefix,
        timestampHeader: h.timestamp_header,
        idHeader: h.id_header,
        payload: h.payload,
        toleranceS: c.tolerance_s,
      };
    }
  }
}
