// Query parameter edits of the transform policy: remove, rename, set, add — in that order — on the raw query
// string. Parameters the edits do not name keep their bytes and their order; names are compared decoded
// (as URLSearchParams would), new names and values are percent-encoded (RFC 3986 unreserved kept).
import type { Exchange } from '../../pipeline/exchange.js';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { compileTemplate, TemplateError, type Template } from './template/compile-template.js';
import { decodeFormComponent } from '../../lib/query.js';
import type { QueryEditsConfig } from './schema.js';

type ConfigPath = readonly (string | number)[];

export interface QueryOps {
  readonly remove: ReadonlySet<string>;
  /** Decoded old name → encoded new name. */
  readonly rename: ReadonlyMap<string, string>;
  /** [decoded name, encoded name, value template]. */
  readonly set: readonly (readonly [string, string, Template])[];
  readonly add: readonly (readonly [string, string, Template])[];
}

export function compileQueryOps(config: QueryEditsConfig | undefined, at: ConfigPath): QueryOps | undefined {
  if (config === undefined) return undefined;
  const template = (name: string, value: string, where: ConfigPath): readonly [string, string, Template] => {
    try {
      return [name, encodeURIComponent(name), compileTemplate(value, { target: 'text' })];
    } catch (err) {
      if (err instanceof TemplateError) throw new PolicyConfigError(err.message, where);
      throw err;
    }
  };
  const ops: QueryOps = {
    remove: new Set(config.remove ?? []),
    rename: new Map(Object.entries(config.rename ?? {}).map(([from, to]) => [from, encodeURIComponent(to)])),
    set: Object.entries(config.set ?? {}).map(([n, v]) => template(n, v, [...at, 'set', n])),
    add: Object.entries(config.add ?? {}).map(([n, v]) => template(n, v, [...at, 'add', n])),
  };
  const count = ops.remove.size + ops.rename.size + ops.set.length + ops.add.length;
  return count === 0 ? undefined : ops;
}

/** The query string (raw, without "?") after the edits. */
export function applyQueryOps(ops: QueryOps, ex: Exchange, query: string): string {
  const out: string[] = [];
  const setNames = new Set<string>();
  for (const [name] of ops.set) setNames.add(name);
  if (query !== '') {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      const name = decodeFormComponent(rawName);
      if (ops.remove.has(name)) continue;
      const renamed = ops.rename.get(name);
      if (renamed !== undefined) {
        if (setNames.has(decodeFormComponent(renamed))) continue;
        out.push(eq < 0 ? renamed : renamed + pair.slice(eq));
        continue;
      }
      if (setNames.has(name)) continue;
      out.push(pair);
    }
  }
  for (const [, encoded, t] of ops.set) out.push(encoded + '=' + encodeURIComponent(t.render(ex)));
  for (const [, encoded, t] of ops.add) out.push(encoded + '=' + encodeURIComponent(t.render(ex)));
  return out.join('&');
}
