// Parses and writes JSON bodies without rounding integers beyond 2^53 (64-bit ids), because a gateway that
// transforms a body must not change values it did not touch. Node 20 has neither JSON.rawJSON nor the
// reviver's source text, so such integers go through JSON.parse as marked strings and come back as numbers.

/**
 * A parsed JSON text. Integers whose magnitude exceeds Number.MAX_SAFE_INTEGER are held in `value` as
 * strings made of `marker` and the integer as written (sign included): "\u0001-98765432109876543210".
 * No string of the original text can contain the marker, so `stringifyJson` can tell them apart.
 */
export interface JsonDocument {
  /** The parsed value, with unsafe integers as marked strings (see `isMarked`). */
  value: unknown;
  /** null when the text had no unsafe integer (or, pathologically, no free marker: see parseJson) */
  marker: string | null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** Any integer beyond MAX_SAFE_INTEGER has at least 16 digits. */
const LONG_DIGIT_RUN = /\d{16}/g;
const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER);

/**
 * Control characters a JSON text can only put in a string as a `\u00XX` escape (raw ones are invalid in
 * strings, RFC 8259 §7). U+0008, U+0009, U+000A, U+000C and U+000D are left out because they also have
 * the short escapes \b \t \n \f \r, which the marker search does not look for.
 */
const MARKER_CODES: readonly number[] = [
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0b, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
  0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

/**
 * A quick test most bodies pass without the scan: whether some run of 16 or more digits could be a number
 * token, i.e. starts the text or follows `[`, `,` or `:` (whitespace and a minus between). Long digit runs
 * inside strings (card numbers, "4242…") follow a quote or other text and are passed over in O(1) each.
 */
function mayHoldUnsafeInteger(text: string): boolean {
  LONG_DIGIT_RUN.lastIndex = 0;
  for (let m = LONG_DIGIT_RUN.exec(text); m !== null; m = LONG_DIGIT_RUN.exec(text)) {
    // The leftmost match starts its digit run.
    let i = m.index - 1;
    if (i >= 0 && text.charCodeAt(i) === MINUS) i--;
    while (i >= 0 && isJsonWhitespace(text.charCodeAt(i))) i--;
    if (i < 0) return true;
    const c = text.charCodeAt(i);
    if (c === 0x5b /* [ */ || c === 0x2c /* , */ || c === 0x3a /* : */) return true;
    let end = m.index + 16;
    while (end < text.length && isDigit(text.charCodeAt(end))) end++;
    LONG_DIGIT_RUN.lastIndex = end;
  }
  return false;
}

/**
 * JSON.parse that keeps integers beyond MAX_SAFE_INTEGER exact (see `JsonDocument`). Throws JSON.parse's
 * SyntaxError for invalid text. In the pathological case where the text escapes every candidate marker
 * character, it falls back to plain JSON.parse and such integers lose precision, as they would anyway.
 */
export function parseJson(text: string): JsonDocument {
  if (!mayHoldUnsafeInteger(text)) return { value: JSON.parse(text), marker: null };
  const tokens = findUnsafeIntegers(text);
  if (tokens.length === 0) return { value: JSON.parse(text), marker: null };
  const code = freeMarkerCode(text);
  // Every candidate is escaped somewhere in the text (contrived input): parse as JSON.parse would.
  if (code === undefined) return { value: JSON.parse(text), marker: null };
  const rewritten = markIntegers(text, tokens, markerEscape(code));
  let value: unknown;
  try {
    value = JSON.parse(rewritten);
  } catch (error) {
    // The rewrite keeps invalid text invalid; report the original text's error (its positions, its excerpt).
    JSON.parse(text);
    throw error;
  }
  return { value, marker: String.fromCharCode(code) };
}

/**
 * JSON.stringify of `doc.value` that writes marked strings back as the bare integers they were. Only whole
 * string values of exactly that form are unquoted: a masked "*****6789", or a marked string used as an
 * object key, stays a string. Throws a TypeError when the value has no JSON form (undefined, a function).
 */
export function stringifyJson(doc: JsonDocument): string {
  const text: string | undefined = JSON.stringify(doc.value);
  if (text === undefined) throw new TypeError('the value has no JSON form');
  if (doc.marker === null) return text;
  // JSON.stringify writes these control characters as a lowercase \u00xx escape.
  const escape = markerEscape(markerCode(doc.marker));
  if (!text.includes(escape)) return text;
  const pattern = new RegExp(`"\\${escape}(-?(?:0|[1-9]\\d*))"(?!:)`, 'g');
  // A quote after an odd number of backslashes is inside a string, not the start of one.
  return text.replace(pattern, (match: string, digits: string, offset: number) =>
    isEscaped(text, offset) ? match : digits,
  );
}

/**
 * The tree with every marked string replaced by its digits ("12345678901234567890"), for output where
 * numbers are text anyway (XML). Containers are changed in place; the root is returned because it may
 * itself be marked. Walks with an explicit stack, so nesting as deep as JSON.parse accepts is fine.
 */
export function plainNumbers(value: unknown, marker: string | null): unknown {
  if (marker === null) return value;
  if (isMarked(value, marker)) return value.slice(1);
  if (!isContainer(value)) return value;
  const pending: object[] = [value];
  // Parsed JSON is a tree, but a transform may share or (by mistake) cycle a subtree: visit each once.
  const seen = new Set<object>(pending);
  const visit = (child: unknown): unknown => {
    if (isMarked(child, marker)) return child.slice(1);
    if (isContainer(child) && !seen.has(child)) {
      seen.add(child);
      pending.push(child);
    }
    return child;
  };
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) node[i] = visit(node[i]);
    } else {
      const record = node as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = visit(record[key]);
    }
  }
  return value;
}

