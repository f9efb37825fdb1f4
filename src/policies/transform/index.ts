// Request and response transformation (transform phase): header, query and path edits on the way up;
// status and header edits on the way down; and body rewriting on both sides — JSON field operations,
// JSON⇄XML, wrap_json and add_pagination. Everything is compiled at load. Only a route with a body
// operation holds bodies in memory (up to max_body_bytes), and only bodies its rules apply to; every other
// body streams through untouched.
import { isUtf8 } from 'node:buffer';
import { createStateKey, type Exchange } from '../../pipeline/exchange.js';
import { ResponseBodyTooLargeError, type GatewayResponse } from '../../pipeline/gateway-response.js';
import {
  ConfigErrorCollector,
  definePolicy,
  PolicyConfigError,
  type CompileContext,
  type Policy,
} from '../../pipeline/policy.js';
import { Problem } from '../../http/problem.js';
import { problems } from '../../http/problems.js';
import { applyBodyOps, compileBodyOps, type BodyOps } from './body-ops.js';
import {
  ContentCodingError,
  decodeBody,
  DecodedTooLargeError,
  encodeBody,
  parseContentCoding,
} from './body/content-coding.js';
import { parseJson, plainNumbers, stringifyJson } from './body/lossless-json.js';
import {
  applyRequestHeaderOps,
  applyResponseHeaderOps,
  compileHeaderOps,
  type HeaderOps,
} from './header-ops.js';
import { compileJsonPath, getAll, isRefusedKey, type JsonPath } from './json-path/index.js';
import { isKind, JSON_CONTENT_TYPE, mediaTypeOf, XML_CONTENT_TYPE, type BodyKind } from './media-type.js';
import {
  compilePagination,
  paginate,
  PaginationConfigError,
  resolvePage,
  totalFromHeader,
  totalFromValue,
  type CompiledPagination,
  type PageRequest,
} from './pagination/index.js';
import { compilePathRewrite, rewritePath, type PathRewrite } from './path-rewrite.js';
import { applyQueryOps, compileQueryOps, type QueryOps } from './query-ops.js';
import { readResponseBody, readStream, RequestBodyTooLargeError } from './read-body.js';
import {
  TransformSchema,
  type RequestTransformConfig,
  type ResponseTransformConfig,
  type TransformConfig,
  type XmlSwitchConfig,
} from './schema.js';
import { xmlCodec, type XmlCodec } from './xml/xml-json.js';

/** The page a request resolved, for its response's pagination. */
const PAGE = createStateKey<PageRequest>('transform.page');

/** How a side reads, edits and writes a body. */
interface BodyPlan {
  /** What the body must be: XML with xml_to_json, JSON otherwise. */
  readonly input: BodyKind;
  readonly fromXml: XmlCodec | undefined;
  readonly toXml: XmlCodec | undefined;
  readonly ops: BodyOps | undefined;
  /** The Content-Type to send when the kind changes, undefined when it stays. */
  readonly contentType: string | undefined;
}

interface ResponsePlan {
  readonly body: BodyPlan | undefined;
  readonly wrap: string | undefined;
  readonly pagination: CompiledPagination | undefined;
  readonly totalField: JsonPath | undefined;
  /** statuses[code] = 1 where body rules apply. */
  readonly statuses: Uint8Array;
  readonly statusMap: ReadonlyMap<number, number>;
  readonly headers: HeaderOps | undefined;
}

/** A body the rules cannot read: the reason goes to the log (pass) or the problem (reject). */
class InvalidBody {
  constructor(
    readonly reason: string,
    /** The status a rejected request gets: 400 (unreadable) or 415 (not the expected media type). */
    readonly status: 400 | 415 = 400,
  ) {}
}

/** Between two warnings about bodies passed through unchanged, per route and side. */
const WARN_INTERVAL_MS = 10_000;

