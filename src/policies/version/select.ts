// Reading the version a request names: from a route path parameter, a header, a vendor media type in Accept
// (`application/vnd.acme.v2+json`, or `application/vnd.acme+json; version=2`) or a query parameter. Each
// reader is built once per route; undefined means "the request names no version".
import type { Exchange } from '../../pipeline/exchange.js';
import { PolicyConfigError } from '../../pipeline/policy.js';
import type { VersionConfig } from './schema.js';

export interface VersionSelector {
  /** The version the request names, as written, or undefined when it names none. */
  read(ex: Exchange): string | undefined;
  /** How a client names one, for problems and `portico routes`: "the Accept-Version header". */
  readonly describe: string;
  /** This request's URL with another version (path and query forms), for a successor link or redirect. */
  readonly swap?: (ex: Exchange, version: string) => string;
}

const MAX_VERSION_LENGTH = 64;

export function versionSelector(config: VersionConfig, names: readonly string[]): VersionSelector {
  switch (config.from) {
    case 'path':
      return pathSelector(config.param ?? 'version');
    case 'header':
      return headerSelector(config.header ?? 'Accept-Version');
    case 'media_type': {
      if (config.vendor === undefined)
        throw new PolicyConfigError('from: media_type needs `vendor` (application/vnd.<vendor>.v2+json)', [
          'vendor',
        ]);
      return mediaTypeSelector(config.vendor, names);
    }
    case 'query':
      return querySelector(config.query ?? 'version');
    default:
      throw new PolicyConfigError(`unknown version source ${String(config.from)}`, ['from']);
  }
}

function pathSelector(param: string): VersionSelector {
  return {
    read: (ex) => {
      const v = ex.params[param];
      return v === undefined || v === '' ? undefined : v;
    },
    describe: `the path (:${param})`,
    swap(ex, version) {
      const current = ex.params[param];
      const segments = ex.path.split('/');
      const i = current === undefined ? -1 : segments.indexOf(current);
      if (i > 0) segments[i] = encodeURIComponent(version);
      return segments.join('/') + (ex.query === '' ? '' : '?' + ex.query);
    },
  };
}

function headerSelector(header: string): VersionSelector {
  const name = header.toLowerCase();
  return {
    read: (ex) => {
      const v = ex.header(name)?.trim();
      return v === undefined || v === '' ? undefined : v.slice(0, MAX_VERSION_LENGTH);
    },
    describe: `the ${header} header`,
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `application/vnd.<vendor>.v2+json` (GitHub's form; the `v` is optional, and so is the suffix), or
 * `application/vnd.<vendor>+json; version=2`. The first media range naming the vendor wins.
 */
function mediaTypeSelector(vendor: string, names: readonly string[]): VersionSelector {
  const v = escapeRegExp(vendor.toLowerCase());
  const dotted = new RegExp(`^application/vnd\\.${v}\\.([a-z0-9][a-z0-9._-]*?)(?:\\+[a-z0-9.-]+)?$`);
  const plain = new RegExp(`^application/vnd\\.${v}(?:\\+[a-z0-9.-]+)?$`);
  const lowerNames = new Set(names.map((n) => n.toLowerCase()));
  return {
    read(ex) {
      const accept = ex.header('accept');
      if (accept === undefined) return undefined;
      for (const range of accept.split(',')) {
        const [type = '', ...params] = range.split(';');
        const t = type.trim().toLowerCase();
        const m = dotted.exec(t);
        if (m !== null) {
          const raw = m[1]!;
          // "v2" names version "2" unless a version is really called "v2".
          return !lowerNames.has(raw) && /^v[0-9]/.test(raw) ? raw.slice(1) : raw;
        }
        if (plain.test(t)) {
          for (const p of params) {
            const eq = p.indexOf('=');
            if (eq !== -1 && p.slice(0, eq).trim().toLowerCase() === 'version')
              return p
                .slice(eq + 1)
                .trim()
                .replace(/^"|"$/g, '')
                .slice(0, MAX_VERSION_LENGTH);
          }
        }
      }
      return undefined;
    },
    describe: `Accept: application/vnd.${vendor}.v<version>+json`,
  };
}

function querySelector(param: string): VersionSelector {
  const prefix = param + '=';
  const find = (query: string): { value: string; index: number } | undefined => {
    if (query === '') return undefined;
    const parts = query.split('&');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p === param) return { value: '', index: i };
      if (p.startsWith(prefix)) {
        let value = p.slice(prefix.length);
        try {
          value = decodeURIComponent(value.replace(/\+/g, ' '));
        } catch {
          // Kept as sent: it will not name a version.
        }
        return { value, index: i };
      }
    }
    return undefined;
  };
  return {
    read(ex) {
      const found = find(ex.query);
      return found === undefined || found.value === '' ? undefined : found.value.slice(0, MAX_VERSION_LENGTH);
    },
    describe: `the ${param} query parameter`,
    swap(ex, version) {
      const found = find(ex.query);
      const parts = ex.query === '' ? [] : ex.query.split('&');
      const pair = prefix + encodeURIComponent(version);
      if (found === undefined) parts.push(pair);
      else parts[found.index] = pair;
      return ex.path + '?' + parts.join('&');
    },
  };
}
