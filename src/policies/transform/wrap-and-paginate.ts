// `response.wrap_json` and `response.add_pagination` at run time: the request side resolves the page the
// client asked for (and gives the upstream explicit page and size values); the response side wraps the
// edited body and adds the pagination object and its Link header.
import { createStateKey, type Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { problems } from '../../problems/catalog.js';
import { getAll } from './json-path/index.js';
import {
  paginate,
  resolvePage,
  totalFromHeader,
  totalFromValue,
  type CompiledPagination,
  type PageRequest,
} from './pagination/index.js';
import type { ResponsePlan } from './compile-plans.js';

/** The page a request resolved, for its response's pagination. */
const PAGE = createStateKey<PageRequest>('transform.page');

/** Resolves the request's page (400 when it cannot be one) and sets the upstream query for it. */
export function resolveRequestPage(pagination: CompiledPagination, ex: Exchange): void {
  const page = resolvePage(pagination, ex.path, ex.query);
  if ('error' in page) throw problems.badRequest(page.error);
  ex.query = page.upstreamQuery;
  ex.set(PAGE, page);
}

/** wrap_json and add_pagination, after the field operations. */
export function finishResponseValue(
  value: unknown,
  ex: Exchange,
  res: GatewayResponse,
  plan: ResponsePlan,
): unknown {
  const page = plan.pagination === undefined ? undefined : ex.get(PAGE);
  let total: number | undefined;
  let itemCount: number | undefined;
  if (page !== undefined) {
    const p = plan.pagination!;
    if (p.totalHeader !== undefined) total = totalFromHeader(res.headers[p.totalHeader]);
    if (total === undefined && plan.totalField !== undefined)
      total = totalFromValue(getAll(value, plan.totalField)[0]);
    if (Array.isArray(value)) itemCount = value.length;
  }
  if (plan.wrap !== undefined) value = { [plan.wrap]: value };
  if (page !== undefined) {
    const p = plan.pagination!;
    const { object, link } = paginate(p, page, { itemCount, total });
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      (value as Record<string, unknown>)[p.field] = object;
    const existing = res.headers['link'];
    res.headers['link'] =
      existing === undefined ? link : Array.isArray(existing) ? [...existing, link] : [existing, link];
  }
  return value;
}
