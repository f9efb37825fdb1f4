// The shape of a compiled JSON path and its error, shared by the compiler and the operations so neither
// imports the other.

/**
 * One step from a value to its children. Reading a step only ever follows an object's *own* keys and an
 * array's existing elements; nothing reaches inherited properties.
 */
export type JsonPathSegment =
  /**
   * An object member: a dotted key (`a`, `["a.b"]`) or a JSON Pointer token. A pointer token also addresses
   * an array element when it is an index (`0`, `12`, no leading zeros) or `-`, the place just past the last
   * element (RFC 6901 §4): the document decides which, as the RFC says. A dotted key never addresses an
   * array element (`a.0` is the key "0"; the element is `a[0]`).
   */
  | { readonly kind: 'key'; readonly key: string; readonly arrayIndex?: number | 'end' }
  /** An array element by position (dotted `[0]`); never an object member. */
  | { readonly kind: 'index'; readonly index: number }
  /** Every existing element of an array (dotted `[]`); nothing when the value is not an array. */
  | { readonly kind: 'each' };

/**
 * A path compiled once at config load, immutable and shareable between requests. Two syntaxes, told apart
 * by the first character:
 * - JSON Pointer (RFC 6901) when it starts with `/`: `/a/b/0`, `~1` for `/` and `~0` for `~`, no wildcard.
 *   As in the RFC, `/` alone is the key "" of the root object, and the empty expression `""` is the whole
 *   document (the root).
 * - Dotted otherwise: `a.b.c`, `items[]` (every element), `items[0]` (an index), `["odd key"]` or
 *   `['x.y']` (a quoted key, with JSON string escapes plus `\'`). Bare keys take any character except
 *   `.` `[` `]` `"` `'` `*`, whitespace and control characters; other keys use the quoted form.
 * The keys `__proto__`, `constructor` and `prototype` are refused in both syntaxes.
 */
export interface JsonPath {
  /** The expression as written in the config, for messages and logs. */
  readonly source: string;
  /** Which syntax the expression used; the empty expression (the root) counts as a pointer. */
  readonly syntax: 'dotted' | 'pointer';
  /** The steps from the document root; empty for the root itself. Frozen. */
  readonly segments: readonly JsonPathSegment[];
}

/**
 * A path expression that does not compile. `position` is the 1-based character (Unicode code point, as an
 * editor counts columns) where something else was expected; the message says what, for example
 * `expected a key after "." at character 6`.
 */
export class JsonPathError extends Error {
  constructor(
    readonly expression: string,
    readonly position: number,
    message: string,
  ) {
    super(message);
    this.name = 'JsonPathError';
  }
}

const REFUSED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Keys a path may not name and an operation may not write, because writing them on a plain object can
 * change its prototype (prototype pollution). Exported so config-time checks of other keys (rename's new
 * key) use the same list.
 */
export function isRefusedKey(key: string): boolean {
  return REFUSED_KEYS.has(key);
}
