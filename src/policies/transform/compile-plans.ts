// Compiles a route's `transform.request` and `transform.response` into the plans the policy runs: header,
// query and path edits, the body plan of each side (what it reads, edits and writes), the response's
// statuses, status map, wrap_json and add_pagination. Every independent part compiles on its own, so one
// load reports all of the route's transform mistakes.
import { PolicyConfigError, type ConfigErrorCollector } from '../../pipeline/policy.js';
import { compileBodyOps, type BodyOps } from './body-ops.js';
import { compileHeaderOps, type HeaderOps } from './header-ops.js';
import { compileJsonPath, isRefusedKey, type JsonPath } from './json-path/index.js';
import { JSON_CONTENT_TYPE, XML_CONTENT_TYPE, type BodyKind } from './media-type.js';
import { compilePagination, PaginationConfigError, type CompiledPagination } from './pagination/index.js';
import { compilePathRewrite, type PathRewrite } from './path-rewrite.js';
import { compileQueryOps, type QueryOps } from './query-ops.js';
import type { RequestTransformConfig, ResponseTransformConfig, XmlSwitchConfig } from './schema.js';
import { xmlCodec, type XmlCodec } from './xml/xml-json.js';

/** How a side reads, edits and writes a body. */
export interface BodyPlan {
  /** What the body must be: XML with xml_to_json, JSON otherwise. */
  readonly input: BodyKind;
  readonly fromXml: XmlCodec | undefined;
  readonly toXml: XmlCodec | undefined;
  readonly ops: BodyOps | undefined;
  /** The Content-Type to send when the kind changes, undefined when it stays. */
  readonly contentType: string | undefined;
}

export interface RequestPlan {
  readonly headers: HeaderOps | undefined;
  readonly query: QueryOps | undefined;
  readonly path: PathRewrite | undefined;
  readonly body: BodyPlan | undefined;
}

export interface ResponsePlan {
  readonly body: BodyPlan | undefined;
  readonly wrap: string | undefined;
  readonly pagination: CompiledPagination | undefined;
  readonly totalField: JsonPath | undefined;
  /** statuses[code] = 1 where body rules apply. */
  readonly statuses: Uint8Array;
  readonly statusMap: ReadonlyMap<number, number>;
  readonly headers: HeaderOps | undefined;
}

export function compileRequest(c: RequestTransformConfig, issues: ConfigErrorCollector): RequestPlan {
  return {
    headers: issues.part(() => compileHeaderOps(c, 'request', ['request'])),
    query: issues.part(() => compileQueryOps(c.query, ['request', 'query'])),
    path: issues.part(() => compilePathRewrite(c.path, ['request', 'path'])),
    body: compileBodyPlan(c, ['request'], false, issues),
  };
}

export function compileResponse(c: ResponseTransformConfig, issues: ConfigErrorCollector): ResponsePlan {
  const statuses = new Uint8Array(600);
  for (const s of c.statuses ?? ['2xx']) {
    if (typeof s === 'number') statuses[s] = 1;
    else for (let code = Number(s[0]) * 100; code < Number(s[0]) * 100 + 100; code++) statuses[code] = 1;
  }
  if (c.wrap_json !== undefined && isRefusedKey(c.wrap_json))
    issues.part(() => {
      throw new PolicyConfigError(`"${c.wrap_json}" cannot be a key`, ['response', 'wrap_json']);
    });
  let pagination: CompiledPagination | undefined;
  let totalField: JsonPath | undefined;
  if (c.add_pagination !== undefined)
    issues.part(() => {
      ({ pagination, totalField } = compilePaginationPart(c.add_pagination!));
    });
  return {
    body: compileBodyPlan(c, ['response'], c.wrap_json !== undefined || pagination !== undefined, issues),
    wrap: c.wrap_json,
    pagination,
    totalField,
    statuses,
    statusMap: new Map(Object.entries(c.status_map ?? {}).map(([from, to]) => [Number(from), to])),
    headers: issues.part(() => compileHeaderOps(c, 'response', ['response'])),
  };
}

function compilePaginationPart(config: NonNullable<ResponseTransformConfig['add_pagination']>): {
  pagination: CompiledPagination;
  totalField: JsonPath | undefined;
} {
  const at = ['response', 'add_pagination'];
  let pagination: CompiledPagination;
  try {
    pagination = compilePagination(config);
  } catch (err) {
    if (err instanceof PaginationConfigError) throw new PolicyConfigError(err.message, [...at, err.key]);
    throw err;
  }
  if (isRefusedKey(pagination.field))
    throw new PolicyConfigError(`"${pagination.field}" cannot be a key`, [...at, 'field']);
  let totalField: JsonPath | undefined;
  if (config.total_field !== undefined) {
    try {
      totalField = compileJsonPath(config.total_field);
    } catch (err) {
      throw new PolicyConfigError(
        `field path ${JSON.stringify(config.total_field)}: ${(err as Error).message}`,
        [...at, 'total_field'],
      );
    }
  }
  return { pagination, totalField };
}

/** The side's body plan; undefined when nothing touches the body (and `always` is not set). */
function compileBodyPlan(
  c: RequestTransformConfig | ResponseTransformConfig,
  at: readonly (string | number)[],
  always: boolean,
  issues: ConfigErrorCollector,
): BodyPlan | undefined {
  const ops = issues.part(() => compileBodyOps(c, at));
  const fromXml = issues.part(() => codec(c.xml_to_json, [...at, 'xml_to_json']));
  const toXml = issues.part(() => codec(c.json_to_xml, [...at, 'json_to_xml']));
  if (ops === undefined && fromXml === undefined && toXml === undefined && !always) return undefined;
  const contentType =
    toXml !== undefined && fromXml === undefined
      ? XML_CONTENT_TYPE
      : fromXml !== undefined && toXml === undefined
        ? JSON_CONTENT_TYPE
        : undefined;
  return { input: fromXml === undefined ? 'json' : 'xml', fromXml, toXml, ops, contentType };
}

function codec(c: XmlSwitchConfig | undefined, at: readonly (string | number)[]): XmlCodec | undefined {
  if (c === undefined || c === false) return undefined;
  if (c === true) return xmlCodec();
  try {
    return xmlCodec({
      ...(c.root_element !== undefined && { rootElement: c.root_element }),
      ...(c.keep_root !== undefined && { keepRoot: c.keep_root }),
      ...(c.attribute_prefix !== undefined && { attributePrefix: c.attribute_prefix }),
      ...(c.text_key !== undefined && { textKey: c.text_key }),
      ...(c.item_element !== undefined && { itemElement: c.item_element }),
      ...(c.declaration !== undefined && { declaration: c.declaration }),
      ...(c.parse_values !== undefined && { parseValues: c.parse_values }),
      ...(c.always_array !== undefined && { alwaysArray: c.always_array }),
    });
  } catch (err) {
    if (err instanceof RangeError) throw new PolicyConfigError(err.message, at);
    throw err;
  }
}
