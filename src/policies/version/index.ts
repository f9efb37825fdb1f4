// API versions (receive phase, first after the request id): one route may serve several versions, chosen per
// request by a path parameter, a header, a vendor media type or a query parameter, each with its own
// upstream; and a route or a version may have a deprecation lifecycle clients can see — `Deprecation`,
// `Sunset` and `Link` headers, brownouts that rehearse the sunset, and after the sunset 410 Gone, a 308 to
// the successor, or more of the same. The chosen version and the lifecycle state are access-log members
// (`version`, `lifecycle`) and labels of portico_version_requests_total.
import { createStateKey, type Exchange } from '../../pipeline/exchange.js';
import { gatewayResponse, type GatewayResponse } from '../../pipeline/gateway-response.js';
import {
  ConfigErrorCollector,
  definePolicy,
  PolicyConfigError,
  type CounterSeries,
  type Policy,
  type RouteUpstream,
} from '../../pipeline/policy.js';
import { Problem } from '../../problems/problem.js';
import {
  compileLifecycle,
  describeLifecycle,
  stateAt,
  brownoutAt,
  type CompiledLifecycle,
  type LifecycleState,
} from './lifecycle.js';
import { VersionSchema, type Lifecycle, type VersionConfig } from './schema.js';
import { versionSelector, type VersionSelector } from './select.js';

const LIFECYCLE_KEYS = [
  'deprecated_at',
  'sunset_at',
  'successor',
  'docs',
  'after_sunset',
  'brownouts',
] as const;
const STATES: readonly LifecycleState[] = ['active', 'deprecated', 'brownout', 'sunset'];

/** One version of a route (or the route itself, when it declares no versions). */
interface Served {
  /** The version's name; '' for a route without versions. */
  readonly name: string;
  readonly life: CompiledLifecycle | undefined;
  /** The successor is another version of this route (by name). */
  readonly successorVersion: string | undefined;
  readonly forward: RouteUpstream['forward'] | undefined;
  /** portico_version_requests_total series, by state. */
  readonly counts: Readonly<Record<LifecycleState, CounterSeries>>;
}

/** What onRequest decided, for the response headers and the per-consumer count. */
interface Decision {
  readonly served: Served;
  readonly state: LifecycleState;
  /** Where the successor is, for this request (undefined: none to link). */
  readonly successorUrl: string | undefined;
}

const DECISION = createStateKey<Decision>('version');

function hasLifecycle(l: Lifecycle): boolean {
  return LIFECYCLE_KEYS.some((k) => l[k] !== undefined);
}

function pickLifecycle(c: Lifecycle): Lifecycle {
  const out: Record<string, unknown> = {};
  for (const k of LIFECYCLE_KEYS) if (c[k] !== undefined) out[k] = c[k];
  return out as Lifecycle;
}

