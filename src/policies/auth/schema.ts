// Configuration of authentication: the root `auth:` section (named JWT configs, API key, Basic, forward-auth,
// identity headers), the root `consumers:` list, and the route's `auth:` key. One source for types,
// validation, defaults and the JSON Schema.
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
/**
 * A consumer's role or scope: it travels upstream in an identity header, so it may not hold what a header
 * value cannot (control characters, tab included, or characters beyond Latin-1) — refused at load, not
 * per request (the auth policy would refuse the consumer's every request otherwise).
 */
const HeaderText = (what: string) =>
  Type.String({
    minLength: 1,
    pattern: '^[\\x20-\\x7e\\x80-\\xff]+$',
    'x-expected': `${what} without control characters (printable Latin-1 text)`,
  });

/** Signature algorithms a key set may allow. `none` is not one of them, so it can never be accepted. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const Seconds = (description: string, def: number, max = 86_400) =>
  Type.Integer({ minimum: 0, maximum: max, default: def, description, 'x-expected': 'a number of seconds' });
const Millis = (description: string, def: number) =>
  Type.Integer({
    minimum: 1,
    maximum: 600_000,
    default: def,
    description,
    'x-expected': 'a number of milliseconds',
  });

export const JwtConfigSchema = Type.Object(
  {
    issuer: Type.Optional(
      Type.String({ minLength: 1, description: 'Expected `iss`; also the base URL for OIDC discovery.' }),
    ),
    audience: Type.Optional(
      Type.Union(
        [Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })],
        {
          description: 'Expected `aud` (the token must name at least one).',
          'x-expected': 'a string or a list of strings',
        },
      ),
    ),
    secret: Type.Optional(
      Type.String({
        minLength: 32,
        description: 'HMAC secret (HS* algorithms). Use ${VAR} to keep it out of the file.',
        'x-expected': 'a secret of at least 32 characters',
      }),
    ),
    public_key: Type.Optional(
      Type.String({
        pattern: '-----BEGIN PUBLIC KEY-----',
        description: 'A PEM public key (SPKI), inline.',
        'x-expected': 'a PEM public key ("-----BEGIN PUBLIC KEY-----…")',
      }),
    ),
    public_key_file: Type.Optional(
      Type.String({ minLength: 1, description: 'A PEM public key file (relative to the config file).' }),
    ),
    jwks_file: Type.Optional(
      Type.String({ minLength: 1, description: 'A JWKS file (relative to the config file).' }),
    ),
    jwks_url: Type.Optional(
      Type.String({ pattern: '^https?://', 'x-expected': 'an http(s) URL', description: 'A JWKS URL.' }),
    ),
    discovery: Type.Boolean({
      default: false,
      description: 'Find the JWKS URL through `issuer` + /.well-known/openid-configuration (OIDC discovery).',
    }),
    algorithms: Type.Optional(
      Type.Array(Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a))), {
        minItems: 1,
        uniqueItems: true,
        description:
          'Allowed algorithms. Required with JWKS; inferred from a secret (HS256) or a PEM key otherwise.',
      }),
    ),
    clock_skew_s: Seconds('Tolerance for `exp` and `nbf`.', 30, 600),
    required_claims: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Claims every token must carry (beyond exp).',
    }),
    max_token_bytes: Type.Integer({
      minimum: 128,
      maximum: 65_536,
      default: 8_192,
      description: 'Longer tokens are refused before any parsing.',
    }),
    consumer_claim: Type.String({
      minLength: 1,
      default: 'sub',
      description: 'Claim holding the consumer id.',
    }),
    roles_claim: Type.String({
      minLength: 1,
      default: 'roles',
      description: 'Claim holding roles (a list, or a dotted path such as realm_access.roles).',
    }),
    scope_claim: Type.String({
      minLength: 1,
      default: 'scope',
      description: 'Claim holding scopes (space-separated string or list).',
    }),
    tier_claim: Type.Optional(
      Type.String({ minLength: 1, description: 'Claim holding the rate-limit tier.' }),
    ),
    jwks: Type.Object(
      {
        timeout_ms: Millis('Time one JWKS (or discovery) fetch may take.', 5_000),
        cache_ttl_s: Seconds('Key set lifetime when the IdP sends no Cache-Control max-age.', 600),
        min_ttl_s: Seconds('Shortest lifetime honoured from max-age.', 60),
        cooldown_s: Seconds('At most one refresh per this many seconds for unknown kids.', 30, 3_600),
        refresh_ahead_s: Seconds('Refresh in the background this long before the key set expires.', 60),
      },
      { additionalProperties: false, default: {} },
    ),
    cache_size: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      default: 10_000,
      description: 'Verified tokens remembered (by SHA-256) until they expire; 0 turns the cache off.',
    }),
  },
  { additionalProperties: false },
);
export type JwtConfig = Static<typeof JwtConfigSchema>;

export const ForwardAuthSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', 'x-expected': 'an http(s) URL' }),
    method: Type.Union([Type.Literal('GET'), Type.Literal('POST')], { default: 'GET' }),
    timeout_ms: Millis('Time the auth service has to answer (503 after it).', 2_000),
    cache_ttl_s: Seconds(
      'Remember an answer for the same credentials this long (0: ask every time).',
      0,
      3_600,
    ),
    request_headers: Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN }), {
      default: ['authorization', 'cookie'],
      description: 'Client headers sent to the auth service (plus X-Forwarded-Method/-Uri/-Host/-For).',
    }),
    copy_headers: Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN }), {
      default: [],
      description: "Headers of the auth service's 2xx answer copied onto the upstream request.",
    }),
    user_header: Type.String({
      pattern: HEADER_NAME_PATTERN,
      default: 'X-User-Id',
      description: "Header of the auth service's answer naming the consumer.",
    }),
  },
  { additionalProperties: false },
);
export type ForwardAuthConfig = Static<typeof ForwardAuthSchema>;

export const TokenSigningKeySchema = Type.Object(
  {
    kid: Type.String({ pattern: NAME, description: 'Key id, published in the JWKS and set in each token.' }),
    alg: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], { default: 'EdDSA' }),
    private_key: Type.Optional(
      Type.String({
        pattern: '-----BEGIN PRIVATE KEY-----',
        'x-expected': 'a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----…"); use ${VAR}',
      }),
    ),
    private_key_file: Type.Optional(Type.String({ minLength: 1, description: 'PKCS#8 PEM file.' })),
  },
  { additionalProperties: false },
);

/** The gateway's own OAuth 2.0 token endpoint (client_credentials) for partners. */
export const TokenEndpointSchema = Type.Object(
  {
    path: Type.String({ pattern: '^/', default: '/oauth/token' }),
    jwks_path: Type.String({ pattern: '^/', default: '/.well-known/jwks.json' }),
    issuer: Type.String({
      minLength: 1,
      description: 'The `iss` of issued tokens, e.g. https://api.example.com',
    }),
    audience: Type.String({ minLength: 1, default: 'portico' }),
    ttl_s: Type.Integer({ minimum: 30, maximum: 86_400, default: 300, description: 'Token lifetime.' }),
    keys: Type.Array(TokenSigningKeySchema, {
      minItems: 1,
      description: 'Signing keys: the first signs, every one is published (rotation: add the new key first).',
    }),
  },
  { additionalProperties: false },
);
export type TokenEndpointConfig = Static<typeof TokenEndpointSchema>;

