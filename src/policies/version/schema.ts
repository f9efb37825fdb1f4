// Configuration of `version:` on a route: the lifecycle of the route itself (the brief's form: each version
// its own route, `/v1/orders`, `/v2/orders`), and/or one route serving several versions chosen per request
// (by a path parameter, a header, a vendor media type or a query parameter), each with its own upstream and
// lifecycle.
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

/** RFC 3339 date-time (a time zone is required, so the instant is never ambiguous). */
const DATE_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$';

const Instant = (description: string) =>
  Type.String({
    pattern: DATE_TIME,
    description,
    'x-expected': 'an RFC 3339 date-time with a time zone, e.g. "2027-01-01T00:00:00Z"',
  });

export const AFTER_SUNSET = ['gone', 'redirect', 'serve'] as const;
export type AfterSunset = (typeof AFTER_SUNSET)[number];

const BrownoutWindow = Type.Object(
  {
    at: Instant('When the window starts.'),
    duration_m: Type.Integer({
      minimum: 1,
      maximum: 10_080,
      description: 'How long it lasts, minutes.',
      'x-expected': 'minutes, 1 to 10080',
    }),
  },
  { additionalProperties: false },
);

const BrownoutSchedule = Type.Object(
  {
    from: Instant(
      'The first window starts here; the next ones follow every `every_h` hours until the sunset.',
    ),
    every_h: Type.Integer({
      minimum: 1,
      maximum: 8_760,
      description: 'Hours from the start of one window to the start of the next (24: daily, 168: weekly).',
      'x-expected': 'hours, 1 to 8760',
    }),
    duration_m: Type.Integer({
      minimum: 1,
      maximum: 1_440,
      description: 'How long each window lasts, minutes.',
      'x-expected': 'minutes, 1 to 1440',
    }),
  },
  { additionalProperties: false },
);

/** The lifecycle of a route or of one version. */
const lifecycleProperties = {
  deprecated_at: Type.Optional(
    Instant('From then on responses carry `Deprecation` (RFC 9745) and, with `sunset_at`, `Sunset`.'),
  ),
  sunset_at: Type.Optional(Instant('From then on `after_sunset` applies (RFC 8594 `Sunset`).')),
  successor: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'What replaces it: a path served by another route (`/v3/orders`) or an absolute URL; for a version ' +
        'under `versions`, also the name of another version. Sent as `Link: <…>; rel="successor-version"`.',
    }),
  ),
  docs: Type.Optional(
    Type.String({
      pattern: '^https?://\\S+$',
      description: 'Where the deprecation is explained: `Link: <…>; rel="deprecation"`.',
      'x-expected': 'an http(s) URL',
    }),
  ),
  after_sunset: Type.Optional(
    Type.Union(
      AFTER_SUNSET.map((v) => Type.Literal(v)),
      {
        description:
          'After the sunset (and inside a brownout): `gone` answers 410 problem+json naming the successor, ' +
          '`redirect` answers 308 to the successor, `serve` keeps serving (headers only). Default: gone.',
        'x-expected': AFTER_SUNSET.join(', '),
      },
    ),
  ),
  brownouts: Type.Optional(
    Type.Union([Type.Array(BrownoutWindow, { maxItems: 100 }), BrownoutSchedule], {
      description:
        'Windows before the sunset in which the route already answers as it will after it, so clients ' +
        'that ignore the headers notice in time: a list of `{ at, duration_m }`, or a schedule ' +
        '`{ from, every_h, duration_m }`.',
      'x-expected': 'a list of { at, duration_m } or { from, every_h, duration_m }',
    }),
  ),
};

const VersionEntry = Type.Object(
  {
    upstream: Type.Optional(
      Type.String({
        minLength: 1,
        description: "This version's upstream (a named upstream or a URL); default: the route's.",
      }),
    ),
    ...lifecycleProperties,
  },
  { additionalProperties: false },
);

export const VERSION_SOURCES = ['path', 'header', 'media_type', 'query'] as const;
export type VersionSource = (typeof VERSION_SOURCES)[number];

const VERSION_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$';

export const VersionSchema = Type.Object(
  {
    ...lifecycleProperties,
    from: Type.Optional(
      Type.Union(
        VERSION_SOURCES.map((v) => Type.Literal(v)),
        {
          description:
            'Where a request names its version: `path` (a parameter of the route path, `/:version/orders`), ' +
            '`header` (`Accept-Version: 2`), `media_type` (`Accept: application/vnd.<vendor>.v2+json`) or ' +
            '`query` (`?version=2`). Requires `versions`.',
          'x-expected': VERSION_SOURCES.join(', '),
        },
      ),
    ),
    param: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'from: path — the route path parameter holding the version (default `version`).',
      }),
    ),
    header: Type.Optional(
      Type.String({
        pattern: HEADER_NAME_PATTERN,
        description: 'from: header — the request header naming the version (default `Accept-Version`).',
      }),
    ),
    vendor: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$',
        description: 'from: media_type — the vendor tree name in `application/vnd.<vendor>.v<version>+json`.',
      }),
    ),
    query: Type.Optional(
      Type.String({
        minLength: 1,
        pattern: '^[A-Za-z0-9._~-]+$',
        description: 'from: query — the query parameter naming the version (default `version`).',
      }),
    ),
    default: Type.Optional(
      Type.String({
        pattern: VERSION_NAME,
        description: 'The version a request gets when it names none; without it such a request gets 400.',
      }),
    ),
    versions: Type.Optional(
      Type.Record(Type.String({ pattern: VERSION_NAME }), VersionEntry, {
        description:
          'The versions this route serves, by name (`"1"`, `"2"`, `"2024-06"`): each may have its own ' +
          'upstream and lifecycle. Path versions are written as they appear in the path (`v1`).',
      }),
    ),
    count_consumers: Type.Optional(
      Type.Boolean({
        description:
          'Count calls to a deprecated version per consumer (portico_version_deprecated_calls_total, capped ' +
          'label set), so its owners know whom to contact. Default false.',
      }),
    ),
  },
  { additionalProperties: false },
);

export type VersionConfig = Static<typeof VersionSchema>;
export type VersionEntryConfig = Static<typeof VersionEntry>;
export type Lifecycle = Pick<
  VersionEntryConfig,
  'deprecated_at' | 'sunset_at' | 'successor' | 'docs' | 'after_sunset' | 'brownouts'
>;
