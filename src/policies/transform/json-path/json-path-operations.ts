// Reads and edits a parsed JSON body along a compiled path, for the transform policy's per-request steps:
// in place, without recursion, and never through inherited or prototype keys.
import { isRefusedKey, type JsonPath, type JsonPathSegment } from './json-path.js';
import {
  elementIndex,
  isJsonObject,
  pushChildren,
  visitPlaces,
  walk,
  type JsonObject,
} from './walk-json-path.js';

/** How `setValue` treats a value already at the path. */
export interface SetValueOptions {
  /** Keep any existing value, `null` included ("set default"); only absent keys and elements are set. */
  readonly onlyIfMissing?: boolean;
}

/**
 * Every value the path reaches (expanding wildcards), in document order. These are the document's own
 * values, not copies. Nothing for an `undefined` document (no body).
 */
export function getAll(doc: unknown, path: JsonPath): unknown[] {
  return doc === undefined ? [] : walk(doc, path.segments);
}

/**
 * Sets the value at the path and returns the same, mutated document (or the new value for the root path).
 * - Missing object keys along the way are created as `{}`, but only where every later step is a key: a
 *   missing array, or a missing key before `[0]` or `[]`, is left missing (nothing half-built).
 * - Wildcards apply to existing elements only; below each element, missing keys are created as above.
 * - An existing non-object (string, number, `null`) in the way stops that branch: it is not replaced.
 * - An index sets an existing element, or appends when it equals the length (as does the pointer `-`);
 *   beyond the length nothing is set, so arrays never get holes.
 * - Objects and arrays are copied at each place they are set (`structuredClone`), so a config value shared
 *   by every request is never mutated by a later step.
 */
export function setValue(
  doc: unknown,
  path: JsonPath,
  value: unknown,
  options: SetValueOptions = {},
): unknown {
  const onlyIfMissing = options.onlyIfMissing === true;
  const { segments } = path;
  const last = segments.at(-1);
  if (last === undefined) return onlyIfMissing && doc !== undefined ? doc : copyOf(value);
  let firstCreating = segments.length - 1;
  while (firstCreating > 0 && segments[firstCreating]?.kind === 'key') firstCreating--;
  let level: unknown[] = [doc];
  for (const [depth, segment] of segments.slice(0, -1).entries()) {
    const next: unknown[] = [];
    for (const node of level) stepCreating(node, segment, depth >= firstCreating, next);
    level = next;
  }
  for (const node of level) setLast(node, last, value, onlyIfMissing);
  return doc;
}

/** Like pushChildren, but a missing key becomes a new `{}` when `create` is set. */
function stepCreating(node: unknown, segment: JsonPathSegment, create: boolean, out: unknown[]): void {
  const missing =
    create &&
    segment.kind === 'key' &&
    isJsonObject(node) &&
    !isRefusedKey(segment.key) &&
    !Object.hasOwn(node, segment.key);
  if (!missing) return pushChildren(node, segment, out);
  const created: JsonObject = {};
  node[segment.key] = created;
  out.push(created);
}

function setLast(node: unknown, segment: JsonPathSegment, value: unknown, onlyIfMissing: boolean): void {
  if (Array.isArray(node)) {
    if (segment.kind === 'each') {
      if (!onlyIfMissing) for (let i = 0; i < node.length; i++) node[i] = copyOf(value);
      return;
    }
    const index =
      segment.kind === 'index'
        ? segment.index
        : segment.arrayIndex === 'end'
          ? node.length
          : segment.arrayIndex;
    if (index === node.length) node.push(copyOf(value));
    else if (index !== undefined && index < node.length && !onlyIfMissing) node[index] = copyOf(value);
  } else if (isJsonObject(node) && segment.kind === 'key' && !isRefusedKey(segment.key)) {
    if (!onlyIfMissing || !Object.hasOwn(node, segment.key)) node[segment.key] = copyOf(value);
  }
}

function copyOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? structuredClone(value) : value;
}

/**
 * Removes what the path reaches and returns how many values were removed: object keys are deleted; an
 * array element is spliced out, so later elements shift down; `[]` empties the array. The root has no parent
 * and is never removed (0).
 */
export function removeAt(doc: unknown, path: JsonPath): number {
  const { segments } = path;
  const last = segments.at(-1);
  if (last === undefined) return 0;
  let removed = 0;
  for (const parent of walk(doc, segments, segments.length - 1)) {
    if (Array.isArray(parent)) {
      if (last.kind === 'each') {
        removed += parent.length;
        parent.length = 0;
        continue;
      }
      const index = elementIndex(parent, last);
      if (index === undefined) continue;
      parent.splice(index, 1);
      removed++;
    } else if (isJsonObject(parent) && last.kind === 'key' && Object.hasOwn(parent, last.key)) {
      replaceKey(parent, last.key, undefined);
      removed++;
    }
  }
  return removed;
}

/**
 * Renames the object key the path ends with to `newKey` wherever the path reaches, and returns how many
 * keys were renamed. The renamed key keeps its place in the key order, and an existing `newKey` is
 * overwritten (its old place is dropped). As everywhere in JavaScript, integer-like keys ("0", "12") are
 * ordered first whatever their place. A path ending with an index or `[]`, or reaching an array element,
 * renames nothing. Throws a TypeError for a refused `newKey` (check it at load with `isRefusedKey`).
 */
export function renameAt(doc: unknown, path: JsonPath, newKey: string): number {
  if (isRefusedKey(newKey)) {
    throw new TypeError(`refused to rename to "${newKey}": it could pollute object prototypes`);
  }
  let renamed = 0;
  visitPlaces(doc, path.segments, {
    member(parent, key) {
      if (key !== newKey) replaceKey(parent, key, newKey);
      renamed++;
    },
    element() {},
  });
  return renamed;
}

/**
 * Removes `from`, putting `to` (when given) in its place in the key order. The keys after it are taken off
 * last first and put back: V8 undoes a last-added property cheaply and the object keeps its fast shape,
 * where a delete from the middle turns it into a dictionary (3x slower over 100,000 objects, and slower to
 * serialize afterwards).
 */
function replaceKey(object: JsonObject, from: string, to: string | undefined): void {
  const keys = Object.keys(object);
  const at = keys.indexOf(from);
  const laterValues: unknown[] = [];
  for (let i = keys.length - 1; i > at; i--) {
    const key = keys[i]!;
    laterValues.push(object[key]);
    delete object[key];
  }
  const value = object[from];
  // The key as the object holds it (internalized), not the path's copy: V8 undoes the last-added property
  // only when the key is the very same string.
  delete object[keys[at]!];
  if (to !== undefined) {
    delete object[to];
    object[to] = value;
  }
  for (let i = at + 1, v = laterValues.length - 1; i < keys.length; i++, v--) {
    const key = keys[i]!;
    if (key !== to) object[key] = laterValues[v];
  }
}