/** Whether `value` is a marked integer: the marker followed by an optional '-' and a JSON integer. */
export function isMarked(value: unknown, marker: string | null): value is string {
  if (marker === null || typeof value !== 'string') return false;
  if (value.length < 2 || value.charCodeAt(0) !== marker.charCodeAt(0)) return false;
  return integerEnd(value, 1) === value.length;
}

/**
 * Start and end offsets (flattened pairs) of the integer tokens outside strings whose magnitude exceeds
 * MAX_SAFE_INTEGER. One linear pass; strings are skipped whole, honouring backslash escapes.
 */
function findUnsafeIntegers(text: string): number[] {
  const found: number[] = [];
  let previous = -1; // the last non-whitespace character outside strings; -1 at the start of the text
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = skipString(text, i + 1);
      previous = QUOTE;
    } else if (c === MINUS || isDigit(c)) {
      const end = integerEnd(text, i);
      let j = i + 1;
      while (j < text.length && isNumberPart(text.charCodeAt(j))) j++;
      // Only a whole integer token in a value position is rewritten: there a string is valid exactly when
      // the number was, so invalid text (01234…, 1234…abc, a number as a key) stays invalid.
      if (end === j && isValueStart(previous) && isValueEnd(text, j) && isUnsafe(text, i, j))
        found.push(i, j);
      previous = text.charCodeAt(j - 1);
      i = j;
    } else {
      if (!isJsonWhitespace(c)) previous = c;
      i++;
    }
  }
  return found;
}

/** The offset just past the closing quote of the string whose content starts at `from` (or the end). */
function skipString(text: string, from: number): number {
  for (let quote = text.indexOf('"', from); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    if (!isEscaped(text, quote)) return quote + 1;
  }
  return text.length;
}

/** Whether the character at `offset` follows an odd run of backslashes. */
function isEscaped(text: string, offset: number): boolean {
  let backslashes = 0;
  while (offset - backslashes - 1 >= 0 && text.charCodeAt(offset - backslashes - 1) === BACKSLASH)
    backslashes++;
  return backslashes % 2 === 1;
}

/** The end of the JSON integer `-?(0|[1-9][0-9]*)` starting at `start`, or `start` when there is none. */
function integerEnd(text: string, start: number): number {
  let i = start;
  if (text.charCodeAt(i) === MINUS) i++;
  const first = text.charCodeAt(i);
  if (first === ZERO) return i + 1;
  if (!isDigit(first)) return start;
  do i++;
  while (isDigit(text.charCodeAt(i)));
  return i;
}

function isUnsafe(text: string, start: number, end: number): boolean {
  const digitsStart = text.charCodeAt(start) === MINUS ? start + 1 : start;
  const length = end - digitsStart;
  // Integer tokens have no leading zeros, so more digits means larger, and equal lengths compare as text.
  if (length !== MAX_SAFE_DIGITS.length) return length > MAX_SAFE_DIGITS.length;
  return text.slice(digitsStart, end) > MAX_SAFE_DIGITS;
}

/** After '[', ',', ':' or at the start of the text: where any JSON value may begin. */
function isValueStart(previous: number): boolean {
  return previous === -1 || previous === 0x5b || previous === 0x2c || previous === 0x3a;
}

/** Followed (after whitespace) by ',', ']', '}' or the end: never ':', so a rewritten token is no key. */
function isValueEnd(text: string, from: number): boolean {
  let i = from;
  while (i < text.length && isJsonWhitespace(text.charCodeAt(i))) i++;
  if (i === text.length) return true;
  const c = text.charCodeAt(i);
  return c === 0x2c || c === 0x5d || c === 0x7d;
}

/** The first candidate marker whose \u00XX escape (either hex case) does not occur in the text. */
function freeMarkerCode(text: string): number | undefined {
  const used = new Uint8Array(0x20);
  for (let k = text.indexOf('\\u00'); k !== -1; k = text.indexOf('\\u00', k + 4)) {
    const high = hexValue(text.charCodeAt(k + 4));
    const low = hexValue(text.charCodeAt(k + 5));
    if ((high === 0 || high === 1) && low !== -1) used[high * 16 + low] = 1;
  }
  return MARKER_CODES.find((code) => used[code] === 0);
}

function markIntegers(text: string, tokens: readonly number[], escape: string): string {
  const parts: string[] = [];
  let last = 0;
  for (let t = 0; t < tokens.length; t += 2) {
    const start = tokens[t] as number;
    const end = tokens[t + 1] as number;
    parts.push(text.slice(last, start), '"', escape, text.slice(start, end), '"');
    last = end;
  }
  parts.push(text.slice(last));
  return parts.join('');
}

function markerCode(marker: string): number {
  const code = marker.charCodeAt(0);
  if (marker.length !== 1 || !MARKER_CODES.includes(code)) {
    throw new RangeError('marker must be one of the control characters parseJson chooses');
  }
  return code;
}

/** The marker as JSON.stringify writes it: a lowercase `\u00xx` escape. */
function markerEscape(code: number): string {
  return `\\u00${code.toString(16).padStart(2, '0')}`;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** The characters of a number token (RFC 8259 §6): digits, sign, point and exponent. */
function isNumberPart(c: number): boolean {
  return isDigit(c) || c === MINUS || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

/** RFC 8259 §2: space, tab, line feed, carriage return. */
function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function hexValue(c: number): number {
  if (isDigit(c)) return c - ZERO;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}
