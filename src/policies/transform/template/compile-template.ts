// Header values and JSON defaults built from the request (`X-User: ${consumer.id}`), compiled once at config
// load into literal parts and value readers, so a request costs a few field reads and one string.
//
// Syntax and rules:
// - `${source}` or `${source.name}`; sources: consumer.id, consumer.tier, header.<name>, query.<name>,
//   path.<name> (a route parameter), path (the request path), method, route, client_ip, trace_id.
// - `${source:-fallback}` renders `fallback` when the value is missing or empty (shell `:-`). The fallback is
//   literal text up to the first `}`; it cannot hold `}` or another `${`.
// - `$${` is a literal `${` (as in the config loader's ${VAR}), so a `$` cannot directly precede an expression.
//   A `$` not followed by `{` and a `}` outside an expression are plain text.
// - A missing value is "": an absent header or query parameter, an anonymous consumer, a consumer without a
//   tier, a route parameter the route does not capture, the route name before routing.
// - header.<name> is case-insensitive; several lines of one header are joined with ", " (RFC 9110 5.3),
//   Cookie lines with "; " (RFC 6265 5.4).
// - query.<name> is case-sensitive and decoded as application/x-www-form-urlencoded, exactly as
//   URLSearchParams and the router's `match.query` decode it: `+` is a space, `%XX` UTF-8; the first of
//   several values wins. The raw query is scanned for that one parameter on each render (no parse, no cache).
// - path.<name> is the router's decoded parameter; path is the normalized request path (percent-encoded,
//   before strip_prefix) at the time of rendering.
// - Output for the 'header' target (the default) is always a valid field value: controls in values (CR, LF,
//   NUL, ...) become SP (RFC 9110 5.5, so a value cannot inject a header), non-ASCII text goes as UTF-8 octets,
//   request header octets pass through as sent; a control in the template itself is a TemplateError. Output for
//   the 'text' target (JSON) is Unicode: values are not altered, header octets are decoded when valid UTF-8.
import type { Exchange } from '../../../pipeline/exchange.js';
import { IDENTITY } from '../../../pipeline/identity.js';
import {
  firstControl,
  octetsToField,
  octetsToText,
  textToField,
  textToText,
  type Encode,
  type TemplateTarget,
} from './field-value.js';
import { queryValue } from '../../../lib/query.js';
import { isTchar } from '../../../lib/http-token.js';

export type { TemplateTarget } from './field-value.js';

/** A template that cannot compile: why, and where (`position`: 0-based UTF-16 index into `template`). */
export class TemplateError extends Error {
  constructor(
    reason: string,
    readonly template: string,
    readonly position: number,
  ) {
    super(`${JSON.stringify(template)}, column ${position + 1}: ${reason}`);
    this.name = 'TemplateError';
  }
}

/** A compiled template: shared, immutable, rendered once per request that needs it. */
export interface Template {
  /** The template as written. */
  readonly source: string;
  /** The output when the template reads nothing from the request (`render` then returns it too). */
  readonly constant: string | undefined;
  /** Renders against one request. */
  render(ex: Exchange): string;
  /** Sources read, each once, in order of first use (`header.x-foo`, `query.page`, `path.id`, `method`). */
  readonly uses: readonly string[];
}

export interface TemplateOptions {
  /** Where the output goes: 'header' (default) makes it a valid header value; 'text' keeps Unicode. */
  readonly target?: TemplateTarget;
}

/** What may appear inside `${...}`, as error messages and docs list it. */
export const TEMPLATE_SOURCES =
  'consumer.id, consumer.tier, header.<name>, query.<name>, path.<name>, path, method, route, client_ip, trace_id';

type Read = (ex: Exchange) => string;
type Part = (ex: Exchange) => string;

/** One `${...}` as written. */
interface Expression {
  /** Normalized `uses` entry. */
  readonly use: string;
  readonly read: Read;
  /** Request header values are octets; everything else is Unicode text. */
  readonly octets: boolean;
  readonly fallback: string;
}

/** Compiles `text`, or throws a TemplateError naming the first problem and its position. */
export function compileTemplate(text: string, options: TemplateOptions = {}): Template {
  const target = options.target ?? 'header';
  if (target === 'header') {
    const at = firstControl(text);
    if (at >= 0)
      throw new TemplateError('a header value cannot hold a line break or control character', text, at);
  }
  const literal: Encode = target === 'header' ? textToField : textToText;
  const literals: string[] = [];
  const expressions: Expression[] = [];
  let pending = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      pending += text.slice(i);
      break;
    }
    if (text.startsWith('$${', dollar)) {
      pending += text.slice(i, dollar) + '${';
      i = dollar + 3;
    } else if (text.charCodeAt(dollar + 1) === 0x7b /* { */) {
      literals.push(literal(pending + text.slice(i, dollar)));
      pending = '';
      const close = text.indexOf('}', dollar + 2);
      if (close < 0) throw sourceError('"${" is not closed by "}"', text, dollar);
      expressions.push(parseExpression(text, dollar + 2, close, literal));
      i = close + 1;
    } else {
      pending += text.slice(i, dollar + 1);
      i = dollar + 1;
    }
  }
  literals.push(literal(pending));
  return assemble(text, literals, expressions, target);
}

/** An error inside `${...}`: the message lists what may be written there. */
function sourceError(reason: string, text: string, at: number): TemplateError {
  return new TemplateError(`${reason}; valid sources: ${TEMPLATE_SOURCES}`, text, at);
}

