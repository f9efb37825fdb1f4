// Routing a canonical path where a backend might read it another way. Two readings are checked here, only
// when the path holds what makes them possible (the common path pays one indexOf each):
//
// - An encoded "/" or "\" goes where its route's `path_escapes` says: refused (the default), kept as data,
//   or decoded — and then routed again, because the decoded path may belong to another route, which must
//   decode too (otherwise "/files/x%2F..%2Fadmin" would reach /admin without /admin's consent).
// - ";" parameters: Tomcat, Jetty and Spring drop them from every segment before routing ("/admin;x/y" is
//   "/admin/y" to them). A path whose route would change once they are dropped is refused, so a catch-all
//   route cannot carry a request to a backend that serves it under a protected prefix.
import {
  decodeSeparators,
  hasEscapedSeparator,
  isPathRefusal,
  normalizePath,
  type PathEscapes,
  type PathRefusal,
} from '../lib/normalize-path.js';
import type { MatchResult, Router, RouterRequest } from './router.js';

/** A request the router can match whose path the decision may replace (the Exchange). */
export interface ReroutableRequest extends RouterRequest {
  path: string;
}

const REJECTED: PathRefusal = {
  refused: 'an encoded "/" or "\\" (%2F, %5C) or a raw "\\"; this route does not accept them',
};
const DECODED_ELSEWHERE: PathRefusal = {
  refused: 'once its escaped separators are decoded, the path belongs to a route that does not decode them',
};
const PARAMETERS_ELSEWHERE: PathRefusal = {
  refused: 'without its ";" parameters the path belongs to another route (some servers drop them)',
};

/** The route for a canonical path, or why the request is refused. May replace `req.path` (decode). */
export function routePath<R extends { readonly pathEscapes: PathEscapes }>(
  req: ReroutableRequest,
  router: Router<R>,
): MatchResult<R> | PathRefusal {
  let m = router.match(req);
  if (m.kind !== 'found') return m;
  if (hasEscapedSeparator(req.path)) {
    const judged = routeEscapedSeparators(req, m, router);
    if (isPathRefusal(judged) || judged.kind !== 'found') return judged;
    m = judged;
  }
  if (req.path.indexOf(';') !== -1 && !sameRouteWithoutParameters(req, m.value, router))
    return PARAMETERS_ELSEWHERE;
  return m;
}

function routeEscapedSeparators<R extends { readonly pathEscapes: PathEscapes }>(
  req: ReroutableRequest,
  found: MatchResult<R> & { readonly kind: 'found' },
  router: Router<R>,
): MatchResult<R> | PathRefusal {
  const mode = found.value.pathEscapes;
  if (mode === 'keep') return found;
  if (mode === 'reject') return REJECTED;
  const decoded = decodeSeparators(req.path);
  if (isPathRefusal(decoded)) return decoded;
  req.path = decoded;
  const again = router.match(req);
  if (again.kind === 'found' && again.value.pathEscapes !== 'decode') return DECODED_ELSEWHERE;
  return again;
}

/** The path read with every segment's ";" parameters dropped routes to the same route (or to none). */
function sameRouteWithoutParameters<R>(req: RouterRequest, route: R, router: Router<R>): boolean {
  const stripped = normalizePath(req.path.replace(SEGMENT_PARAMETERS, ''));
  if (isPathRefusal(stripped)) return false;
  const other = router.match({
    method: req.method,
    host: req.host,
    path: stripped,
    query: req.query,
    header: (name) => req.header(name),
  });
  return other.kind !== 'found' || other.value === route;
}

const SEGMENT_PARAMETERS = /;[^/]*/g;
