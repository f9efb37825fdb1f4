// Parsing a large gateway.yaml again after a small edit: the `routes:` list is cut into its items, and an item
// whose text (and the environment variables it names) did not change since the last parse is not parsed
// again — the very same object comes back, so the steps after it (validation, the route's compile) know it
// and reuse their work. Whatever the cut could take differently from a parse of the whole document (aliases,
// directives, a list in flow style, unusual indentation, any YAML issue at all) is parsed as one document
// instead, with exactly its results. The parse is a generator that yields between items (`due`), so a
// reload can let the event loop run meanwhile; `parseConfigText` stays the one-piece parse.
import type { Due, Steps } from '../lib/steps.js';
import { IssueCollector, type Locator } from './config-issue.js';
import { type Env, type LoadedSource, parseConfigText } from './load-config.js';

interface ParsedItem {
  /** Where it was in its parse's list. */
  readonly index: number;
  /** The memo key: the item's text, plus the values of the environment variables it names. */
  readonly key: string;
  /** The item's own text (a copy, so it does not keep the whole config text alive). */
  readonly text: string;
  readonly value: unknown;
}

/** What a parse of a config file leaves to the next: its route items, in order. */
export class RouteItemMemo {
  /** The items of the last parse, in order. */
  items: readonly ParsedItem[] = [];
  /** The route values of the last parse, to recognise unchanged ones after a parse in one piece. */
  lastRoutes: readonly unknown[] = [];
  /** The same of the last parse whose config went into service (a failed one must not make it forget). */
  private keptItems: readonly ParsedItem[] = [];
  private keptRoutes: readonly unknown[] = [];
  /** Both, by key: built on the first item not found where expected. */
  private byKey: Map<string, ParsedItem> | undefined;

  /** The last parse's config went into service. */
  keep(): void {
    this.keptItems = this.items;
    this.keptRoutes = this.lastRoutes;
  }

  /** The items of a new parse. */
  remember(items: readonly ParsedItem[]): void {
    this.items = items;
    this.byKey = undefined;
  }

  /** The remembered item at `index` of the last parse when it has this key: a comparison, no hashing. */
  at(key: string, index: number): ParsedItem | undefined {
    const there = this.items[index];
    return there !== undefined && there.key === key ? there : undefined;
  }

  /** The remembered item with this key, wherever it was (after `index` built the lookup). */
  find(key: string): ParsedItem | undefined {
    return this.byKey?.get(key);
  }

  /** Builds the lookup by key of every remembered item, in steps. */
  *index(due: Due): Steps<void> {
    if (this.byKey !== undefined) return;
    const byKey = new Map<string, ParsedItem>();
    const lists = this.keptItems === this.items ? [this.items] : [this.keptItems, this.items];
    for (const list of lists)
      for (let i = 0; i < list.length; i++) {
        byKey.set(list[i]!.key, list[i]!);
        if ((i & 255) === 255 && due()) yield;
      }
    this.byKey = byKey;
  }

  /** Every route value remembered, by its JSON. */
  byValue(): Map<string, unknown> {
    const known = new Map<string, unknown>();
    for (const r of [...this.keptRoutes, ...this.lastRoutes]) known.set(JSON.stringify(r), r);
    return known;
  }
}

interface Cut {
  /** Offsets of the `routes:` line (its end is its newline) and of the items' block. */
  readonly keyStart: number;
  readonly keyEnd: number;
  readonly keyLine: number;
  readonly blockStart: number;
  readonly blockEnd: number;
  readonly blockFirstLine: number;
  readonly blockLines: number;
  /** The items' indentation. */
  readonly indent: number;
  /** Each item's offsets and first line (numbers in arrays: no object per item). */
  readonly starts: number[];
  readonly ends: number[];
  readonly lines: number[];
}

