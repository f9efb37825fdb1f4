// POST /cache/purge on the admin listener, with one of {"key": "<URL or cache key>"}, {"prefix":
// "/path/prefix"}, {"tag": "<tag>"}: removes the matching entries of the response cache and says how many.
import type { AdminAction } from '../../pipeline/policy.js';
import { Problem } from '../../problems/problem.js';
import { problems } from '../../problems/catalog.js';
import { purgeKey } from './purge-key.js';
import type { ResponseCacheStore } from './store/store.js';

export function purgeAction(store: ResponseCacheStore): AdminAction {
  return {
    path: '/cache/purge',
    method: 'POST',
    async handle({ body }) {
      const request = body as { key?: unknown; prefix?: unknown; tag?: unknown } | undefined;
      const given = request === undefined || request === null ? [] : Object.keys(request);
      const value = given.length === 1 ? (request as Record<string, unknown>)[given[0]!] : undefined;
      if (typeof value !== 'string' || value === '' || !['key', 'prefix', 'tag'].includes(given[0]!))
        throw problems.badRequest(
          'Send a JSON object with one of "key", "prefix" (a path prefix) or "tag", a non-empty string',
        );
      let purged: number;
      try {
        if (given[0] === 'key') {
          // A URL, or `<path>?<query>\n<host>`, covers that URL on every route, for every consumer and
          // variant; a full key (with its route and consumer parts) that entry and its variants. The host
          // may carry its port.
          const key = purgeKey(value);
          if (typeof key !== 'string') throw problems.badRequest(`Cannot purge this key: ${key.refused}`);
          const exact = (await store.delete(key)) ? 1 : 0;
          purged = exact + (await store.purgePrefix(key + '\n'));
        } else if (given[0] === 'prefix') {
          if (!value.startsWith('/')) throw problems.badRequest('A prefix is a path: it starts with "/"');
          purged = await store.purgePrefix(value);
        } else purged = await store.purgeTag(value);
      } catch (err) {
        if (err instanceof Problem) throw err;
        throw problems.serviceUnavailable('The cache store did not answer');
      }
      return { status: 200, body: { purged, [given[0]!]: value } };
    },
  };
}
