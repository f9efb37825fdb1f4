// Configuration of the route's `transform:` key: request and response rewriting, including the brief's DSL
// (`request.json_to_xml`, `request.add_headers`, `response.wrap_json`, `response.add_pagination`).
// Header and query edits have their own blocks; body field operations sit directly under each side.
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../lib/http-token.js';

const HeaderName = Type.String({ pattern: HEADER_NAME_PATTERN, 'x-expected': 'a header name' });
const HeaderValue = Type.String({
  pattern: '^[\\t\\x20-\\x7e\\x80-\\uffff]*$',
  'x-expected': 'a header value or template (no line breaks)',
});
const HeaderMap = (description: string) =>
  Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), HeaderValue, { description });
const ParamName = Type.String({ minLength: 1, maxLength: 256, 'x-expected': 'a query parameter name' });
const ParamMap = (description: string) =>
  Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.String({ maxLength: 8192 }), {
    description,
  });
const FieldPath = Type.String({
  minLength: 1,
  maxLength: 1024,
  'x-expected': 'a field path (a.b, items[].x, a[0]) or a JSON Pointer (/a/b)',
});

const HeaderEdits = Type.Object(
  {
    set: Type.Optional(
      HeaderMap('Replace (or create) these headers. Values are templates: ${header.X-Foo}.'),
    ),
    add: Type.Optional(HeaderMap('Add a value, keeping existing ones. Values are templates.')),
    remove: Type.Optional(Type.Array(HeaderName, { description: 'Remove these headers.' })),
    rename: Type.Optional(
      Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), HeaderName, {
        description: 'Rename headers (old: new), keeping their values; replaces any header of the new name.',
      }),
    ),
  },
  { additionalProperties: false },
);

const QueryEdits = Type.Object(
  {
    set: Type.Optional(ParamMap('Replace (or create) these parameters. Values are templates.')),
    add: Type.Optional(ParamMap('Append a value, keeping existing ones. Values are templates.')),
    remove: Type.Optional(Type.Array(ParamName, { description: 'Remove these parameters.' })),
    rename: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 256 }), ParamName, {
        description: 'Rename parameters (old: new), keeping their values.',
      }),
    ),
  },
  { additionalProperties: false },
);

const PathRewrite = Type.Object(
  {
    pattern: Type.String({
      minLength: 1,
      maxLength: 1024,
      description: 'Regular expression matched against the request path (JavaScript syntax).',
      'x-expected': 'a regular expression',
    }),
    replace: Type.String({
      maxLength: 2048,
      description:
        'The upstream path: $1, $<name> insert captures. Replaces strip_prefix for matching paths.',
      'x-expected': 'a path with $1 / $<name> references',
    }),
  },
  { additionalProperties: false },
);

const MaskRule = Type.Object(
  {
    path: FieldPath,
    keep_last: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 64, description: 'Characters left in clear at the end.' }),
    ),
    char: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1, description: 'Mask character (default *).' }),
    ),
    redact: Type.Optional(Type.Boolean({ description: 'Replace the whole value with `replacement`.' })),
    replacement: Type.Optional(Type.String({ maxLength: 256, description: 'Default [REDACTED].' })),
  },
  { additionalProperties: false },
);

const XmlShared = {
  root_element: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'json_to_xml: the document element (default root).',
    }),
  ),
  keep_root: Type.Optional(
    Type.Boolean({ description: 'The JSON value carries the document element as its one key.' }),
  ),
  attribute_prefix: Type.Optional(
    Type.String({ minLength: 1, maxLength: 8, description: 'Keys that are attributes (default @).' }),
  ),
  text_key: Type.Optional(
    Type.String({ minLength: 1, maxLength: 32, description: 'Key of element text (default #text).' }),
  ),
  item_element: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'Element of unkeyed array items (default item).',
    }),
  ),
  declaration: Type.Optional(Type.Boolean({ description: 'Write the XML declaration (default true).' })),
  parse_values: Type.Optional(
    Type.Boolean({ description: 'xml_to_json: numbers and booleans as JSON values (default: strings).' }),
  ),
  always_array: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
      description: 'xml_to_json: elements that are always arrays, even when they occur once.',
    }),
  ),
};
const XmlOptions = Type.Object(XmlShared, { additionalProperties: false });
const XmlSwitch = (description: string) =>
  Type.Union([Type.Boolean(), XmlOptions], { description, 'x-expected': 'true, false or XML options' });

