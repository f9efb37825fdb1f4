// Follows a compiled path through a document one level at a time (every value at one depth, then the next):
// a wide array costs one pass, a deep document costs only the path's depth, and nothing recurses.
import type { JsonPathSegment } from './json-path.js';

export type JsonObject = Record<string, unknown>;

/**
 * What to do with each place the whole path reaches: an own key of an object, or an existing element of an
 * array. Two callbacks rather than one slot object per place: 100,000 elements mean no 100,000 allocations.
 */
export interface PlaceVisitor {
  member(parent: JsonObject, key: string): void;
  element(parent: unknown[], index: number): void;
}

/** Any non-array object counts: bodies come from JSON.parse, whose objects are all plain. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every value the first `depth` segments reach from `doc`, in document order. */
export function walk(doc: unknown, segments: readonly JsonPathSegment[], depth = segments.length): unknown[] {
  let level: unknown[] = [doc];
  for (const segment of segments.slice(0, depth)) {
    const next: unknown[] = [];
    for (const value of level) pushChildren(value, segment, next);
    level = next;
    if (level.length === 0) break;
  }
  return level;
}

/** Appends to `out` what `segment` reaches from `value`: own keys only, existing elements only. */
export function pushChildren(value: unknown, segment: JsonPathSegment, out: unknown[]): void {
  if (Array.isArray(value)) {
    // A loop, not out.push(...value): spreading 100,000 arguments can overflow the stack.
    if (segment.kind === 'each') for (const element of value) out.push(element);
    else {
      const index = elementIndex(value, segment);
      if (index !== undefined) out.push(value[index]);
    }
  } else if (isJsonObject(value) && segment.kind === 'key' && Object.hasOwn(value, segment.key)) {
    out.push(value[segment.key]);
  }
}

/** The existing element a single-element segment names in `array`, if any (never the `-` past the end). */
export function elementIndex(array: readonly unknown[], segment: JsonPathSegment): number | undefined {
  const index =
    segment.kind === 'index' ? segment.index : segment.kind === 'key' ? segment.arrayIndex : undefined;
  return typeof index === 'number' && index < array.length ? index : undefined;
}

/** Visits every place the whole path reaches, in document order; none for the root, which has no parent. */
export function visitPlaces(doc: unknown, segments: readonly JsonPathSegment[], visitor: PlaceVisitor): void {
  const last = segments.at(-1);
  if (last === undefined) return;
  for (const parent of walk(doc, segments, segments.length - 1)) {
    if (Array.isArray(parent)) {
      if (last.kind === 'each') {
        for (let index = 0; index < parent.length; index++) visitor.element(parent, index);
      } else {
        const index = elementIndex(parent, last);
        if (index !== undefined) visitor.element(parent, index);
      }
    } else if (isJsonObject(parent) && last.kind === 'key' && Object.hasOwn(parent, last.key)) {
      visitor.member(parent, last.key);
    }
  }
}
