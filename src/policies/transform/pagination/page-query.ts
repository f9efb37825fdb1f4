// Rewrites a raw query string so it carries exactly one page and one size parameter, leaving every other
// parameter as it came. Shared by the upstream query and the links, so both agree on what "the same
// query, another page" means.
import { decodeFormComponent } from '../../../lib/query.js';
import type { CompiledPagination } from './compile-pagination.js';

/**
 * A query split around its page value: `before + page + after` is the whole query. Computed once, it
 * yields the query for any page number by concatenation.
 */
export interface PageQuery {
  readonly before: string;
  readonly after: string;
}

const OTHER = 0;
const PAGE = 1;
const SIZE = 2;
type ParamKind = typeof OTHER | typeof PAGE | typeof SIZE;

/**
 * Splits `query` (raw, without `?`) around its page value, with the size set to `size`. The first page
 * and size parameters are replaced in place (written with the configured name, percent-encoded), later
 * repeats of them dropped, missing ones appended (page, then size). Every other `&`-separated piece is
 * kept byte for byte and in order; names are compared decoded, as `URLSearchParams` would.
 */
export function pageQuery(p: CompiledPagination, query: string, size: number): PageQuery {
  const parts: string[] = [];
  let pageAt = -1;
  let sizeSeen = false;
  const length = query.length;
  let start = 0;
  // An empty query has no pieces; `''.split('&')` would give one empty piece.
  while (length > 0 && start <= length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = length;
    const kind = paramKind(p, query, start, end);
    if (kind === PAGE) {
      if (pageAt < 0) {
        pageAt = parts.length;
        parts.push(p.pageKey);
      }
    } else if (kind === SIZE) {
      if (!sizeSeen) parts.push(p.sizeKey + size);
      sizeSeen = true;
    } else {
      parts.push(query.slice(start, end));
    }
    start = end + 1;
  }
  if (pageAt < 0 || !sizeSeen) {
    // Trailing `&`s carry no parameter; appending after them would leave `&&` in the middle.
    while (parts.length > pageAt + 1 && parts[parts.length - 1] === '') parts.pop();
    if (pageAt < 0) {
      pageAt = parts.length;
      parts.push(p.pageKey);
    }
    if (!sizeSeen) parts.push(p.sizeKey + size);
  }
  const before = parts.slice(0, pageAt + 1).join('&');
  const after = pageAt + 1 < parts.length ? '&' + parts.slice(pageAt + 1).join('&') : '';
  return { before, after };
}

/** Which of the two parameters query[start, end) names; decodes the name only when it holds `%` or `+`. */
function paramKind(p: CompiledPagination, query: string, start: number, end: number): ParamKind {
  if (start === end) return OTHER;
  let nameEnd = query.indexOf('=', start);
  if (nameEnd < 0 || nameEnd > end) nameEnd = end;
  for (let i = start; i < nameEnd; i++) {
    const c = query.charCodeAt(i);
    if (c === 0x25 /* % */ || c === 0x2b /* + */) {
      const name = decodeFormComponent(query.slice(start, nameEnd));
      return name === p.pageParam ? PAGE : name === p.sizeParam ? SIZE : OTHER;
    }
  }
  const nameLength = nameEnd - start;
  if (nameLength === p.pageParam.length && query.startsWith(p.pageParam, start)) return PAGE;
  if (nameLength === p.sizeParam.length && query.startsWith(p.sizeParam, start)) return SIZE;
  return OTHER;
}