export const transform = definePolicy({
  name: 'transform',
  phase: 'transform',
  summary:
    'Rewrite requests and responses: headers, query, path, JSON/XML bodies, wrapping, pagination, masking.',
  schema: TransformSchema,
  create(config: TransformConfig, ctx: CompileContext): Policy {
    const maxBytes = config.max_body_bytes;
    const reject = config.on_invalid_body === 'reject';
    // Every independent part compiles, so one load reports all of the route's transform mistakes.
    const issues = new ConfigErrorCollector();
    const request = config.request === undefined ? undefined : compileRequest(config.request, issues);
    const response = config.response === undefined ? undefined : compileResponse(config.response, issues);
    issues.check();
    const warnRequest = warner(ctx, 'request');
    const warnResponse = warner(ctx, 'response');
    const policy: Policy = {};

    if (request !== undefined || response?.pagination !== undefined) {
      const pagination = response?.pagination;
      policy.onRequest = (ex: Exchange): Promise<void> | undefined => {
        if (pagination !== undefined) {
          const page = resolvePage(pagination, ex.path, ex.query);
          if ('error' in page) throw problems.badRequest(page.error);
          ex.query = page.upstreamQuery;
          ex.set(PAGE, page);
        }
        if (request === undefined) return undefined;
        if (request.headers !== undefined) applyRequestHeaderOps(request.headers, ex);
        if (request.query !== undefined) ex.query = applyQueryOps(request.query, ex, ex.query);
        if (request.path !== undefined) {
          const path = rewritePath(request.path, ex.path);
          if (path !== undefined) ex.upstreamPath = path;
        }
        if (request.body === undefined || ex.requestBody === null) return undefined;
        return transformRequestBody(ex, request.body, maxBytes, reject, warnRequest);
      };
    }

    if (response !== undefined) {
      policy.onResponse = (
        ex: Exchange,
        res: GatewayResponse,
      ): GatewayResponse | Promise<GatewayResponse> => {
        if (res.source !== 'upstream') {
          if (response.headers !== undefined) applyResponseHeaderOps(response.headers, ex, res.headers);
          return res;
        }
        const status = res.status;
        const mapped = response.statusMap.get(status);
        if (mapped !== undefined) {
          res.status = mapped;
          // 204 and 304 carry no body (RFC 9110 15.3.5, 15.4.5): the upstream's is dropped, unread.
          if (mapped === 204 || mapped === 304) res = withoutBody(res);
        }
        if (response.statuses[status] === 1 && hasBody(ex, status, res)) {
          if (response.body !== undefined)
            return transformResponseBody(ex, res, response, maxBytes, reject, warnResponse);
        }
        if (response.headers !== undefined) applyResponseHeaderOps(response.headers, ex, res.headers);
        return res;
      };
    }
    return policy;
  },
});

function compileRequest(
  c: RequestTransformConfig,
  issues: ConfigErrorCollector,
): {
  headers: HeaderOps | undefined;
  query: QueryOps | undefined;
  path: PathRewrite | undefined;
  body: BodyPlan | undefined;
} {
  return {
    headers: issues.part(() => compileHeaderOps(c, 'request', ['request'])),
    query: issues.part(() => compileQueryOps(c.query, ['request', 'query'])),
    path: issues.part(() => compilePathRewrite(c.path, ['request', 'path'])),
    body: compileBodyPlan(c, ['request'], false, issues),
  };
}

