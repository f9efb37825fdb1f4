// Configuration of `fallback:`: the static response a route serves when its upstream cannot answer.
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

/**
 * Why a route answered its fallback. One spelling everywhere: `on:`, the X-Portico-Fallback header and the
 * access log's `fallback` field; the metric label value is the same words in snake_case (`upstream_failed`).
 */
export const FALLBACK_REASONS = ['circuit-open', 'upstream-failed'] as const;
export type FallbackReason = (typeof FALLBACK_REASONS)[number];

export const FallbackSchema = Type.Object(
  {
    status: Type.Integer({
      minimum: 200,
      maximum: 599,
      default: 503,
      description: 'Status of the fallback response.',
      'x-expected': 'an HTTP status from 200 to 599',
    }),
    json: Type.Optional(Type.Unknown({ description: 'JSON body (any JSON value).' })),
    body: Type.Optional(Type.String({ description: 'Text body (instead of json).' })),
    content_type: Type.Optional(
      Type.String({ description: 'Content-Type (default: application/json for json, text/plain for body).' }),
    ),
    headers: Type.Optional(
      Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String(), {
        description: 'Extra response headers.',
      }),
    ),
    on: Type.Array(
      Type.Union(
        FALLBACK_REASONS.map((r) => Type.Literal(r)),
        { 'x-expected': FALLBACK_REASONS.join(' or ') },
      ),
      {
        default: [...FALLBACK_REASONS],
        uniqueItems: true,
        minItems: 1,
        description:
          'When: circuit-open (the breaker fails fast) and/or upstream-failed (every try failed: refused, reset, timeout).',
      },
    ),
    statuses: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), {
      default: [],
      uniqueItems: true,
      description:
        'Upstream 5xx statuses that also get the fallback (default: none — the upstream answer passes).',
    }),
  },
  { additionalProperties: false, description: 'A static response served when the upstream cannot answer.' },
);
export type FallbackConfig = Static<typeof FallbackSchema>;
