// The purge tags a response carries: Surrogate-Key (Fastly, space-separated) and Cache-Tag (Cloudflare,
// comma-separated), bounded so that one upstream response cannot bloat the store's tag index.

import type { ResponseHeaders } from './field-value.js';

/** The most tags one response may carry; later ones are dropped. */
export const MAX_SURROGATE_TAGS = 64;
/** The longest tag kept, in characters; longer tags are dropped rather than cut (cut tags could collide). */
export const MAX_SURROGATE_TAG_LENGTH = 256;

const WHITESPACE = /[ \t]+/;

/**
 * The response's tags from `surrogate-key` then `cache-tag`, trimmed, in order of appearance, without
 * duplicates, empty, over-long or control-character tags, at most MAX_SURROGATE_TAGS.
 */
export function surrogateTags(headers: ResponseHeaders): string[] {
  const tags = new Set<string>();
  collect(headers['surrogate-key'], WHITESPACE, tags);
  collect(headers['cache-tag'], ',', tags);
  return [...tags];
}

function collect(
  value: string | readonly string[] | undefined,
  separator: string | RegExp,
  tags: Set<string>,
): void {
  if (value === undefined) return;
  for (const line of typeof value === 'string' ? [value] : value) {
    for (const piece of line.split(separator)) {
      if (tags.size >= MAX_SURROGATE_TAGS) return;
      const tag = piece.trim();
      if (tag !== '' && tag.length <= MAX_SURROGATE_TAG_LENGTH && !hasControl(tag)) tags.add(tag);
    }
  }
}

/** Whether `text` holds a control character (HTAB included): such a tag is unusable in a purge request. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