/** Body field operations, the same on both sides. Order: rename, remove, default, set, mask. */
const BodyOps = {
  rename: Type.Optional(
    Type.Record(
      Type.String({ minLength: 1, maxLength: 1024 }),
      Type.String({ minLength: 1, maxLength: 256 }),
      {
        description: 'Rename fields: `path: new_key` (the last step of the path gets the new key).',
      },
    ),
  ),
  remove: Type.Optional(
    Type.Array(FieldPath, { description: 'Remove fields (items[].secret reaches into arrays).' }),
  ),
  default: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 1024 }), Type.Unknown(), {
      description: 'Set fields that are missing. String values are templates.',
    }),
  ),
  set: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 1024 }), Type.Unknown(), {
      description: 'Set fields, replacing what is there. String values are templates.',
    }),
  ),
  mask: Type.Optional(
    Type.Array(
      Type.Union([FieldPath, MaskRule], { 'x-expected': 'a field path or { path, keep_last | redact }' }),
      {
        description:
          'Mask fields: a path keeps the last 4 characters; { path, keep_last, redact } to choose.',
      },
    ),
  ),
};

const RequestSide = Type.Object(
  {
    add_headers: Type.Optional(HeaderMap('Brief form: set these headers (same as headers.set).')),
    remove_headers: Type.Optional(Type.Array(HeaderName, { description: 'Same as headers.remove.' })),
    headers: Type.Optional(HeaderEdits),
    query: Type.Optional(QueryEdits),
    path: Type.Optional(PathRewrite),
    ...BodyOps,
    json_to_xml: Type.Optional(XmlSwitch('Send the JSON body to the upstream as XML.')),
    xml_to_json: Type.Optional(XmlSwitch('Send the XML body to the upstream as JSON.')),
  },
  { additionalProperties: false },
);

const Pagination = Type.Object(
  {
    page_param: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Default page.' })),
    size_param: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Default size.' })),
    default_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    max_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    first_page: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)], { 'x-expected': '0 or 1' })),
    total_header: Type.Optional(HeaderName),
    total_field: Type.Optional(FieldPath),
    field: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  {
    additionalProperties: false,
    description: 'Page/size query parameters, a pagination object and Link headers.',
  },
);

const STATUS_CLASS = '^[1-5]xx$';
const ResponseSide = Type.Object(
  {
    add_headers: Type.Optional(HeaderMap('Set these response headers (same as headers.set).')),
    remove_headers: Type.Optional(Type.Array(HeaderName, { description: 'Same as headers.remove.' })),
    headers: Type.Optional(HeaderEdits),
    status_map: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[1-5][0-9][0-9]$' }),
        Type.Integer({ minimum: 200, maximum: 599, 'x-expected': 'a status code 200–599' }),
        { description: 'Change upstream statuses: "201": 200.' },
      ),
    ),
    statuses: Type.Optional(
      Type.Array(
        Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.String({ pattern: STATUS_CLASS })], {
          'x-expected': 'a status code or a class like 2xx',
        }),
        { minItems: 1, description: 'Upstream statuses whose bodies are transformed (default 2xx).' },
      ),
    ),
    ...BodyOps,
    wrap_json: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Put the body under this key: {"data": …}.' }),
    ),
    add_pagination: Type.Optional(Pagination),
    json_to_xml: Type.Optional(XmlSwitch('Send the JSON response to the client as XML.')),
    xml_to_json: Type.Optional(XmlSwitch('Send the XML response to the client as JSON.')),
  },
  { additionalProperties: false },
);

export const TransformSchema = Type.Object(
  {
    request: Type.Optional(RequestSide),
    response: Type.Optional(ResponseSide),
    max_body_bytes: Type.Integer({
      minimum: 1,
      maximum: 268_435_456,
      default: 4_194_304,
      description:
        'Largest body held for a body transform (after decompression): 413 for requests, 502 for responses.',
    }),
    on_invalid_body: Type.Union([Type.Literal('pass'), Type.Literal('reject')], {
      default: 'pass',
      description:
        'A body that is not the JSON/XML expected: pass it through unchanged (logged), or reject (400 / 502).',
      'x-expected': 'pass or reject',
    }),
  },
  { additionalProperties: false },
);

export type TransformConfig = Static<typeof TransformSchema>;
export type RequestTransformConfig = Static<typeof RequestSide>;
export type ResponseTransformConfig = Static<typeof ResponseSide>;
export type HeaderEditsConfig = Static<typeof HeaderEdits>;
export type QueryEditsConfig = Static<typeof QueryEdits>;
export type MaskRuleConfig = Static<typeof MaskRule>;
export type XmlSwitchConfig = boolean | Static<typeof XmlOptions>;
export type PaginationSchemaConfig = Static<typeof Pagination>;
export type BodyOpsConfig = { [K in keyof typeof BodyOps]?: Static<(typeof BodyOps)[K]> };