function compileResponse(c: ResponseTransformConfig, issues: ConfigErrorCollector): ResponsePlan {
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

function withoutBody(res: GatewayResponse): GatewayResponse {
  const body = res.body;
  if (body !== null && typeof body === 'object' && 'destroy' in body) body.destroy();
  const headers = res.headers;
  delete headers['content-length'];
  delete headers['transfer-encoding'];
  return { ...res, body: null };
}

/** Whether the response can carry a body the rules should read. */
function hasBody(ex: Exchange, status: number, res: GatewayResponse): boolean {
  return res.body !== null && ex.method !== 'HEAD' && status !== 204 && status !== 304 && status !== 206;
}

async function transformRequestBody(
  ex: Exchange,
  plan: BodyPlan,
  maxBytes: number,
  reject: boolean,
  warn: Warn,
): Promise<void> {
  const headers = ex.headers;
  const essence = mediaTypeOf(headers.get('content-type'));
  const codings = parseContentCoding(headers.getAll('content-encoding'));
  const refusal = !isKind(essence, plan.input)
    ? new InvalidBody(`the content type "${essence}" is not ${plan.input.toUpperCase()}`, 415)
    : codings === null
      ? new InvalidBody(
          `the content coding "${headers.getAll('content-encoding').join(', ')}" is not supported`,
          415,
        )
      : undefined;
  if (refusal !== undefined) return invalidRequest(ex, refusal, reject, warn);
  if (Number(headers.get('content-length') ?? 0) > maxBytes) throw tooLarge(ex, maxBytes);

  const body = ex.requestBody!;
  let raw: Buffer;
  try {
    raw =
      body instanceof Uint8Array
        ? Buffer.from(body.buffer, body.byteOffset, body.byteLength)
        : await readStream(body, maxBytes, (l) => new RequestBodyTooLargeError(l));
  } catch (err) {
    if (err instanceof RequestBodyTooLargeError) throw tooLarge(ex, maxBytes);
    // The gateway's own limit (limits.max_body_bytes), hit while streaming.
    const limit = (err as { limit?: unknown }).limit;
    if (typeof limit === 'number') throw tooLarge(ex, limit);
    throw problems.badRequest('The request body could not be read');
  }
  if (raw.length > maxBytes) throw tooLarge(ex, maxBytes);
  ex.requestBody = raw;
  if (raw.length === 0) return;
  let decoded = raw;
  if (codings!.length > 0) {
    try {
      decoded = await decodeBody(raw, codings!, maxBytes);
    } catch (err) {
      if (err instanceof DecodedTooLargeError) throw tooLarge(ex, maxBytes);
      if (err instanceof ContentCodingError)
        return invalidRequest(ex, new InvalidBody(err.message), reject, warn);
      throw err;
    }
  }
  const out = rewriteBody(plan, decoded, ex, undefined);
  if (out instanceof InvalidBody) return invalidRequest(ex, out, reject, warn);
  ex.requestBody = out;
  headers.set('content-length', String(out.length));
  if (codings!.length > 0) headers.delete('content-encoding');
  if (plan.contentType !== undefined) headers.set('content-type', plan.contentType);
}

function invalidRequest(ex: Exchange, invalid: InvalidBody, reject: boolean, warn: Warn): void {
  if (reject) {
    throw invalid.status === 415
      ? problems.unsupportedMediaType(`The request body cannot be transformed: ${invalid.reason}`)
      : problems.badRequest(`The request body cannot be transformed: ${invalid.reason}`);
  }
  warn(ex, invalid.reason);
}

function tooLarge(ex: Exchange, limit: number): Problem {
  // The rest of the body is never read: the connection closes after the answer.
  ex.res.shouldKeepAlive = false;
  return problems.payloadTooLarge(limit);
}

async function transformResponseBody(
  ex: Exchange,
  res: GatewayResponse,
  plan: ResponsePlan,
  maxBytes: number,
  reject: boolean,
  warn: Warn,
): Promise<GatewayResponse> {
  const headers = res.headers;
  const bodyPlan = plan.body!;
  const essence = mediaTypeOf(headers['content-type']);
  const codings = parseContentCoding(headers['content-encoding']);
  const refusal = !isKind(essence, bodyPlan.input)
    ? new InvalidBody(`the content type "${essence}" is not ${bodyPlan.input.toUpperCase()}`)
    : codings === null
      ? new InvalidBody(`the content coding "${String(headers['content-encoding'])}" is not supported`)
      : undefined;
  // Not a body the rules can read: it streams on untouched (nothing was read yet).
  if (refusal !== undefined) return invalidResponse(ex, res, refusal, reject, warn, plan);

  let raw: Buffer;
  try {
    raw = await readResponseBody(res, maxBytes);
  } catch (err) {
    throw responseReadProblem(err, maxBytes);
  }
  let decoded = raw;
  if (codings!.length > 0) {
    try {
      decoded = await decodeBody(raw, codings!, maxBytes);
    } catch (err) {
      if (err instanceof DecodedTooLargeError)
        throw responseReadProblem(new ResponseBodyTooLargeError(maxBytes), maxBytes);
      if (err instanceof ContentCodingError)
        return invalidResponse(ex, { ...res, body: raw }, new InvalidBody(err.message), reject, warn, plan);
      throw err;
    }
  }
  if (decoded.length === 0) {
    // Nothing to transform (an empty 200): not worth a warning.
    if (plan.headers !== undefined) applyResponseHeaderOps(plan.headers, ex, headers);
    return { ...res, body: raw };
  }
  const out = rewriteBody(bodyPlan, decoded, ex, (value) => finishResponseValue(value, ex, res, plan));
  if (out instanceof InvalidBody) return invalidResponse(ex, { ...res, body: raw }, out, reject, warn, plan);
  const encoded = codings!.length > 0 ? await encodeBody(out, codings!) : out;
  headers['content-length'] = String(encoded.length);
  delete headers['transfer-encoding'];
  if (bodyPlan.contentType !== undefined) headers['content-type'] = bodyPlan.contentType;
  // The bytes changed: a strong validator or digest of the upstream's would now be wrong.
  const etag = headers['etag'];
  if (typeof etag === 'string' && !etag.startsWith('W/')) headers['etag'] = 'W/' + etag;
  delete headers['content-md5'];
  delete headers['digest'];
  delete headers['content-digest'];
  delete headers['repr-digest'];
  delete headers['accept-ranges'];
  if (plan.headers !== undefined) applyResponseHeaderOps(plan.headers, ex, headers);
  return { ...res, headers, body: encoded };
}

function invalidResponse(
  ex: Exchange,
  res: GatewayResponse,
  invalid: InvalidBody,
  reject: boolean,
  warn: Warn,
  plan: ResponsePlan,
): GatewayResponse {
  if (reject) {
    const body = res.body;
    if (body !== null && typeof body === 'object' && 'destroy' in body) body.destroy();
    throw problems.badGateway(`The upstream response cannot be transformed: ${invalid.reason}`);
  }
  warn(ex, invalid.reason);
  if (plan.headers !== undefined) applyResponseHeaderOps(plan.headers, ex, res.headers);
  return res;
}

function responseReadProblem(err: unknown, maxBytes: number): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof ResponseBodyTooLargeError)
    return problems.badGateway(
      `The upstream response exceeds the ${maxBytes} bytes this route can transform`,
    );
  const code = (err as { code?: unknown }).code;
  if (code === 'PORTICO_ROUTE_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return problems.upstreamTimeout('The upstream did not send its whole response in time', err);
  return problems.badGateway('The upstream response ended early', err);
}

