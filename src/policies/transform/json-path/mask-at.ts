// Hides sensitive values in a parsed JSON body (card numbers, tokens) before it is logged or forwarded,
// keeping just enough (the last digits) for a person to recognise it.
import type { JsonPath } from './json-path.js';
import { visitPlaces } from './walk-json-path.js';

/** How `maskAt` hides a value. */
export type Mask =
  /**
   * Replaces every character except the last `keepLast` with `char` (default "*"), counting Unicode code
   * points. Whitespace stays in place and is not counted, so "4242 4242 4242 4242" with keepLast 4 becomes
   * "**** **** **** 4242". A value with no more than `keepLast` non-whitespace characters is masked
   * entirely: a short secret (a 3-digit CVC) is never returned in clear. Numbers are masked as strings;
   * objects, arrays, booleans and null are left alone. A `keepLast` that is not a positive integer counts
   * as 0 (mask everything).
   */
  | { readonly keepLast: number; readonly char?: string }
  /** Replaces the value, whatever it is (objects, arrays and null included), with `replacement`. */
  | { readonly redact: true; readonly replacement?: string };

/** What `{ redact: true }` writes when no replacement is given. */
export const DEFAULT_REDACTION = '[REDACTED]';

const WHITESPACE = /\s/;

/**
 * Masks every value the path reaches (see `Mask`) and returns how many were masked; never the root.
 * `plain`, when given, turns a value into what the client would see before it is masked (a 64-bit integer
 * held as a marked string by the lossless JSON parser is masked as its digits).
 */
export function maskAt(
  doc: unknown,
  path: JsonPath,
  mask: Mask,
  plain?: (value: unknown) => unknown,
): number {
  let masked = 0;
  visitPlaces(doc, path.segments, {
    member(parent, key) {
      const replacement = maskValue(plain === undefined ? parent[key] : plain(parent[key]), mask);
      if (replacement === undefined) return;
      parent[key] = replacement;
      masked++;
    },
    element(parent, index) {
      const replacement = maskValue(plain === undefined ? parent[index] : plain(parent[index]), mask);
      if (replacement === undefined) return;
      parent[index] = replacement;
      masked++;
    },
  });
  return masked;
}

/** The masked form of one value, or undefined when the mask leaves it alone. */
export function maskValue(value: unknown, mask: Mask): string | undefined {
  if ('redact' in mask) return mask.replacement ?? DEFAULT_REDACTION;
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const keepLast = Number.isInteger(mask.keepLast) && mask.keepLast > 0 ? mask.keepLast : 0;
  return maskText(String(value), keepLast, mask.char ?? '*');
}

function maskText(text: string, keepLast: number, char: string): string {
  // The kept tail starts before the last `keepLast` non-whitespace code points.
  let start = text.length;
  for (let kept = 0; kept < keepLast && start > 0;) {
    start--;
    const code = text.charCodeAt(start);
    if (isLowSurrogate(code) && start > 0 && isHighSurrogate(text.charCodeAt(start - 1))) start--;
    else if (isWhitespace(code)) continue;
    kept++;
  }
  // Masked characters are appended a run at a time (char.repeat): one string per run rather than one per
  // character keeps 100,000 card numbers from filling the young generation with intermediate strings.
  let head = '';
  let run = 0;
  let masked = false;
  for (let i = 0; i < start; i++) {
    const code = text.charCodeAt(i);
    if (isWhitespace(code)) {
      head += char.repeat(run) + text.charAt(i);
      run = 0;
      continue;
    }
    if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1))) i++;
    run++;
    masked = true;
  }
  // Nothing hidden means the value has no more than keepLast characters: hide them all, never show it whole.
  if (!masked && keepLast > 0) return maskText(text, 0, char);
  return head + char.repeat(run) + text.slice(start);
}

/** `\s` of a UTF-16 unit, without a regex for the common ASCII case. */
function isWhitespace(code: number): boolean {
  if (code <= 32) return code === 32 || (code >= 9 && code <= 13);
  return code >= 0xa0 && WHITESPACE.test(String.fromCharCode(code));
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
