// The one source of the configuration's shape: TypeScript types (Static), the validator's rules, the
// generated schema/gateway.schema.json and the reference docs all come from these definitions.
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { Millis } from './schema-fields.js';
import type { AnyPolicyDefinition } from '../pipeline/policy.js';
import { UpstreamSchema, type UpstreamConfig } from './upstream-schema.js';
import { HEADER_NAME_PATTERN } from '../lib/http-token.js';
import { GatewaySectionSchema, type GatewaySection } from './gateway-schema.js';

export { UpstreamSchema };

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

const TimeoutsSchema = Type.Object(
  {
    connect_ms: Type.Optional(Millis('Time to open a connection to the upstream (504).')),
    first_byte_ms: Type.Optional(
      Millis('Time from sending the request to the upstream response headers (504).'),
    ),
    idle_ms: Type.Optional(
      Millis('Longest pause between upstream body chunks; the connection is closed after it.'),
    ),
  },
  { additionalProperties: false },
);

const MatchValue = Type.Union([Type.String(), Type.Literal(true)], {
  'x-expected': 'an exact value, or true for "present with any value"',
});

const PathPattern = (description: string) =>
  Type.String({
    pattern: '^/',
    maxLength: 2048,
    description,
    'x-expected': 'a path starting with "/", e.g. /orders or /users/:id',
  });

const MatchSchema = Type.Object(
  {
    path: Type.Optional(
      PathPattern('Prefix at a segment boundary: /orders matches /orders and /orders/7, not /ordersX.'),
    ),
    exact: Type.Optional(PathPattern('The whole path, e.g. /orders/summary or /orders/:id.')),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Z]+$', 'x-expected': 'an upper-case HTTP method like GET' }), {
        minItems: 1,
        uniqueItems: true,
      }),
    ),
    host: Type.Optional(
      Type.Union(
        [
          Type.String({
            pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$',
            'x-expected': 'a host like api.example.com or *.example.com',
          }),
          Type.Array(
            Type.String({
              pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$',
              'x-expected': 'a host like api.example.com or *.example.com',
            }),
            { minItems: 1 },
          ),
        ],
        { description: 'Host (or list of hosts) to match; "*.example.com" matches any subdomain.' },
      ),
    ),
    headers: Type.Optional(
      Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), MatchValue, {
        description: 'Request headers that must be present (true) or equal a value.',
      }),
    ),
    query: Type.Optional(
      Type.Record(Type.String(), MatchValue, {
        description: 'Query parameters that must be present (true) or equal a value.',
      }),
    ),
  },
  { additionalProperties: false },
);

/** Route keys that are not policies; policy keys come from the registry. */
const routeCoreProperties = {
  name: Type.String({
    pattern: NAME_PATTERN,
    maxLength: 128,
    'x-expected': 'a name of letters, digits, ".", "_" or "-"',
  }),
  match: Type.Optional(MatchSchema),
  path_prefix: Type.Optional(PathPattern('Seed form of match.path (prefix).')),
  path: Type.Optional(PathPattern('Seed form of match.path (prefix).')),
  priority: Type.Integer({ default: 0, description: 'Higher wins over any specificity rule.' }),
  upstream: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'A URL (http://host:port/base) or the name of an entry under `upstreams`. Only a route whose ' +
        'policy answers every request itself (`callbacks`) has none.',
      'x-expected': 'an http(s):// URL or the name of an upstream',
    }),
  ),
  strip_prefix: Type.Boolean({ default: false, description: 'Remove the matched prefix before forwarding.' }),
  preserve_host: Type.Boolean({ default: false, description: "Send the client's Host upstream." }),
  path_escapes: Type.Union([Type.Literal('reject'), Type.Literal('keep'), Type.Literal('decode')], {
    default: 'reject',
    description:
      'An encoded "/" or "\\" (%2F, %5C) or a raw "\\" in the path: reject (400), keep (forwarded as %2F / %5C, matched as data), or decode (read as "/", dot segments resolved again; the decoded path must land on a route that decodes too). See docs/security.md.',
  }),
  method_override: Type.Boolean({
    default: false,
    description:
      'Send client X-HTTP-Method-Override / X-HTTP-Method / X-Method-Override headers upstream (removed by default).',
  }),
  timeout_ms: Type.Optional(Millis('Whole upstream exchange, response body included (504).')),
  timeouts: Type.Optional(TimeoutsSchema),
} satisfies TProperties;

