// The request side of `add_pagination`: reads the page and size the client asked for, refuses values that
// cannot be a page, and gives the upstream explicit values so it never applies defaults of its own.
import { queryValue } from '../../../lib/query.js';
import { MAX_DIGITS, type CompiledPagination } from './compile-pagination.js';
import { pageQuery } from './page-query.js';

/** The page a request asked for, resolved; kept by the policy until the response arrives. */
export interface PageRequest {
  readonly page: number;
  /** The requested size clamped to `max_size`, or `default_size` when none was sent. */
  readonly size: number;
  /** The raw query to send upstream: the client's, with this page and size written explicitly. */
  readonly upstreamQuery: string;
  /** The request path as given, for links. */
  readonly clientPath: string;
  /** The client's raw query (without `?`), for links. */
  readonly clientQuery: string;
}

/** A page or size value the gateway refuses; the policy answers 400 with `error` as the detail. */
export interface PageError {
  /** A sentence for the client naming the parameter and the values expected. */
  readonly error: string;
  /** The query parameter at fault, as configured. */
  readonly param: string;
}

// Plain decimal digits only: no sign, point, exponent or whitespace, which Number() would accept.
const DIGITS = new RegExp(`^[0-9]{1,${MAX_DIGITS}}$`);

/**
 * Resolves the page and size from `rawQuery` (without `?`), decoded as application/x-www-form-urlencoded;
 * the first occurrence of each parameter wins. A missing parameter takes `first_page` / `default_size`;
 * a size above `max_size` is clamped. Anything else that is not a count (empty, signed, fractional,
 * exponent, over 9 digits), a page below `first_page` or a size of 0 is a `PageError`.
 */
export function resolvePage(p: CompiledPagination, path: string, rawQuery: string): PageRequest | PageError {
  if (rawQuery === '') {
    return {
      page: p.firstPage,
      size: p.defaultSize,
      upstreamQuery: p.defaultQuery,
      clientPath: path,
      clientQuery: rawQuery,
    };
  }
  const page = readCount(rawQuery, p.pageParam, p.firstPage);
  if (page === undefined || page < p.firstPage) return { error: p.pageError, param: p.pageParam };
  const requested = readCount(rawQuery, p.sizeParam, p.defaultSize);
  if (requested === undefined || requested < 1) return { error: p.sizeError, param: p.sizeParam };
  const size = Math.min(requested, p.maxSize);
  const query = pageQuery(p, rawQuery, size);
  return {
    page,
    size,
    upstreamQuery: query.before + page + query.after,
    clientPath: path,
    clientQuery: rawQuery,
  };
}

/** The parameter's value as a count, `fallback` when absent, undefined when it is not plain digits. */
function readCount(query: string, name: string, fallback: number): number | undefined {
  const value = queryValue(query, name);
  if (value === undefined) return fallback;
  return DIGITS.test(value) ? Number(value) : undefined;
}
