// One import for the transform policy: `add_pagination` compiled at load, resolved per request, applied
// per response.
export {
  compilePagination,
  PaginationConfigError,
  type CompiledPagination,
  type PaginationConfig,
} from './compile-pagination.js';
export { paginate, type PageInfo, type Pagination, type PaginationObject } from './paginate.js';
export { resolvePage, type PageError, type PageRequest } from './resolve-page.js';
export { totalFromHeader, totalFromValue } from './total-count.js';
