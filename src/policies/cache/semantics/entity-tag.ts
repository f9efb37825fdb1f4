// Entity tags (RFC 9110 §8.8.3): parsing one tag or an If-None-Match list, and weak comparison. An
// opaque-tag may hold a comma, so lists are read tag by tag, never split on commas.

import { skipOws } from '../../../lib/http-token.js';

/** One entity-tag. */
export interface EntityTag {
  /** Whether it carried the `W/` weakness indicator. */
  readonly weak: boolean;
  /** The opaque-tag, quotes included: `"xyzzy"`. */
  readonly opaque: string;
}

/** The members of an If-None-Match or If-Match field (RFC 9110 §13.1.1-2). */
interface EntityTagList {
  /** The field is `*`. */
  readonly any: boolean;
  /** Its well-formed entity-tags; malformed members are left out. */
  readonly tags: readonly EntityTag[];
}

const DQUOTE = 0x22;
const COMMA = 0x2c;

/** etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3). */
function isEtagc(code: number): boolean {
  return code === 0x21 || (code >= 0x23 && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}

/** The entity-tag starting at `start` and the index after it, or undefined when there is none. */
function readEntityTag(text: string, start: number): { tag: EntityTag; end: number } | undefined {
  const weak = text.startsWith('W/', start);
  const open = weak ? start + 2 : start;
  if (text.charCodeAt(open) !== DQUOTE) return undefined;
  let i = open + 1;
  while (i < text.length && isEtagc(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== DQUOTE) return undefined;
  return { tag: { weak, opaque: text.slice(open, i + 1) }, end: i + 1 };
}

/** `text` (trimmed) as exactly one entity-tag, or undefined. */
export function parseEntityTag(text: string): EntityTag | undefined {
  const start = skipOws(text, 0);
  const read = readEntityTag(text, start);
  return read !== undefined && skipOws(text, read.end) === text.length ? read.tag : undefined;
}

/**
 * Parses `"*" / #entity-tag`. Each member that is not a well-formed entity-tag (an unquoted value, a
 * lowercase `w/`, text after the closing quote, a `*` among tags) is skipped up to the next comma.
 */
export function parseEntityTagList(text: string): EntityTagList {
  const tags: EntityTag[] = [];
  if (text.trim() === '*') return { any: true, tags };
  let i = 0;
  while (i < text.length) {
    i = skipOws(text, i);
    if (i >= text.length) break;
    if (text.charCodeAt(i) === COMMA) {
      i++;
      continue;
    }
    const read = readEntityTag(text, i);
    if (read !== undefined) {
      const after = skipOws(text, read.end);
      if (after === text.length || text.charCodeAt(after) === COMMA) {
        tags.push(read.tag);
        i = after;
        continue;
      }
    }
    const comma = text.indexOf(',', read?.end ?? i);
    i = comma < 0 ? text.length : comma + 1;
  }
  return { any: false, tags };
}

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque-tags are equal, whatever either's weakness. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}
