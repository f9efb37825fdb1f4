// Brings the brief's own forms (path_prefix, path, upstream as URL) and the environment overrides
// (GATEWAY_LOG_LEVEL, GATEWAY_TRACE_HEADER, GATEWAY_ACCESS_LOG_FIELDS) into the one canonical shape the
// compiler reads, reporting conflicts where they are written.
import type { IssueCollector } from './config-issue.js';
import type { Env } from './load-config.js';
import type { GatewayConfig, MatchConfig, RouteConfig } from './schema.js';
import { ACCESS_LOG_FIELDS, type AccessLogField } from './gateway-schema.js';
import { HEADER_NAME_PATTERN } from '../lib/http-token.js';

/** A route's match in canonical form. */
export interface NormalizedMatch {
  readonly kind: 'prefix' | 'exact';
  readonly path: string;
  readonly methods: readonly string[] | undefined;
  readonly hosts: readonly string[] | undefined;
  readonly headers: readonly (readonly [string, string | true])[];
  readonly query: readonly (readonly [string, string | true])[];
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function normalizeMatch(route: RouteConfig, index: number, issues: IssueCollector): NormalizedMatch {
  const m: MatchConfig = route.match ?? {};
  // "match.path" lives under match:, "path" / "path_prefix" at the route's top level.
  const at = (k: string) =>
    k.startsWith('match.') ? ['routes', index, 'match', k.slice('match.'.length)] : ['routes', index, k];
  const given = (
    [
      ['path_prefix', route.path_prefix],
      ['path', route.path],
      ['match.path', m.path],
      ['match.exact', m.exact],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (given.length > 1) {
    issues.error(
      at(given[1]![0]),
      `a route has one path: ${given.map(([k]) => k).join(' and ')} are both set`,
      'key',
    );
  }
  const exact = m.exact !== undefined && given.length === 1;
  const path = (exact ? m.exact : (route.path_prefix ?? route.path ?? m.path)) ?? '/';
  const hosts =
    m.host === undefined
      ? undefined
      : (Array.isArray(m.host) ? m.host : [m.host]).map((h) => h.toLowerCase());
  return {
    kind: exact ? 'exact' : 'prefix',
    path,
    methods: m.methods,
    hosts,
    headers: Object.entries(m.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
    query: Object.entries(m.query ?? {}),
  };
}

/** Applies env overrides to the gateway section (after validation, so they are checked the same way). */
export function applyEnvOverrides(config: GatewayConfig, env: Env, issues: IssueCollector): GatewayConfig {
  const gateway = { ...config.gateway, access_log: { ...config.gateway.access_log } };
  const level = env.GATEWAY_LOG_LEVEL;
  if (level !== undefined && level !== '') {
    if (LOG_LEVELS.has(level)) gateway.log_level = level as typeof gateway.log_level;
    else
      issues.error(
        ['gateway', 'log_level'],
        `env GATEWAY_LOG_LEVEL: expected one of ${[...LOG_LEVELS].join(', ')}, got "${level}"`,
      );
  }
  const header = env.GATEWAY_TRACE_HEADER;
  if (header !== undefined && header !== '') {
    if (new RegExp(HEADER_NAME_PATTERN).test(header)) gateway.tracing_header = header;
    else
      issues.error(
        ['gateway', 'tracing_header'],
        `env GATEWAY_TRACE_HEADER: expected a header name, got "${header}"`,
      );
  }
  const fields = env.GATEWAY_ACCESS_LOG_FIELDS;
  if (fields !== undefined && fields !== '') {
    const list = fields
      .split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    const unknown = list.filter((f) => !(ACCESS_LOG_FIELDS as readonly string[]).includes(f));
    if (unknown.length > 0) {
      issues.error(
        ['gateway', 'access_log', 'fields'],
        `env GATEWAY_ACCESS_LOG_FIELDS: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${ACCESS_LOG_FIELDS.join(', ')}`,
      );
    } else {
      gateway.access_log.fields = [...new Set(list)] as AccessLogField[];
    }
  }
  return { ...config, gateway };
}
