// The cache key a purge by key names (admin `POST /cache/purge {"key": …}`), in the form the cache builds
// its keys: `<normalized path>?<normalized query>\n<host>` (the host lowercased, without its port, as
// requests are routed), then, for the key of one entry, `\nr:<route>` and `\nc:<consumer>`.
//
// Accepted: a URL as a client sends it (`http://api.example.com:8080/v1/products?page=1`), or the key form
// `<path>?<query>\n<host>[\n…]`. Either way the path is normalized as for routing, the query as in every
// key (parameters sorted, equivalent escapes merged), and the host loses its port and its case — so a
// purge names the entry whether or not it writes the port the requests carried.
import { isPathRefusal, normalizePath } from '../../lib/normalize-path.js';
import { hostOnly } from '../../lib/host.js';
import { normalizeQuery } from './semantics/index.js';

interface PurgeKeyRefusal {
  readonly refused: string;
}

const URL_FORM = /^https?:\/\//i;

/** The cache key for a purge's `key`, or why it names none. */
export function purgeKey(given: string): string | PurgeKeyRefusal {
  if (URL_FORM.test(given)) {
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      return { refused: 'the key is not a valid URL' };
    }
    return canonical(url.pathname, url.search.slice(1), url.hostname, []);
  }
  const [target = '', host, ...rest] = given.split('\n');
  if (host === undefined || host === '')
    return {
      refused:
        'a key is a URL (http://host[:port]/path?query) or "<path>?<query>\\n<host>[:port]" (a newline before the host)',
    };
  const q = target.indexOf('?');
  return canonical(q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q + 1), host, rest);
}

function canonical(
  rawPath: string,
  rawQuery: string,
  authority: string,
  rest: readonly string[],
): string | PurgeKeyRefusal {
  const path = normalizePath(rawPath);
  if (isPathRefusal(path)) return { refused: `the key's path is refused: ${path.refused}` };
  const host = hostOnly(authority.trim());
  if (host === '') return { refused: 'the key names no host' };
  const key = path + '?' + normalizeQuery(rawQuery) + '\n' + host;
  return rest.length === 0 ? key : key + '\n' + rest.join('\n');
}
