// Body field operations (rename, remove, default, set, mask), compiled once per route side: paths parsed,
// templates compiled, refused keys rejected. Applying them edits a parsed JSON body in place.
import type { Exchange } from '../../pipeline/exchange.js';
import { PolicyConfigError } from '../../pipeline/policy.js';
import {
  compileJsonPath,
  isRefusedKey,
  JsonPathError,
  maskAt,
  removeAt,
  renameAt,
  setValue,
  type JsonPath,
  type Mask,
} from './json-path/index.js';
import { compileTemplate, TemplateError, type Template } from './template/compile-template.js';
import { isMarked } from './body/lossless-json.js';
import type { BodyOpsConfig } from './schema.js';

type ConfigPath = readonly (string | number)[];

/** What a string field path entry of `mask` keeps in clear. */
const DEFAULT_KEEP_LAST = 4;

interface SetOp {
  readonly path: JsonPath;
  /** A template for string values (rendered per request); otherwise the constant value. */
  readonly template: Template | undefined;
  readonly value: unknown;
}

/** A side's body field operations, in the order they run. */
export interface BodyOps {
  readonly rename: readonly { readonly path: JsonPath; readonly to: string }[];
  readonly remove: readonly JsonPath[];
  readonly defaults: readonly SetOp[];
  readonly set: readonly SetOp[];
  readonly mask: readonly { readonly path: JsonPath; readonly mask: Mask }[];
}

/** Compiles the body operations of one side; undefined when there are none. */
export function compileBodyOps(config: BodyOpsConfig, at: ConfigPath): BodyOps | undefined {
  const ops: BodyOps = {
    rename: Object.entries(config.rename ?? {}).map(([expr, to]) => {
      if (isRefusedKey(to)) throw new PolicyConfigError(`"${to}" cannot be a key`, [...at, 'rename', expr]);
      return { path: path(expr, [...at, 'rename', expr], { endWithKey: true }), to };
    }),
    remove: (config.remove ?? []).map((expr, i) => path(expr, [...at, 'remove', i], { allowRoot: false })),
    defaults: setOps(config.default, [...at, 'default']),
    set: setOps(config.set, [...at, 'set']),
    mask: (config.mask ?? []).map((rule, i) => {
      const where = [...at, 'mask', i];
      if (typeof rule === 'string')
        return { path: path(rule, where, { allowRoot: false }), mask: { keepLast: DEFAULT_KEEP_LAST } };
      if (rule.redact === true && (rule.keep_last !== undefined || rule.char !== undefined))
        throw new PolicyConfigError('redact replaces the whole value: drop keep_last and char', where);
      if (rule.redact !== true && rule.replacement !== undefined)
        throw new PolicyConfigError('replacement needs redact: true', where);
      const mask: Mask =
        rule.redact === true
          ? rule.replacement === undefined
            ? { redact: true }
            : { redact: true, replacement: rule.replacement }
          : { keepLast: rule.keep_last ?? DEFAULT_KEEP_LAST, char: rule.char ?? '*' };
      return { path: path(rule.path, [...where, 'path'], { allowRoot: false }), mask };
    }),
  };
  const count =
    ops.rename.length + ops.remove.length + ops.defaults.length + ops.set.length + ops.mask.length;
  return count === 0 ? undefined : ops;
}

/**
 * Applies the operations to a parsed body; returns the (possibly new) root. `marker` is the lossless JSON
 * parser's marker of 64-bit integers (null when the body has none): masks see such integers as their
 * digits.
 */
export function applyBodyOps(
  doc: unknown,
  ops: BodyOps,
  ex: Exchange,
  marker: string | null = null,
): unknown {
  for (const r of ops.rename) renameAt(doc, r.path, r.to);
  for (const p of ops.remove) removeAt(doc, p);
  for (const d of ops.defaults) doc = setValue(doc, d.path, valueOf(d, ex), { onlyIfMissing: true });
  for (const s of ops.set) doc = setValue(doc, s.path, valueOf(s, ex));
  if (ops.mask.length > 0) {
    const plain = marker === null ? undefined : (v: unknown) => (isMarked(v, marker) ? v.slice(1) : v);
    for (const m of ops.mask) maskAt(doc, m.path, m.mask, plain);
  }
  return doc;
}

function valueOf(op: SetOp, ex: Exchange): unknown {
  if (op.template === undefined) return op.value;
  const text = op.template.render(ex);
  // Control characters from the request (a client can send %01) become U+FFFD, as undecodable input does:
  // they mean nothing in a JSON value, and the lossless JSON parser marks 64-bit integers with them.
  return CONTROL.test(text) ? text.replace(CONTROLS, '\uFFFD') : text;
}

function setOps(map: Readonly<Record<string, unknown>> | undefined, at: ConfigPath): SetOp[] {
  return Object.entries(map ?? {}).map(([expr, value]) => {
    const where = [...at, expr];
    if (holdsControl(value))
      throw new PolicyConfigError(
        'a value cannot hold control characters other than tab, line feed and carriage return',
        where,
      );
    let template: Template | undefined;
    if (typeof value === 'string') {
      try {
        template = compileTemplate(value, { target: 'text' });
      } catch (err) {
        if (err instanceof TemplateError) throw new PolicyConfigError(err.message, where);
        throw err;
      }
      if (template.constant !== undefined) template = undefined;
    }
    return {
      path: path(expr, where),
      template,
      value: template === undefined ? constantOf(value) : undefined,
    };
  });
}

/** A string constant with `$${` written for a literal `${` is stored unescaped. */
function constantOf(value: unknown): unknown {
  return typeof value === 'string' ? compileTemplate(value, { target: 'text' }).constant : value;
}

function path(
  expr: string,
  where: ConfigPath,
  options: { endWithKey?: boolean; allowRoot?: boolean } = {},
): JsonPath {
  try {
    return compileJsonPath(expr, options);
  } catch (err) {
    if (err instanceof JsonPathError)
      throw new PolicyConfigError(`field path ${JSON.stringify(expr)}: ${err.message}`, where);
    throw err;
  }
}

// C0 controls except TAB, LF, CR: never meaningful in a configured value, and the lossless JSON parser uses
// them as markers of 64-bit integers.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;
// eslint-disable-next-line no-control-regex -- as above
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

/** Whether a configured value (any JSON) holds a control character in a string or key. */
function holdsControl(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'string') {
      if (CONTROL.test(v)) return true;
    } else if (Array.isArray(v)) pending.push(...(v as unknown[]));
    else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (CONTROL.test(k)) return true;
        pending.push(child);
      }
    }
  }
  return false;
}