/** Parses, edits and serializes one body; an InvalidBody when it is not what the plan reads or writes. */
function rewriteBody(
  plan: BodyPlan,
  bytes: Buffer,
  ex: Exchange,
  finish: ((value: unknown) => unknown) | undefined,
): Buffer | InvalidBody {
  if (!isUtf8(bytes)) return new InvalidBody('the body is not valid UTF-8');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  let marker: string | null = null;
  try {
    if (plan.fromXml !== undefined) value = plan.fromXml.xmlToJson(text);
    else ({ value, marker } = parseJson(text));
  } catch (err) {
    return new InvalidBody(
      `${plan.input === 'xml' ? 'invalid XML' : 'invalid JSON'}: ${(err as Error).message}`,
    );
  }
  if (plan.ops !== undefined) value = applyBodyOps(value, plan.ops, ex, marker);
  if (finish !== undefined) value = finish(value);
  if (plan.toXml === undefined) return Buffer.from(stringifyJson({ value, marker }));
  try {
    return Buffer.from(plan.toXml.jsonToXml(plainNumbers(value, marker)));
  } catch (err) {
    return new InvalidBody(`no XML form: ${(err as Error).message}`);
  }
}

/** wrap_json and add_pagination, after the field operations. */
function finishResponseValue(
  value: unknown,
  ex: Exchange,
  res: GatewayResponse,
  plan: ResponsePlan,
): unknown {
  const page = plan.pagination === undefined ? undefined : ex.get(PAGE);
  let total: number | undefined;
  let itemCount: number | undefined;
  if (page !== undefined) {
    const p = plan.pagination!;
    if (p.totalHeader !== undefined) total = totalFromHeader(res.headers[p.totalHeader]);
    if (total === undefined && plan.totalField !== undefined)
      total = totalFromValue(getAll(value, plan.totalField)[0]);
    if (Array.isArray(value)) itemCount = value.length;
  }
  if (plan.wrap !== undefined) value = { [plan.wrap]: value };
  if (page !== undefined) {
    const p = plan.pagination!;
    const { object, link } = paginate(p, page, { itemCount, total });
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      (value as Record<string, unknown>)[p.field] = object;
    const existing = res.headers['link'];
    res.headers['link'] =
      existing === undefined ? link : Array.isArray(existing) ? [...existing, link] : [existing, link];
  }
  return value;
}

type Warn = (ex: Exchange, reason: string) => void;

/** Logs bodies passed through unchanged: at most one line per interval per route and side, with a count. */
function warner(ctx: CompileContext, side: 'request' | 'response'): Warn {
  let last = -Infinity;
  let suppressed = 0;
  return (ex, reason) => {
    const now = performance.now();
    if (now - last < WARN_INTERVAL_MS) {
      suppressed++;
      return;
    }
    last = now;
    ctx.log.warn(
      {
        event: 'transform_body_passed',
        route: ctx.routeName,
        side,
        reason,
        trace_id: ex.traceId,
        suppressed,
      },
      `transform: ${side} body passed through unchanged (${reason})`,
    );
    suppressed = 0;
  };
}
