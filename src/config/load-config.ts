// Reads gateway.yaml: YAML with positions kept, ${VAR} / ${VAR:-default} interpolation inside scalar values
// (never in keys, never able to inject YAML), and a locator from key paths back to line:column.
import { readFileSync } from 'node:fs';
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  parse as parseYaml,
  visit,
  type Node,
} from 'yaml';
import { type ConfigPath, IssueCollector, type Locator } from './config-issue.js';

export interface LoadedSource {
  readonly file: string;
  /** The raw text, for hashing (unchanged files are not reloaded). */
  readonly text: string;
  /** The parsed value after interpolation; undefined when the YAML itself is broken. */
  readonly value: unknown;
  readonly locate: Locator;
  readonly issues: IssueCollector;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function loadConfigFile(file: string, env: Env = process.env): LoadedSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const issues = new IssueCollector(file, () => ({ line: 0, column: 0 }));
    issues.error([], `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return { file, text: '', value: undefined, locate: () => ({ line: 0, column: 0 }), issues };
  }
  return parseConfigText(text, file, env);
}

const VAR = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_VAR = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;
/**
 * Request values that policy templates read (`${trace_id}` in a transform header, …; see
 * src/policies/transform/template): left as written for the policy, never taken from the environment.
 * Dotted template sources (`${header.X}`) never match VAR in the first place.
 */
export const TEMPLATE_NAMES: ReadonlySet<string> = new Set([
  'trace_id',
  'route',
  'client_ip',
  'method',
  'path',
]);

export interface ParseOptions {
  /** Replace `${VAR}` in values (gateway.yaml); false takes every value as written (the consumers file). */
  readonly interpolate?: boolean;
}

export function parseConfigText(
  text: string,
  file: string,
  env: Env = process.env,
  options: ParseOptions = {},
): LoadedSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const position = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const locate: Locator = (path, at = 'value') => locateNode(doc.contents, path, at, position);
  const issues = new IssueCollector(file, locate);

  for (const err of [...doc.errors, ...doc.warnings]) {
    // `linePos` is only filled in with prettyErrors; `pos` (a source offset) is always there.
    const pos = position(err.pos[0]);
    const message = err.message.split('\n')[0] ?? err.message;
    issues.issues.push({
      file,
      line: pos.line,
      column: pos.column,
      path: [],
      message: `YAML: ${message}`,
      severity: doc.errors.includes(err as never) ? 'error' : 'warning',
    });
  }
  if (doc.errors.length > 0) return { file, text, value: undefined, locate, issues };

  // Interpolate environment variables in scalar values, reporting unset ones where they are written.
  const interpolate = options.interpolate ?? true;
  visit(doc, {
    Scalar(_key, node, path) {
      if (!interpolate || typeof node.value !== 'string' || !node.value.includes('${')) return;
      // Keys are never interpolated.
      const parent = path[path.length - 1];
      if (parent && 'key' in parent && (parent as { key: unknown }).key === node) return;
      const source = node.value;
      const matched = node.type === 'PLAIN' ? WHOLE_VAR.exec(source) : null;
      const whole = matched && !TEMPLATE_NAMES.has(matched[1]!) ? matched : null;
      let missing: { name: string; empty: boolean } | undefined;
      const replaced = source.replace(VAR, (m, name: string | undefined, def: string | undefined) => {
        if (m === '$${') return '${';
        if (TEMPLATE_NAMES.has(name!)) return m;
        const v = env[name!];
        if (v !== undefined && v !== '') return v;
        // As in a shell, `${VAR:-default}` takes the default when VAR is unset or empty.
        if (def !== undefined) return def;
        missing ??= { name: name!, empty: v === '' };
        return '';
      });
      if (missing !== undefined) {
        const pos = node.range ? position(node.range[0]) : { line: 0, column: 0 };
        const { name, empty } = missing;
        issues.issues.push({
          file,
          line: pos.line,
          column: pos.column,
          path: keyPathOf([...path, node]),
          message: `environment variable ${name} is ${empty ? 'empty' : 'not set'} (write \${${name}:-default} to give a default)`,
          severity: 'error',
        });
        return;
      }
      // An unquoted value that is exactly one ${VAR} takes the variable's YAML type (a number stays a number).
      node.value = whole ? scalarFrom(replaced) : replaced;
    },
  });
  // An alias to an anchor that does not exist (or not yet) is not a parse error, but toJS throws on it.
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return;
      const pos = node.range ? position(node.range[0]) : { line: 0, column: 0 };
      issues.issues.push({
        file,
        line: pos.line,
        column: pos.column,
        path: [],
        message: `YAML: unknown alias *${node.source} (the anchor &${node.source} must come before it)`,
        severity: 'error',
      });
    },
  });
  if (issues.hasErrors) return { file, text, value: undefined, locate, issues };
  try {
    return { file, text, value: doc.toJS({ maxAliasCount: 100 }) as unknown, locate, issues };
  } catch (err) {
    // E.g. an alias bomb: more than maxAliasCount alias expansions.
    issues.issues.push({
      file,
      line: 0,
      column: 0,
      path: [],
      message: `YAML: ${(err as Error).message}`,
      severity: 'error',
    });
    return { file, text, value: undefined, locate, issues };
  }
}

/** The key path of the last node in a visitor's ancestor chain, e.g. ["routes", 0, "upstream"]. */
function keyPathOf(chain: readonly unknown[]): (string | number)[] {
  const out: (string | number)[] = [];
  for (let i = 0; i < chain.length - 1; i++) {
    const node = chain[i];
    if (isPair(node)) out.push(isScalar(node.key) ? String(node.key.value) : String(node.key));
    else if (isSeq(node)) out.push(node.items.indexOf(chain[i + 1] as never));
  }
  return out;
}

function scalarFrom(text: string): unknown {
  try {
    const v: unknown = parseYaml(text);
    return v === null || typeof v === 'object' ? text : v;
  } catch {
    return text;
  }
}

function locateNode(
  root: Node | null,
  path: ConfigPath,
  at: 'key' | 'value',
  position: (offset: number) => { line: number; column: number },
): { line: number; column: number } {
  let node: unknown = root;
  let best: { line: number; column: number } =
    node && (node as Node).range ? position((node as Node).range![0]) : { line: 0, column: 0 };
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : p.key) === String(seg));
      if (!pair) return best;
      const keyNode = pair.key as Node | null;
      if (last && at === 'key' && keyNode?.range) return position(keyNode.range[0]);
      const valueNode = pair.value as Node | null;
      if (valueNode?.range) best = position(valueNode.range[0]);
      else if (keyNode?.range) best = position(keyNode.range[0]);
      node = valueNode;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return best;
      if (item.range) best = position(item.range[0]);
      node = item;
    } else {
      return best;
    }
  }
  return best;
}