export const version = definePolicy({
  name: 'version',
  phase: 'receive',
  summary:
    'API versions: pick one per request (path, header, media type or query) and announce deprecation, sunset and brownouts.',
  schema: VersionSchema,
  checkRoutes(ctx) {
    // A successor path must be one a route serves (a URL or a version name is not checked here).
    ctx.routes.forEach((route, index) => {
      const v = route.version as VersionConfig | false | undefined;
      if (v === undefined || v === false) return;
      const check = (successor: string | undefined, path: (string | number)[], names: readonly string[]) => {
        if (successor === undefined || !successor.startsWith('/') || names.includes(successor)) return;
        if (ctx.routeFor(successor) === undefined)
          ctx.error(index, path, `successor ${successor} is served by no route`);
      };
      const names = Object.keys(v.versions ?? {});
      check(v.successor, ['version', 'successor'], []);
      for (const [name, entry] of Object.entries(v.versions ?? {}))
        check(entry.successor, ['version', 'versions', name, 'successor'], names);
    });
  },
  create(config, ctx): Policy {
    const errors = new ConfigErrorCollector();
    const requests = ctx.metrics.counter(
      'requests_total',
      'Requests by route, version and lifecycle state (active, deprecated, brownout, sunset).',
      ['route', 'version', 'state'],
    );
    const deprecatedCalls =
      config.count_consumers === true
        ? ctx.metrics.counter(
            'deprecated_calls_total',
            'Calls to a deprecated, browned-out or sunset version, by route, version and consumer.',
            ['route', 'version', 'consumer'],
          )
        : undefined;
    const countsFor = (name: string) =>
      Object.fromEntries(
        STATES.map((s) => [s, requests.series({ route: ctx.routeName, version: name, state: s })]),
      ) as Record<LifecycleState, CounterSeries>;

    const routeLifecycle = pickLifecycle(config);
    const routeLife = hasLifecycle(routeLifecycle)
      ? errors.part(() => compileLifecycle(routeLifecycle, []))
      : undefined;
    const versions = new Map<string, Served>();
    const names = Object.keys(config.versions ?? {});
    if (config.from === undefined && names.length > 0)
      errors.part(() => {
        throw new PolicyConfigError('versions need `from`: where a request names its version', ['from']);
      });
    if (config.from !== undefined && names.length === 0)
      errors.part(() => {
        throw new PolicyConfigError(`from: ${config.from} needs the versions this route serves`, [
          'versions',
        ]);
      });
    if (config.default !== undefined && !names.includes(config.default))
      errors.part(() => {
        throw new PolicyConfigError(
          `default version "${config.default}" is not one of the versions (${names.join(', ')})`,
          ['default'],
        );
      });
    for (const [name, entry] of Object.entries(config.versions ?? {})) {
      const own = pickLifecycle(entry);
      const at = ['versions', name];
      const life = hasLifecycle(own) ? errors.part(() => compileLifecycle(own, at)) : routeLife;
      const successor = own.successor;
      const successorVersion = successor !== undefined && names.includes(successor) ? successor : undefined;
      if (successor !== undefined && successorVersion === undefined && !/^(\/|https?:\/\/)/i.test(successor))
        errors.part(() => {
          throw new PolicyConfigError(
            `successor "${successor}" is neither a version of this route (${names.join(', ')}) nor a path or URL`,
            [...at, 'successor'],
          );
        });
      if (successor === name)
        errors.part(() => {
          throw new PolicyConfigError('a version cannot be its own successor', [...at, 'successor']);
        });
      if (
        successorVersion !== undefined &&
        (own.after_sunset ?? 'gone') === 'redirect' &&
        config.from !== 'path' &&
        config.from !== 'query'
      )
        errors.part(() => {
          throw new PolicyConfigError(
            `after_sunset: redirect to version "${successorVersion}" needs from: path or query (a ${config.from} cannot be redirected); give a path or URL`,
            [...at, 'after_sunset'],
          );
        });
      const forward =
        entry.upstream === undefined
          ? undefined
          : errors.part(() => {
              try {
                return ctx.upstream(entry.upstream!).forward;
              } catch (err) {
                if (err instanceof PolicyConfigError)
                  throw new PolicyConfigError(err.message, [...at, 'upstream']);
                throw err;
              }
            });
      versions.set(name, { name, life, successorVersion, forward, counts: countsFor(name) });
    }
    if (
      routeLife !== undefined &&
      routeLife.successor !== undefined &&
      !/^(\/|https?:\/\/)/i.test(routeLife.successor)
    )
      errors.part(() => {
        throw new PolicyConfigError(
          `successor "${routeLife.successor}" must be a path served by another route or an absolute URL`,
          ['successor'],
        );
      });
    const selector = errors.part(() =>
      config.from === undefined ? undefined : versionSelector(config, names),
    );
    errors.check();

    const whole: Served = {
      name: '',
      life: routeLife,
      successorVersion: undefined,
      forward: undefined,
      counts: countsFor(''),
    };
    const known = [...versions.keys()];
    const defaultServed = config.default === undefined ? undefined : versions.get(config.default);
    const now = Date.now;

    return {
      onRequest(ex: Exchange): GatewayResponse | void {
        let served = whole;
        if (selector !== undefined) {
          const asked = selector.read(ex);
          const found = asked === undefined ? defaultServed : lookup(versions, asked);
          if (found === undefined) throw unknownVersion(asked, known, selector);
          served = found;
          ex.logField('version', served.name);
          if (served.forward !== undefined) ex.forwardTo = served.forward;
        }
        const life = served.life;
        const state = life === undefined ? 'active' : stateAt(life, now());
        served.counts[state].inc();
        if (life === undefined) return;
        if (state !== 'active') ex.logField('lifecycle', state);
        const successorUrl = successorFor(ex, life, served, selector);
        const decision: Decision = { served, state, successorUrl };
        ex.set(DECISION, decision);
        if ((state === 'sunset' || state === 'brownout') && life.afterSunset !== 'serve') {
          const headers = lifecycleHeaders(life, successorUrl);
          if (life.afterSunset === 'redirect' && successorUrl !== undefined) {
            headers.location = successorUrl;
            headers['content-length'] = '0';
            headers['cache-control'] = state === 'brownout' ? 'no-store' : 'max-age=3600';
            return gatewayResponse(308, headers, null);
          }
          throw gone(served, life, state, successorUrl, headers, now());
        }
      },
      onResponse(ex: Exchange, res: GatewayResponse): void {
        const d = ex.get(DECISION);
        if (d === undefined || d.served.life === undefined || res.source === 'gateway') return;
        const add = lifecycleHeaders(d.served.life, d.successorUrl);
        for (const [name, value] of Object.entries(add)) {
          const old = res.headers[name];
          res.headers[name] = name === 'link' && old !== undefined ? [...[old].flat(), value] : value;
        }
      },
      onComplete(ex: Exchange): void {
        if (deprecatedCalls === undefined) return;
        const d = ex.get(DECISION);
        if (d === undefined || d.state === 'active') return;
        deprecatedCalls
          .series({ route: ctx.routeName, version: d.served.name, consumer: ex.consumerId || '(anonymous)' })
          .inc();
      },
      describe(at: number): string | undefined {
        const lines: string[] = [];
        if (selector !== undefined)
          lines.push(
            `versions ${known.join(',')} by ${selector.describe}` +
              (config.default === undefined ? '' : ` (default ${config.default})`),
          );
        const routeText = routeLife === undefined ? undefined : describeLifecycle(routeLife, at);
        if (routeText !== undefined) lines.push(routeText);
        for (const v of versions.values()) {
          if (v.life === undefined || v.life === routeLife) continue;
          const text = describeLifecycle(v.life, at);
          if (text !== undefined) lines.push(`${v.name}: ${text}`);
        }
        return lines.length === 0 ? undefined : lines.join('; ');
      },
    };
  },
});

