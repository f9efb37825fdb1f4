// Parses a path expression from the config once, at load, so a bad path is a config error naming the
// character at fault, and a request only walks ready-made segments.
import { isRefusedKey, JsonPathError, type JsonPath, type JsonPathSegment } from './json-path.js';

/** What the caller will do with the path, so a path unfit for it is refused at load, not skipped per request. */
export interface CompileJsonPathOptions {
  /** The path must end with an object key (a dotted key or a pointer token), as rename needs. Default false. */
  readonly endWithKey?: boolean;
  /** Accept the empty expression, the whole document. Default true; remove, rename and mask need a parent. */
  readonly allowRoot?: boolean;
}

/** The largest array index: an array holds at most 2^32 - 1 elements. */
const MAX_INDEX = 2 ** 32 - 2;
const BARE_KEY = /[^.[\]"'*\s\p{Cc}]+/uy;
const DIGITS = /[0-9]+/y;
const POINTER_INDEX = /^(?:0|[1-9][0-9]*)$/;
const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

interface Parsed {
  readonly segments: JsonPathSegment[];
  /** UTF-16 offset where each segment starts, for errors about a segment as a whole. */
  readonly starts: number[];
}

/** Compiles a dotted path or a JSON Pointer (see `JsonPath`); throws `JsonPathError` with the position. */
export function compileJsonPath(expression: string, options: CompileJsonPathOptions = {}): JsonPath {
  const pointer = expression === '' || expression.startsWith('/');
  const { segments, starts } = pointer ? parsePointer(expression) : parseDotted(expression);
  const last = segments.at(-1);
  if (last === undefined && (options.allowRoot === false || options.endWithKey === true)) {
    throw refuse(expression, 0, 'expected a path below the document root');
  }
  if (last !== undefined && last.kind !== 'key' && options.endWithKey === true) {
    throw refuse(expression, starts.at(-1) ?? 0, 'expected the path to end with an object key');
  }
  return Object.freeze({
    source: expression,
    syntax: pointer ? 'pointer' : 'dotted',
    segments: Object.freeze(segments.map((s) => Object.freeze(s))),
  });
}

/** RFC 6901 §3-4: tokens after each "/", `~1` → "/" and `~0` → "~", decoded left to right. */
function parsePointer(source: string): Parsed {
  const segments: JsonPathSegment[] = [];
  const starts: number[] = [];
  let start = 1;
  while (start <= source.length) {
    const slash = source.indexOf('/', start);
    const end = slash === -1 ? source.length : slash;
    const raw = source.slice(start, end);
    for (let t = raw.indexOf('~'); t !== -1; t = raw.indexOf('~', t + 2)) {
      const next = raw[t + 1];
      if (next !== '0' && next !== '1') throw fail(source, start + t + 1, 'expected "0" or "1" after "~"');
    }
    const key = raw.replace(/~[01]/g, (escape) => (escape === '~1' ? '/' : '~'));
    refuseKey(source, start, key);
    segments.push({ kind: 'key', key, ...pointerIndex(key) });
    starts.push(start);
    start = end + 1;
  }
  return { segments, starts };
}

function pointerIndex(token: string): { arrayIndex?: number | 'end' } {
  if (token === '-') return { arrayIndex: 'end' };
  if (!POINTER_INDEX.test(token)) return {};
  const index = Number(token);
  return index <= MAX_INDEX ? { arrayIndex: index } : {};
}

function parseDotted(source: string): Parsed {
  const segments: JsonPathSegment[] = [];
  const starts: number[] = [];
  const bareKey = (at: number, expected: string): number => {
    BARE_KEY.lastIndex = at;
    const match = BARE_KEY.exec(source);
    if (match === null) throw fail(source, at, expected);
    refuseKey(source, at, match[0]);
    segments.push({ kind: 'key', key: match[0] });
    starts.push(at);
    return at + match[0].length;
  };
  const bracket = (at: number): number => {
    const [segment, end] = parseBracket(source, at);
    segments.push(segment);
    starts.push(at);
    return end;
  };
  let i = source[0] === '[' ? bracket(0) : bareKey(0, 'expected a key or "["');
  while (i < source.length) {
    if (source[i] === '.') i = bareKey(i + 1, 'expected a key after "."');
    else if (source[i] === '[') i = bracket(i);
    else throw fail(source, i, 'expected "." or "["');
  }
  return { segments, starts };
}

/** `[]`, `[12]`, `["key"]` or `['key']` starting at the "[" at `open`; returns the segment and the offset after "]". */
function parseBracket(source: string, open: number): [JsonPathSegment, number] {
  const at = open + 1;
  const c = source[at];
  if (c === ']') return [{ kind: 'each' }, at + 1];
  if (c === '"' || c === "'") {
    const [key, end] = parseQuoted(source, at);
    if (source[end] !== ']') throw fail(source, end, 'expected "]" after the quoted key');
    refuseKey(source, at, key);
    return [{ kind: 'key', key }, end + 1];
  }
  DIGITS.lastIndex = at;
  const digits = DIGITS.exec(source)?.[0];
  if (digits === undefined) throw fail(source, at, 'expected "]", an index or a quoted key after "["');
  if (digits.length > 1 && digits.startsWith('0')) {
    throw fail(source, at, 'expected an index without leading zeros');
  }
  const index = Number(digits);
  if (index > MAX_INDEX) throw fail(source, at, `expected an index of at most ${MAX_INDEX}`);
  const end = at + digits.length;
  if (source[end] !== ']') throw fail(source, end, 'expected "]" after the index');
  return [{ kind: 'index', index }, end + 1];
}

/** A quoted key opening at `open`: JSON string escapes plus `\'`. Returns the key and the offset after the quote. */
function parseQuoted(source: string, open: number): [string, number] {
  const quote = source[open];
  let key = '';
  let i = open + 1;
  while (i < source.length) {
    const c = source[i] ?? '';
    if (c === quote) return [key, i + 1];
    if (c !== '\\') {
      key += c;
      i += 1;
      continue;
    }
    const escape = source[i + 1] ?? '';
    if (escape === 'u') {
      const hex = source.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw fail(source, i + 2, 'expected 4 hex digits after "\\u"');
      key += String.fromCharCode(parseInt(hex, 16));
      i += 6;
      continue;
    }
    const decoded = ESCAPES[escape];
    if (decoded === undefined) {
      throw fail(source, i + 1, 'expected one of " \' \\ / b f n r t u after "\\"');
    }
    key += decoded;
    i += 2;
  }
  const note = ` (the key's opening ${quote} is at character ${column(source, open)})`;
  throw fail(source, source.length, `expected a closing ${quote}`, note);
}

function refuseKey(source: string, at: number, key: string): void {
  if (isRefusedKey(key)) {
    throw refuse(
      source,
      at,
      `expected a key other than "${key}"`,
      ' (refused: it could pollute object prototypes)',
    );
  }
}

/** The error for a segment or path as a whole, starting at UTF-16 offset `at`. */
function refuse(source: string, at: number, expected: string, note = ''): JsonPathError {
  const position = column(source, at);
  return new JsonPathError(source, position, `${expected} at character ${position}${note}`);
}

/** The error for `expected` at UTF-16 offset `at`, naming what was found there and a hint for common slips. */
function fail(source: string, at: number, expected: string, note = ''): JsonPathError {
  const position = column(source, at);
  const code = source.codePointAt(at);
  if (code === undefined)
    return new JsonPathError(source, position, `${expected} at character ${position}${note}`);
  const found = String.fromCodePoint(code);
  return new JsonPathError(
    source,
    position,
    `${expected} at character ${position}, found ${JSON.stringify(found)}${hint(found)}`,
  );
}

function hint(found: string): string {
  if (found === '[') return ' (an index or quoted key follows its parent directly: a[0], not a.[0])';
  if (found === '*') return ' ("[]" means every element; a key named "*" is written ["*"])';
  if (/["'\]\s\p{Cc}]/u.test(found)) return ' (a key with spaces, quotes or brackets is written ["..."])';
  return '';
}

/** 1-based character number of a UTF-16 offset, counting code points as an editor counts columns. */
function column(source: string, at: number): number {
  return Array.from(source.slice(0, at)).length + 1;
}
