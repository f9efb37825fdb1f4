// Configuration of the route's `cache:` key (an edge cache with HTTP caching semantics, RFC 9111) and the
// gateway-wide `cache:` section (where entries live and how much memory they may take).
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

const HeaderName = Type.String({ pattern: HEADER_NAME_PATTERN, 'x-expected': 'a header name' });
const Seconds = (description: string) =>
  Type.Integer({ minimum: 0, maximum: 31_536_000, description, 'x-expected': 'a number of seconds' });

export const CacheSchema = Type.Object(
  {
    ttl_s: Type.Optional(
      Seconds(
        'Freshness of stored responses, replacing what the upstream says (max-age, s-maxage, Expires). ' +
          'Responses the upstream marks no-store, private or no-cache, or that set cookies, stay uncached.',
      ),
    ),
    vary: Type.Array(HeaderName, {
      default: [],
      description:
        'Request headers that select a variant (part of the key), added to the Vary response header; the ' +
        "upstream's own Vary is honoured too. Authorization here keys entries by credential.",
    }),
    key: Type.Array(Type.Literal('consumer', { 'x-expected': 'consumer' }), {
      default: [],
      description:
        'Extra key parts: consumer — each consumer gets only its own entries, which allows caching ' +
        'authenticated requests.',
    }),
    cache_control: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        pattern: '^[\\x20-\\x7e]*$',
        description: 'Cache-Control sent to clients (the brief\'s add_header), e.g. "public, max-age=60".',
      }),
    ),
    stale_while_revalidate_s: Type.Optional(
      Seconds(
        'Serve stale this long past freshness while one request refreshes it (when the upstream says nothing).',
      ),
    ),
    stale_if_error_s: Type.Optional(
      Seconds(
        'Serve stale this long past freshness when the upstream fails (when the upstream says nothing).',
      ),
    ),
    max_entry_bytes: Type.Integer({
      minimum: 1,
      maximum: 67_108_864,
      default: 1_048_576,
      description: 'Larger responses are not cached (they stream through).',
    }),
  },
  { additionalProperties: false },
);
export type CacheConfig = Static<typeof CacheSchema>;

export const CacheSectionSchema = Type.Object(
  {
    store: Type.Optional(
      Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
        description:
          'memory (this process, LRU) or redis (gateway.store.url, shared). Default: gateway.store.type.',
        'x-expected': 'memory or redis',
      }),
    ),
    max_bytes: Type.Integer({
      minimum: 1024,
      maximum: 68_719_476_736,
      default: 67_108_864,
      description: 'Memory store: bytes held at most (least recently used entries are evicted).',
    }),
    timeout_ms: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 100,
      description: 'Redis store: longest a lookup may take; then it counts as a miss.',
    }),
    prefix: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'portico:cache:',
      description: 'Redis key prefix.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Where the response cache keeps its entries.' },
);
export type CacheSectionConfig = Static<typeof CacheSectionSchema>;
