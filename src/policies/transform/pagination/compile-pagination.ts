// Turns the `add_pagination` settings into an immutable, checked form once per config load, so a request
// only reads precomputed names and messages and a bad combination fails the load instead of a request.
import { isToken } from '../../../lib/http-token.js';

/** The `add_pagination` settings as the config schema validated them; every field is optional. */
export interface PaginationConfig {
  /** Query parameter holding the page number. Default `page`. */
  page_param?: string;
  /** Query parameter holding the page size. Default `size`. */
  size_param?: string;
  /** Page size when the client sends none. Default 25. */
  default_size?: number;
  /** Largest page size; a larger requested size is clamped to it, not refused. Default 100. */
  max_size?: number;
  /** Number of the first page. Default 1. */
  first_page?: 0 | 1;
  /** Upstream response header holding the total item count, e.g. `X-Total-Count`. */
  total_header?: string;
  /** Dotted path into the upstream JSON body holding the total item count, e.g. `meta.total`. */
  total_field?: string;
  /** Name of the member added to the response body. Default `pagination`. */
  field?: string;
}

/** Settings with defaults filled in and derived strings precomputed; shared read-only by all requests. */
export interface CompiledPagination {
  readonly pageParam: string;
  readonly sizeParam: string;
  readonly defaultSize: number;
  readonly maxSize: number;
  readonly firstPage: 0 | 1;
  /** Lower-cased, as Node's incoming header objects key it (`Headers.get` ignores case anyway). */
  readonly totalHeader: string | undefined;
  readonly totalField: string | undefined;
  readonly field: string;
  /** `page_param` percent-encoded for a query string, followed by `=`. */
  readonly pageKey: string;
  /** `size_param` percent-encoded for a query string, followed by `=`. */
  readonly sizeKey: string;
  /** The client-facing sentence for an unusable page value. */
  readonly pageError: string;
  /** The client-facing sentence for an unusable size value. */
  readonly sizeError: string;
  /** The upstream query for a request without a query string: defaults only. */
  readonly defaultQuery: string;
}

/** A setting that cannot work, found when the config loads; `key` is the setting's name in the config. */
export class PaginationConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'PaginationConfigError';
  }
}

/** Longest page or size value accepted from a client: keeps every count and page number a safe integer. */
export const MAX_DIGITS = 9;

/** Fills defaults and checks the settings together; throws `PaginationConfigError` on the first bad one. */
export function compilePagination(config: PaginationConfig): CompiledPagination {
  const pageParam = config.page_param ?? 'page';
  const sizeParam = config.size_param ?? 'size';
  const defaultSize = config.default_size ?? 25;
  const maxSize = config.max_size ?? 100;
  const firstPage = config.first_page ?? 1;
  const field = config.field ?? 'pagination';

  const pageKey = queryName('page_param', pageParam) + '=';
  const sizeKey = queryName('size_param', sizeParam) + '=';
  if (pageParam === sizeParam) {
    throw new PaginationConfigError('size_param', `size_param must differ from page_param ("${pageParam}")`);
  }
  countAtLeastOne('default_size', defaultSize);
  countAtLeastOne('max_size', maxSize);
  if (defaultSize > maxSize) {
    throw new PaginationConfigError(
      'default_size',
      `default_size (${defaultSize}) must not exceed max_size (${maxSize})`,
    );
  }
  if (firstPage !== 0 && firstPage !== 1) {
    throw new PaginationConfigError('first_page', 'first_page must be 0 or 1');
  }
  // RFC 9110 §5.1: a field name is a token.
  if (config.total_header !== undefined && !isToken(config.total_header)) {
    throw new PaginationConfigError('total_header', 'total_header must be a header name (RFC 9110 token)');
  }
  if (config.total_field === '') {
    throw new PaginationConfigError('total_field', 'total_field must not be empty');
  }
  if (field === '') throw new PaginationConfigError('field', 'field must not be empty');

  return Object.freeze({
    pageParam,
    sizeParam,
    defaultSize,
    maxSize,
    firstPage,
    totalHeader: config.total_header?.toLowerCase(),
    totalField: config.total_field,
    field,
    pageKey,
    sizeKey,
    pageError:
      `Query parameter "${pageParam}" must be a whole number of at least ${firstPage} ` +
      `(at most ${MAX_DIGITS} digits).`,
    sizeError:
      `Query parameter "${sizeParam}" must be a whole number of at least 1 (at most ${MAX_DIGITS} digits); ` +
      `sizes above ${maxSize} are reduced to ${maxSize}.`,
    defaultQuery: `${pageKey}${firstPage}&${sizeKey}${defaultSize}`,
  });
}

/** The parameter name percent-encoded, so names like `page[number]` stay valid in a URI. */
function queryName(key: string, name: string): string {
  if (name === '') throw new PaginationConfigError(key, `${key} must not be empty`);
  try {
    return encodeURIComponent(name);
  } catch {
    // A lone surrogate has no UTF-8 form: no client could ever send this name.
    throw new PaginationConfigError(key, `${key} must be well-formed Unicode`);
  }
}

function countAtLeastOne(key: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new PaginationConfigError(key, `${key} must be a whole number of at least 1 (got ${value})`);
  }
}