/** A version by name as the client wrote it: exact, else ignoring case. */
function lookup(versions: ReadonlyMap<string, Served>, asked: string): Served | undefined {
  const exact = versions.get(asked);
  if (exact !== undefined) return exact;
  const lower = asked.toLowerCase();
  for (const [name, v] of versions) if (name.toLowerCase() === lower) return v;
  return undefined;
}

function unknownVersion(
  asked: string | undefined,
  known: readonly string[],
  selector: VersionSelector,
): Problem {
  return new Problem({
    code: asked === undefined ? 'version-required' : 'version-unknown',
    status: 400,
    title: asked === undefined ? 'This API needs a version' : 'Unknown API version',
    detail:
      (asked === undefined
        ? `name a version with ${selector.describe}`
        : `version "${asked.slice(0, 64)}" is not served here; name one with ${selector.describe}`) +
      `: ${known.join(', ')}`,
    extensions: { known_versions: known },
  });
}

/**
 * Where the successor is for this request: a path or URL successor keeps what follows the route's matched
 * prefix (`/v1/orders/42` → `/v2/orders/42`) and the query; a successor version is this request with the
 * version swapped (path and query forms only — a header cannot be linked to).
 */
function successorFor(
  ex: Exchange,
  life: CompiledLifecycle,
  served: Served,
  selector: VersionSelector | undefined,
): string | undefined {
  const successor = life.successor;
  if (successor === undefined) return undefined;
  const query = ex.query === '' ? '' : '?' + ex.query;
  if (served.successorVersion !== undefined) return selector?.swap?.(ex, served.successorVersion);
  const rest = ex.prefixLength > 0 ? ex.path.slice(ex.prefixLength) : '';
  const base = successor.endsWith('/') && rest.startsWith('/') ? successor.slice(0, -1) : successor;
  return base + rest + query;
}

/** Deprecation, Sunset and Link, as configured. */
function lifecycleHeaders(life: CompiledLifecycle, successorUrl: string | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  if (life.deprecationHeader !== undefined) h.deprecation = life.deprecationHeader;
  if (life.sunsetHeader !== undefined) h.sunset = life.sunsetHeader;
  const links: string[] = [];
  if (successorUrl !== undefined) links.push(`<${successorUrl}>; rel="successor-version"`);
  if (life.docs !== undefined) links.push(`<${life.docs}>; rel="deprecation"; type="text/html"`);
  if (links.length > 0) h.link = links.join(', ');
  return h;
}

function gone(
  served: Served,
  life: CompiledLifecycle,
  state: LifecycleState,
  successorUrl: string | undefined,
  headers: Record<string, string>,
  now: number,
): Problem {
  const what = served.name === '' ? 'This API' : `Version ${served.name} of this API`;
  const next =
    successorUrl !== undefined
      ? `; use ${successorUrl}`
      : served.successorVersion !== undefined
        ? `; use version ${served.successorVersion}`
        : life.successor !== undefined
          ? `; use ${life.successor}`
          : '';
  const sunset = new Date(life.sunsetAt!).toISOString();
  const window = state === 'brownout' ? brownoutAt(life, now) : undefined;
  const detail =
    window !== undefined
      ? `${what} is in a scheduled brownout until ${new Date(window[1]).toISOString()}, rehearsing its sunset on ${sunset}${next}`
      : `${what} was sunset on ${sunset}${next}`;
  const extensions: Record<string, unknown> = { sunset };
  if (successorUrl !== undefined || life.successor !== undefined)
    extensions.successor = successorUrl ?? served.successorVersion ?? life.successor;
  if (window !== undefined) extensions.brownout_until = new Date(window[1]).toISOString();
  if (life.docs !== undefined) extensions.docs = life.docs;
  return new Problem({
    code: state === 'brownout' ? 'version-brownout' : 'version-gone',
    status: 410,
    title: state === 'brownout' ? 'This API version is browned out' : 'This API version is gone',
    detail,
    headers: { ...headers, 'cache-control': 'no-store' },
    extensions,
  });
}