/** The rest of a `routes:` line that starts a block list: nothing, or a comment. */
const KEY_LINE_REST = /^[ \t]*(?:#.*)?\r?$/;

/** Parses `text`; route items unchanged since the parse `memo` remembers come back as the same objects. */
export function* parseConfigSteps(
  text: string,
  file: string,
  env: Env,
  memo: RouteItemMemo,
  due: Due,
): Steps<LoadedSource> {
  const cut = standsAlone(text) ? yield* cutRoutes(text, due) : undefined;
  const source = cut === undefined ? undefined : yield* parseCut(text, file, env, memo, cut, due);
  if (source !== undefined) return source;
  const whole = parseConfigText(text, file, env);
  const routes = (whole.value as { routes?: unknown } | undefined)?.routes;
  if (Array.isArray(routes)) {
    // Recognise unchanged routes by their value; their text may have moved or been reformatted.
    const known = memo.byValue();
    for (let i = 0; i < routes.length; i++) {
      const same = known.get(JSON.stringify(routes[i]));
      if (same !== undefined) routes[i] = same;
    }
    memo.lastRoutes = routes;
  }
  return whole;
}

/** Finds the top-level `routes:` block list and its items; undefined when it is not in that plain shape. */
function* cutRoutes(text: string, due: Due): Steps<Cut | undefined> {
  const keyStart = text.startsWith('routes:') ? 0 : text.indexOf('\nroutes:') + 1;
  if (keyStart === 0 && !text.startsWith('routes:')) return undefined;
  const nl = text.indexOf('\n', keyStart);
  if (nl < 0 || !KEY_LINE_REST.test(text.slice(keyStart + 'routes:'.length, nl))) return undefined;
  let line = 1;
  for (let at = text.indexOf('\n'); at >= 0 && at < keyStart; at = text.indexOf('\n', at + 1)) line++;
  const keyLine = line;
  const starts: number[] = [];
  const ends: number[] = [];
  const lines: number[] = [];
  let indent = -1;
  let blockStart = -1;
  let blockFirstLine = 0;
  let blockEnd = text.length;
  let pos = nl + 1;
  while (pos < text.length) {
    line++;
    if ((line & 4095) === 0 && due()) yield;
    const eol = text.indexOf('\n', pos);
    const end = eol < 0 ? text.length : eol;
    let i = pos;
    while (i < end && text.charCodeAt(i) === 32) i++;
    const c = i < end ? text.charCodeAt(i) : 13;
    if (c === 9) return undefined; // a tab: let the whole parse say what it makes of it
    if (c !== 13 && c !== 35) {
      const n = i - pos;
      const next = i + 1 < end ? text.charCodeAt(i + 1) : 13;
      const dash = c === 45 && (next === 32 || next === 13);
      if (indent < 0) {
        if (!dash) return undefined;
        indent = n;
        blockStart = pos;
        blockFirstLine = line;
        starts.push(pos);
        lines.push(line);
      } else if (dash && n === indent) {
        ends.push(pos);
        starts.push(pos);
        lines.push(line);
      } else if (n === 0) {
        blockEnd = pos;
        break;
      } else if (n <= indent) return undefined;
    }
    pos = end + 1;
  }
  if (starts.length === 0) return undefined;
  ends.push(blockEnd);
  let blockLines = 0;
  for (let at = text.indexOf('\n', blockStart); at >= 0 && at < blockEnd; at = text.indexOf('\n', at + 1))
    blockLines++;
  return {
    keyStart,
    keyEnd: nl,
    keyLine,
    blockStart,
    blockEnd,
    blockFirstLine,
    blockLines,
    indent,
    starts,
    ends,
    lines,
  };
}

/** The parse of a cut: the rest of the document in one piece, each item alone (or from the memo). */
function* parseCut(
  text: string,
  file: string,
  env: Env,
  memo: RouteItemMemo,
  cut: Cut,
  due: Due,
): Steps<LoadedSource | undefined> {
  const rest =
    text.slice(0, cut.keyStart) +
    'routes: []' +
    text.slice(cut.keyEnd, cut.blockStart) +
    text.slice(cut.blockEnd);
  const outside = parseConfigText(rest, file, env);
  const value = outside.value as { routes?: unknown } | undefined;
  if (
    outside.issues.issues.length > 0 ||
    !Array.isArray(value?.routes) ||
    value.routes.length !== 0 ||
    outside.locate(['routes'], 'key').line !== cut.keyLine
  )
    return undefined;
  const parsed: ParsedItem[] = [];
  // Where the items of the last parse are relative to these (a route inserted above moves them by one).
  let shift = 0;
  for (let i = 0; i < cut.starts.length; i++) {
    if (due()) yield;
    const slice = text.slice(cut.starts[i], cut.ends[i]);
    const key = slice + environmentOf(slice, env);
    let entry = memo.at(key, i + shift);
    if (entry === undefined) {
      yield* memo.index(due);
      entry = memo.find(key);
    }
    if (entry !== undefined) shift = entry.index - i;
    else {
      // A copy: the slice (and every string parsed from it) would keep the whole config text alive.
      const own = (' ' + slice).slice(1);
      const alone = parseConfigText(own, file, env);
      if (alone.issues.issues.length > 0 || !Array.isArray(alone.value) || alone.value.length !== 1)
        return undefined;
      entry = { index: i, key: own + key.slice(slice.length), text: own, value: alone.value[0] };
    }
    parsed.push(entry.index === i ? entry : { ...entry, index: i });
  }
  memo.remember(parsed);
  const routes = parsed.map((p) => p.value);
  memo.lastRoutes = routes;
  value.routes = routes;

  const alone = new Map<number, LoadedSource>();
  const locate: Locator = (path, at = 'value') => {
    const index = path[1];
    if (path[0] === 'routes' && typeof index === 'number' && index >= 0 && index < parsed.length) {
      let source = alone.get(index);
      if (source === undefined) alone.set(index, (source = parseConfigText(parsed[index]!.text, file, env)));
      const p = source.locate([0, ...path.slice(2)], at);
      return { line: p.line + cut.lines[index]! - 1, column: p.column };
    }
    // The list itself (and an item it does not have) is where its first item starts, as in the whole document.
    if (path[0] === 'routes' && (path.length > 1 || at === 'value'))
      return { line: cut.lines[0]!, column: cut.indent + 1 };
    const p = outside.locate(path, at);
    return p.line >= cut.blockFirstLine ? { line: p.line + cut.blockLines, column: p.column } : p;
  };
  return { file, text, value, locate, issues: new IssueCollector(file, locate) };
}

/**
 * No alias (`*name`, `<<: *name`) and no directive (`%YAML`): items parsed alone are what the whole parse
 * makes of them. A `*` after a space or a bracket is taken for an alias; a false alarm only costs speed.
 */
function standsAlone(text: string): boolean {
  if (text.startsWith('%') || text.includes('\n%')) return false;
  for (let at = text.indexOf('*'); at >= 0; at = text.indexOf('*', at + 1)) {
    const before = at === 0 ? 10 : text.charCodeAt(at - 1);
    // After a space, tab, line end, `,`, `[` or `{` — unless on a comment line (`# * a note`).
    if (
      (before === 32 ||
        before === 9 ||
        before === 10 ||
        before === 13 ||
        before === 44 ||
        before === 91 ||
        before === 123) &&
      !commentLine(text, at)
    )
      return false;
  }
  return true;
}

/** Is the line holding `at` a comment (its first character other than a space is `#`)? */
function commentLine(text: string, at: number): boolean {
  let i = text.lastIndexOf('\n', at) + 1;
  while (text.charCodeAt(i) === 32) i++;
  return text.charCodeAt(i) === 35;
}

/** The values of the environment variables an item names: a change of one is a change of the item. */
function environmentOf(item: string, env: Env): string {
  if (!item.includes('${')) return '';
  let out = '';
  for (const m of item.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g))
    out += `\0${m[1]}=${env[m[1]!] ?? '\u0001'}`;
  return out;
}
