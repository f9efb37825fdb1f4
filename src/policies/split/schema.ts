// Configuration of `split:`: a weighted canary split of a route's requests between upstreams, sticky per
// client. Two forms: the list of sides alone, or a mapping with the list under `to` and the options.
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN, TCHAR_CLASS } from '../../lib/http-token.js';

/** The sticky keys: who always lands on the same side. */
export const STICKY_PATTERN = `^(consumer|ip|cookie:${TCHAR_CLASS}+|header:${TCHAR_CLASS}+)$`;
const STICKY_EXPECTED = 'consumer, ip, cookie:<name> or header:<Name>';

/** The forcing header when the config names none. */
export const DEFAULT_FORCE_HEADER = 'X-Canary';

const SideSchema = Type.Object(
  {
    upstream: Type.String({
      minLength: 1,
      description: "A named upstream (`upstreams:`) or a URL, forwarded with the route's own settings.",
      'x-expected': 'an upstream name or a URL',
    }),
    weight: Type.Number({
      minimum: 0.0001,
      description:
        'Share of the clients, relative to the other weights (5 and 95: 5 %). Weights need not add up to 100.',
      'x-expected': 'a positive number',
    }),
  },
  { additionalProperties: false },
);
export type SplitSide = Static<typeof SideSchema>;

const SidesSchema = Type.Array(SideSchema, {
  minItems: 2,
  maxItems: 16,
  description:
    'The sides, each an upstream and its weight; the first is the canary (what `X-Canary: always` forces). Each upstream once.',
  'x-expected': 'a list of 2 to 16 { upstream, weight }',
});

const SplitObjectSchema = Type.Object(
  {
    to: SidesSchema,
    sticky: Type.String({
      pattern: STICKY_PATTERN,
      default: 'consumer',
      description:
        'What keeps a client on its side: consumer (the authenticated consumer, else the client address), ip (the client address), cookie:<name> or header:<Name> (its value, else the client address).',
      'x-expected': STICKY_EXPECTED,
    }),
    header: Type.Union(
      [Type.String({ pattern: HEADER_NAME_PATTERN, 'x-expected': 'a header name' }), Type.Literal(false)],
      {
        default: DEFAULT_FORCE_HEADER,
        description:
          'Request header that forces a side for testing: `always` (the first upstream), `never` (the heaviest other one) or an upstream of the list by name; other values are ignored. false: no forcing.',
        'x-expected': 'a header name, or false',
      },
    ),
  },
  { additionalProperties: false },
);

export const SplitSchema = Type.Union([SidesSchema, SplitObjectSchema], {
  description:
    "Weighted canary split between upstreams, sticky per consumer, cookie or client address (consistent hashing: raising a weight moves only the clients it must). The side taken is the access log's `split` field and the `upstream` label of portico_split_requests_total.",
  'x-expected': 'a list of { upstream, weight }, or { to: [...], sticky, header }',
});
export type SplitConfig = Static<typeof SplitSchema>;
export type SplitObjectConfig = Static<typeof SplitObjectSchema>;