export const AuthSectionSchema = Type.Object(
  {
    jwt: Type.Record(Type.String({ pattern: NAME }), JwtConfigSchema, {
      default: {},
      description: 'Named JWT configs: `auth: jwt` uses `default`, `auth: jwt:<name>` the others.',
    }),
    api_key: Type.Object(
      {
        header: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'X-Api-Key' }),
        query: Type.Optional(
          Type.String({
            minLength: 1,
            description: 'Also accept the key in this query parameter (removed upstream).',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    basic: Type.Object(
      { realm: Type.String({ minLength: 1, default: 'portico' }) },
      { additionalProperties: false, default: {} },
    ),
    forward_auth: Type.Record(Type.String({ pattern: NAME }), ForwardAuthSchema, { default: {} }),
    identity_headers: Type.Object(
      {
        user: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'X-Authenticated-User' }),
        roles: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'X-Authenticated-Roles' }),
        scopes: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'X-Authenticated-Scopes' }),
        tier: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'X-Authenticated-Tier' }),
        consumer: Type.String({ pattern: HEADER_NAME_PATTERN, default: 'X-Consumer-Id' }),
        strip: Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN }), {
          default: [],
          description:
            'More client headers removed on every route (X-Authenticated-* and X-Consumer-* always are).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    token_endpoint: Type.Optional(TokenEndpointSchema),
    consumers_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A YAML file with more consumers (a list, like `consumers:`); reloaded when it changes.',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);
export type AuthSection = Static<typeof AuthSectionSchema>;

export const ConsumerSchema = Type.Object(
  {
    id: Type.String({ pattern: NAME, 'x-expected': 'an id of letters, digits, _ . -' }),
    tier: Type.Optional(Type.String({ pattern: NAME })),
    roles: Type.Array(HeaderText('a role'), { default: [] }),
    scopes: Type.Array(HeaderText('a scope'), { default: [] }),
    metadata: Type.Record(Type.String({ minLength: 1 }), Type.String(), { default: {} }),
    api_keys: Type.Array(
      Type.String({
        pattern: '^sha256:[0-9a-f]{64}$',
        'x-expected': 'a key hash "sha256:<64 hex digits>" (portico hash-key prints one)',
      }),
      { default: [], description: 'SHA-256 hashes of the API keys; keys themselves are never stored.' },
    ),
    client_secret_hash: Type.Optional(
      Type.String({
        pattern: '^(sha256:[0-9a-f]{64}|\\$2[aby]\\$\\d\\d\\$.{53}|scrypt\\$.+)$',
        'x-expected': 'a secret hash: sha256:<hex>, bcrypt or scrypt (portico hash-key / hash-password)',
        description: 'For the token endpoint (client_credentials): the client id is the consumer id.',
      }),
    ),
    token_scopes: Type.Array(HeaderText('a scope'), {
      default: [],
      description: 'Scopes the token endpoint may grant this consumer.',
    }),
    token_routes: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: "Routes (by name) this consumer's gateway-issued tokens are valid on.",
    }),
    password_hash: Type.Optional(
      Type.String({
        pattern: '^(\\$2[aby]\\$\\d\\d\\$.{53}|scrypt\\$.+)$',
        'x-expected': 'a bcrypt hash ($2b$…) or scrypt hash (scrypt$…) — portico hash-password prints one',
        description: 'For HTTP Basic.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Consumer = Static<typeof ConsumerSchema>;
export const ConsumersSchema = Type.Array(ConsumerSchema, { default: [] });

const METHOD_PATTERN =
  '^(jwt(:[A-Za-z0-9][A-Za-z0-9_.-]*)?|api_key|basic|partner_token|forward_auth:[A-Za-z0-9][A-Za-z0-9_.-]*)$';
const MethodRef = Type.String({
  pattern: METHOD_PATTERN,
  'x-expected': 'jwt, jwt:<name>, api_key, basic, partner_token or forward_auth:<name>',
});

/** The route's `auth:` key: one method, a list (any of them), or the object form. */
export const RouteAuthSchema = Type.Union(
  [
    MethodRef,
    Type.Array(MethodRef, { minItems: 1, uniqueItems: true }),
    Type.Object(
      {
        methods: Type.Array(MethodRef, { minItems: 1, uniqueItems: true }),
        optional: Type.Boolean({
          default: false,
          description: 'Let anonymous requests through (credentials, when sent, must still be valid).',
        }),
        forward_token: Type.Boolean({
          default: false,
          description: 'Send the client Authorization header upstream (it is removed otherwise).',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  {
    'x-expected':
      'a method (jwt, jwt:<name>, api_key, basic, forward_auth:<name>), a list, or { methods: [...] }',
  },
);
export type RouteAuth = Static<typeof RouteAuthSchema>;
