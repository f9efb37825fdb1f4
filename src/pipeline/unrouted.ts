// Requests no route takes: the server notes why on the exchange (a problem found before routing, or the
// methods a path allows), and the system route's terminal step answers with that problem.
import { createStateKey, type Exchange } from './exchange.js';
import type { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';

/** A problem found before routing (414, 400, 413…), answered by the system route. */
export const PRE_ROUTING_PROBLEM = createStateKey<Problem>('gateway.pre-routing-problem');
/** Methods that would have matched, for 405. */
export const ALLOWED_METHODS = createStateKey<readonly string[]>('gateway.allowed-methods');

/** The system route's terminal step: the pre-routing problem, else 405 with Allow, else 404. */
export function answerUnrouted(ex: Exchange): Promise<never> {
  const pre = ex.get(PRE_ROUTING_PROBLEM);
  if (pre) return Promise.reject(pre);
  const allow = ex.get(ALLOWED_METHODS);
  if (allow) return Promise.reject(problems.methodNotAllowed(ex.method, allow));
  return Promise.reject(problems.routeNotFound(ex.path));
}
