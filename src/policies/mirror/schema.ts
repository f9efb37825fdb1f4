// Configuration of `mirror:`: a share of a route's requests copied to a shadow upstream, whose answer is
// dropped.
import { Type, type Static } from '@sinclair/typebox';

export const MirrorSchema = Type.Object(
  {
    upstream: Type.String({
      minLength: 1,
      description:
        'The shadow upstream: a name under `upstreams` or a URL (http://host:port/base). Its answers are read and dropped.',
      'x-expected': 'an upstream name or URL',
    }),
    percent: Type.Number({
      minimum: 0,
      maximum: 100,
      default: 100,
      description:
        "Share of the route's requests copied to the shadow, in percent (0 to 100, fractions allowed).",
      'x-expected': 'a number from 0 to 100',
    }),
    max_body_bytes: Type.Integer({
      minimum: 0,
      default: 1_048_576,
      description:
        'Largest request body copied (1 MiB by default). A request with a larger body is not mirrored (counted as skipped_body); it still reaches the route upstream whole.',
      'x-expected': 'a number of bytes, 0 or more',
    }),
    max_in_flight: Type.Integer({
      minimum: 1,
      default: 64,
      description:
        'Most shadow requests of this route open at once (a body being copied counts). A request past it is not mirrored (counted as dropped).',
      'x-expected': 'a whole number, 1 or more',
    }),
    timeout_ms: Type.Integer({
      minimum: 1,
      default: 5000,
      description:
        'Longest a shadow request may take, its answer read to the end; then it is abandoned (counted as failed).',
      'x-expected': 'milliseconds, 1 or more',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Copies a share of requests to a shadow upstream, fire-and-forget: its latency, errors and answer never reach the client.',
  },
);
export type MirrorConfig = Static<typeof MirrorSchema>;
