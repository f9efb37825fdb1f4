// Header edits of the transform policy: remove, rename, set, add — in that order — with values rendered from
// templates (`X-User: ${consumer.id}`). Names are checked and lowered once at load.
import type { Exchange } from '../../pipeline/exchange.js';
import type { ResponseHeaders } from '../../pipeline/gateway-response.js';
import { PROTECTED_REQUEST_HEADERS, PROTECTED_RESPONSE_HEADERS } from '../../pipeline/header-rules.js';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { compileTemplate, TemplateError, type Template } from './template/compile-template.js';
import type { HeaderEditsConfig } from './schema.js';

type ConfigPath = readonly (string | number)[];

export interface HeaderOps {
  /** Lowercase names. */
  readonly remove: readonly string[];
  /** [old lowercase, new as written]. */
  readonly rename: readonly (readonly [string, string])[];
  readonly set: readonly (readonly [string, Template])[];
  readonly add: readonly (readonly [string, Template])[];
}

export interface HeaderOpsInput {
  readonly headers?: HeaderEditsConfig | undefined;
  readonly add_headers?: Readonly<Record<string, string>> | undefined;
  readonly remove_headers?: readonly string[] | undefined;
}

/** Compiles one side's header edits (the brief's add_headers / remove_headers join set / remove). */
export function compileHeaderOps(
  input: HeaderOpsInput,
  side: 'request' | 'response',
  at: ConfigPath,
): HeaderOps | undefined {
  const protectedNames = side === 'request' ? PROTECTED_REQUEST_HEADERS : PROTECTED_RESPONSE_HEADERS;
  const check = (name: string, where: ConfigPath): string => {
    if (protectedNames.has(name.toLowerCase()))
      throw new PolicyConfigError(`the gateway manages "${name}"; it cannot be edited here`, where);
    return name;
  };
  const template = (name: string, value: string, where: ConfigPath): readonly [string, Template] => {
    check(name, where);
    try {
      return [side === 'response' ? name.toLowerCase() : name, compileTemplate(value)];
    } catch (err) {
      if (err instanceof TemplateError) throw new PolicyConfigError(err.message, where);
      throw err;
    }
  };
  const h = input.headers ?? {};
  const ops: HeaderOps = {
    remove: [
      ...(input.remove_headers ?? []).map((n, i) => check(n, [...at, 'remove_headers', i]).toLowerCase()),
      ...(h.remove ?? []).map((n, i) => check(n, [...at, 'headers', 'remove', i]).toLowerCase()),
    ],
    rename: Object.entries(h.rename ?? {}).map(([from, to]) => {
      const where = [...at, 'headers', 'rename', from];
      check(from, where);
      check(to, where);
      return [from.toLowerCase(), side === 'response' ? to.toLowerCase() : to] as const;
    }),
    set: [
      ...Object.entries(input.add_headers ?? {}).map(([n, v]) => template(n, v, [...at, 'add_headers', n])),
      ...Object.entries(h.set ?? {}).map(([n, v]) => template(n, v, [...at, 'headers', 'set', n])),
    ],
    add: Object.entries(h.add ?? {}).map(([n, v]) => template(n, v, [...at, 'headers', 'add', n])),
  };
  const count = ops.remove.length + ops.rename.length + ops.set.length + ops.add.length;
  return count === 0 ? undefined : ops;
}

/** Edits the upstream-bound request headers. */
export function applyRequestHeaderOps(ops: HeaderOps, ex: Exchange): void {
  const h = ex.headers;
  for (const name of ops.remove) h.delete(name);
  for (const [from, to] of ops.rename) {
    const values = h.getAll(from);
    if (values.length === 0) continue;
    h.delete(from);
    h.delete(to);
    for (const v of values) h.append(to, v);
  }
  for (const [name, t] of ops.set) h.set(name, t.render(ex));
  for (const [name, t] of ops.add) h.append(name, t.render(ex));
}

/** Edits a response's headers (lowercase keys). */
export function applyResponseHeaderOps(ops: HeaderOps, ex: Exchange, h: ResponseHeaders): void {
  for (const name of ops.remove) delete h[name];
  for (const [from, to] of ops.rename) {
    const value = h[from];
    if (value === undefined) continue;
    delete h[from];
    h[to] = value;
  }
  for (const [name, t] of ops.set) h[name] = t.render(ex);
  for (const [name, t] of ops.add) {
    const value = t.render(ex);
    const existing = h[name];
    h[name] =
      existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
}