function assemble(
  source: string,
  literals: readonly string[],
  expressions: readonly Expression[],
  target: TemplateTarget,
): Template {
  const uses = [...new Set(expressions.map((e) => e.use))];
  if (expressions.length === 0) {
    const constant = literals[0]!;
    return { source, constant, uses, render: () => constant };
  }
  const parts = expressions.map((e) => part(e, target));
  if (parts.length === 1 && literals[0] === '' && literals[1] === '') {
    return { source, constant: undefined, uses, render: parts[0]! };
  }
  const head = literals[0]!;
  const tails = literals.slice(1);
  return {
    source,
    constant: undefined,
    uses,
    render: function renderTemplate(ex: Exchange): string {
      let out = head;
      for (let p = 0; p < parts.length; p++) out += parts[p]!(ex) + tails[p]!;
      return out;
    },
  };
}

function part(e: Expression, target: TemplateTarget): Part {
  const encode: Encode =
    target === 'header' ? (e.octets ? octetsToField : textToField) : e.octets ? octetsToText : textToText;
  const { read, fallback } = e;
  return function renderPart(ex: Exchange): string {
    const value = read(ex);
    return value === '' ? fallback : encode(value);
  };
}

/** Parses text[start, close): `source`, `source.name`, either with `:-fallback`. */
function parseExpression(text: string, start: number, close: number, literal: Encode): Expression {
  const nested = text.indexOf('${', start);
  if (nested >= 0 && nested < close) {
    throw sourceError('expected "}" before the next "${" (expressions do not nest)', text, nested);
  }
  const body = text.slice(start, close);
  const sep = body.indexOf(':-');
  const ref = sep < 0 ? body : body.slice(0, sep);
  if (ref === '') throw sourceError('empty expression', text, start);
  const dot = ref.indexOf('.');
  const source =
    dot < 0
      ? readSource(ref, undefined, text, start)
      : readSource(ref.slice(0, dot), ref.slice(dot + 1), text, start);
  return { ...source, fallback: sep < 0 ? '' : literal(body.slice(sep + 2)) };
}

/** The reader of `kind` or `kind.name`, written at text[start]; throws when there is no such source. */
function readSource(
  kind: string,
  name: string | undefined,
  text: string,
  start: number,
): Omit<Expression, 'fallback'> {
  const nameAt = start + kind.length + 1;
  const fail = (reason: string, at: number): never => {
    throw sourceError(reason, text, at);
  };
  const named = (what: string): string => {
    if (name === undefined) return fail(`"${kind}" needs a name: \${${kind}.<${what}>}`, nameAt - 1);
    if (name === '') return fail(`"${kind}." needs a ${what} after the dot`, nameAt);
    return name;
  };
  if (kind === 'header') {
    const lower = checkHeaderName(named('header name'), text, nameAt).toLowerCase();
    const separator = lower === 'cookie' ? '; ' : ', ';
    return {
      use: `header.${lower}`,
      octets: true,
      read: (ex) => headerValue(ex.headers.raw, lower, separator),
    };
  }
  if (kind === 'query' || (kind === 'path' && name !== undefined)) {
    const key = checkName(named(kind === 'query' ? 'parameter name' : 'route parameter name'), text, nameAt);
    const read: Read =
      kind === 'query'
        ? (ex) => queryValue(ex.query, key) ?? ''
        : (ex) => (Object.hasOwn(ex.params, key) ? (ex.params[key] ?? '') : '');
    return { use: `${kind}.${key}`, octets: false, read };
  }
  if (kind === 'consumer') {
    const field = name ?? '';
    const read = Object.hasOwn(CONSUMER, field) ? CONSUMER[field] : undefined;
    if (read !== undefined) return { use: `consumer.${field}`, octets: false, read };
    if (name === undefined) return fail('"consumer" needs a field', nameAt - 1);
    return fail(`unknown consumer field "${field}"`, nameAt);
  }
  const read = Object.hasOwn(SIMPLE, kind) ? SIMPLE[kind] : undefined;
  if (read === undefined) return fail(`unknown source "${kind}"`, start);
  if (name !== undefined) return fail(`"${kind}" takes no name`, nameAt - 1);
  return { use: kind, octets: false, read };
}

const CONSUMER: Readonly<Record<string, Read>> = {
  id: (ex) => ex.consumerId,
  tier: (ex) => ex.get(IDENTITY)?.tier ?? '',
};

const SIMPLE: Readonly<Record<string, Read>> = {
  path: (ex) => ex.path,
  method: (ex) => ex.method,
  route: (ex) => ex.routeName,
  client_ip: (ex) => ex.clientIp,
  trace_id: (ex) => ex.traceId,
};

// RFC 9110 5.1: a field name is a token.
function checkHeaderName(name: string, text: string, at: number): string {
  for (let i = 0; i < name.length; i++) {
    if (isTchar(name.charCodeAt(i))) continue;
    const c = name[i]!;
    const hint = c === ':' ? ' (write ":-" for a fallback)' : '';
    throw sourceError(`${JSON.stringify(c)} cannot appear in a header name${hint}`, text, at + i);
  }
  return name;
}

/** Query and route parameter names: anything but spaces (a likely typo, never matched as written). */
function checkName(name: string, text: string, at: number): string {
  const space = name.search(/\s/);
  if (space >= 0) throw sourceError('a parameter name cannot hold a space', text, at + space);
  return name;
}

/** Every line of header `lower`, joined; "" when absent. Compares names without lower-casing copies. */
function headerValue(raw: readonly string[], lower: string, separator: string): string {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (!sameName(raw[i]!, lower)) continue;
    const line = raw[i + 1]!;
    value = value === undefined ? line : value + separator + line;
  }
  return value ?? '';
}

/** ASCII case-insensitive equality with an already lower-cased name (field names are ASCII tokens). */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  if (name === lower) return true;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}
