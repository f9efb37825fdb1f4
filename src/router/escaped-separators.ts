// A path holding an encoded "/" or "\" goes where its route's `path_escapes` says: refused (the default),
// kept as data, or decoded — and then routed again, because the decoded path may belong to another route,
// which must decode too (otherwise "/files/x%2F..%2Fadmin" would reach /admin without /admin's consent).
import { decodeSeparators, isPathRefusal, type PathEscapes, type PathRefusal } from './normalize-path.js';
import type { MatchResult, Router, RouterRequest } from './router.js';

/** A request the router can match whose path the decision may replace (the Exchange). */
export interface ReroutableRequest extends RouterRequest {
  path: string;
}

const REJECTED: PathRefusal = {
  refused: 'an encoded "/" or "\\" (%2F, %5C) or a raw "\\"; this route does not accept them',
};
const DECODED_ELSEWHERE: PathRefusal = {
  refused:
    'once its escaped separators are decoded, the path belongs to a route that does not decode them',
};

/** The match that stands for a path with escaped separators, or why the request is refused. */
export function routeEscapedSeparators<R extends { readonly pathEscapes: PathEscapes }>(
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