/** Settings `defaults:` may give every route. */
const defaultsCoreProperties = {
  timeout_ms: Type.Optional(Millis('Whole upstream exchange, response body included (504).')),
  timeouts: Type.Optional(TimeoutsSchema),
} satisfies TProperties;

/**
 * Keys that belong to capabilities still being built. They are named so the error can say "not available
 * yet" instead of "unknown key"; each entry leaves this list when its capability lands.
 */
export const PLANNED_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  root: {},
  gateway: {
    profile: 'edge/platform profiles',
  },
  upstream: {},
  route: {},
};

function policyProperties(registry: readonly AnyPolicyDefinition[]): TProperties {
  const props: TProperties = {};
  // `false` turns a policy off for this route (over `defaults:` and always-on policies) — except a mandatory
  // one, whose key only ever adds to what it does.
  for (const def of registry)
    props[def.name] = Type.Optional(
      def.mandatory !== undefined
        ? def.schema
        : Type.Union([def.schema, Type.Literal(false, { description: `Turn ${def.name} off here.` })]),
    );
  return props;
}

/** The whole gateway.yaml schema, with the registry's policies as route (and defaults) keys. */
function buildConfigSchema(registry: readonly AnyPolicyDefinition[]): TObject {
  const policies = policyProperties(registry);
  // Route keys a policy reads besides its own (the brief's short forms), declared by that policy.
  const routeKeys: TProperties = {};
  for (const def of registry) Object.assign(routeKeys, def.routeKeys ?? {});
  const route = Type.Object(
    { ...routeCoreProperties, ...routeKeys, ...policies },
    {
      additionalProperties: false,
      // A route sends its requests to `upstream`, unless one of its policies answers every request itself.
      'x-required-unless': { upstream: registry.filter((d) => d.answersAll === true).map((d) => d.name) },
    },
  );
  const defaults = Type.Object(
    { ...defaultsCoreProperties, ...policies },
    { additionalProperties: false, default: {} },
  );
  const sections: TProperties = {};
  for (const def of registry)
    for (const [name, schema] of Object.entries(def.sections ?? {})) sections[name] = schema;
  return Type.Object(
    {
      $schema: Type.Optional(Type.String()),
      version: Type.Literal(1, { default: 1, description: 'Config format version.' }),
      gateway: GatewaySectionSchema,
      ...sections,
      defaults,
      upstreams: Type.Record(Type.String({ pattern: NAME_PATTERN }), UpstreamSchema, { default: {} }),
      routes: Type.Array(route, { description: 'Routes, matched by the documented precedence.' }),
    },
    {
      additionalProperties: false,
      $id: 'https://portico.dev/schema/gateway.schema.json',
      title: 'Portico gateway configuration',
    },
  );
}

const schemaCache = new WeakMap<readonly AnyPolicyDefinition[], TObject>();

/** `buildConfigSchema`, built once per registry. */
export function configSchema(registry: readonly AnyPolicyDefinition[]): TObject {
  let s = schemaCache.get(registry);
  if (!s) schemaCache.set(registry, (s = buildConfigSchema(registry)));
  return s;
}

/** Route config after validation: core keys typed, policy keys by name. */
export type RouteCore = Static<TObject<typeof routeCoreProperties>>;
export type RouteConfig = RouteCore & { readonly [policy: string]: unknown };
export type DefaultsConfig = Static<TObject<typeof defaultsCoreProperties>> & {
  readonly [policy: string]: unknown;
};
export type { UpstreamConfig };
export type MatchConfig = Static<typeof MatchSchema>;
export type TimeoutsConfig = Static<typeof TimeoutsSchema>;

/** The validated, defaulted configuration. */
export interface GatewayConfig {
  readonly version: 1;
  readonly gateway: GatewaySection;
  readonly defaults: DefaultsConfig;
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly routes: readonly RouteConfig[];
}

export type { TSchema };
