// The response side of `add_pagination`: from the resolved page and what the upstream said about its
// size, the pagination member for the body and the same links as an RFC 8288 Link header.
import type { CompiledPagination } from './compile-pagination.js';
import { linkPath, linkQuery } from './link-target.js';
import { pageQuery } from './page-query.js';
import type { PageRequest } from './resolve-page.js';
import { isCount } from './total-count.js';

/** What the upstream response told about the collection. */
export interface PageInfo {
  /** Items in the returned page, when the body holds a list the caller could count. */
  readonly itemCount: number | undefined;
  /** Items in the whole collection, from `total_header` or `total_field` (see `totalFromHeader`). */
  readonly total: number | undefined;
}

/**
 * The member added to the body. Links are path-absolute references (`/orders?page=2&size=25`), never
 * absolute URLs: the gateway has no host name it could trust from the request. Each keeps the client's
 * query with the page replaced and the size explicit.
 */
export interface PaginationObject {
  readonly page: number;
  readonly size: number;
  /** Present when the total is known. */
  readonly total?: number;
  /** ceil(total / size), 0 for an empty collection; present when the total is known. */
  readonly total_pages?: number;
  readonly next: string | null;
  readonly prev: string | null;
  readonly first: string;
  /** The last page (the first page when the collection is empty); present when the total is known. */
  readonly last?: string;
}

/** The body member and the Link header value carrying the same links. */
export interface Pagination {
  readonly object: PaginationObject;
  /** `<…>; rel="first", <…>; rel="prev", <…>; rel="next", <…>; rel="last"`, absent relations left out. */
  readonly link: string;
}

/**
 * Builds the pagination for one response.
 * - next: with a known total, when pages remain after this one. Without one, when the page came back
 *   full (`itemCount === size`): a last page that is exactly full therefore offers one next page, which
 *   comes back empty. When neither is known, next is always offered, since more items cannot be ruled out.
 * - prev: on every page after the first; from a page past the end (known total) it leads to the last page.
 * - last, total, total_pages: only with a known total. A total that is not a non-negative safe integer
 *   counts as unknown.
 */
export function paginate(p: CompiledPagination, req: PageRequest, info: PageInfo): Pagination {
  const base = linkPath(req.clientPath) + '?';
  const query = pageQuery(p, linkQuery(req.clientQuery), req.size);
  const href = (page: number): string => base + query.before + page + query.after;

  const { page, size } = req;
  const total = isCount(info.total) ? info.total : undefined;
  const first = href(p.firstPage);
  let next: string | null = null;
  let prev: string | null = null;
  let links = `<${first}>; rel="first"`;
  let object: PaginationObject;

  if (total !== undefined) {
    const totalPages = pageCount(total, size);
    const lastPage = p.firstPage + Math.max(totalPages, 1) - 1;
    const last = href(lastPage);
    if (page > p.firstPage) prev = href(Math.min(page - 1, lastPage));
    // Comparing page numbers, not page * size with total, keeps every step within safe integers.
    if (page - p.firstPage + 1 < totalPages) next = href(page + 1);
    object = { page, size, total, total_pages: totalPages, next, prev, first, last };
    links += linkTo(prev, 'prev') + linkTo(next, 'next') + linkTo(last, 'last');
  } else {
    if (page > p.firstPage) prev = href(page - 1);
    if (info.itemCount === undefined || info.itemCount === size) next = href(page + 1);
    object = { page, size, next, prev, first };
    links += linkTo(prev, 'prev') + linkTo(next, 'next');
  }
  return { object, link: links };
}

/** ceil(total / size) in exact integer arithmetic: a float quotient can round across a whole number. */
function pageCount(total: number, size: number): number {
  const remainder = total % size;
  return (total - remainder) / size + (remainder === 0 ? 0 : 1);
}

function linkTo(target: string | null, rel: string): string {
  return target === null ? '' : `, <${target}>; rel="${rel}"`;
}
