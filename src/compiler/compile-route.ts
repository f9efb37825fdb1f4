// Compiles one route: its upstream targets and timeouts, its policies (route key, else defaults, else the
// policy's implicit config) sorted into the fixed phase order, and the pipeline arrays the runner walks.
import type { IssueCollector } from '../config/config-issue.js';
import type { NormalizedMatch } from '../config/normalize-config.js';
import type { DefaultsConfig, GatewayConfig, RouteConfig, TimeoutsConfig } from '../config/schema.js';
import { closest } from '../config/validate-config.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { GatewayResponse } from '../pipeline/gateway-response.js';
import {
  type AnyPolicyDefinition,
  PHASES,
  type Policy,
  PolicyConfigError,
  PolicyConfigErrors,
  type RouteUpstream,
} from '../pipeline/policy.js';
import type { CompiledPipeline, PipelineStep } from '../pipeline/run-pipeline.js';
import { problems } from '../problems/catalog.js';
import { sendDetached } from '../pipeline/detached-exchange.js';
import { createForwarder } from '../proxy/forward.js';
import { parseUpstreamUrl } from '../proxy/upstream-target.js';
import { UpstreamGroup, type UpstreamEvents } from '../proxy/upstream-group.js';
import type { UpstreamConfig } from '../config/upstream-schema.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { CarryOverScope } from './carry-over.js';
import type { PolicyServices } from './compile-context.js';
import type { CompiledRoute } from './snapshot.js';

/** Built-in defaults where neither the route nor `defaults:` says anything. */
const BUILTIN_TIMEOUT_MS = 30_000;
const BUILTIN_CONNECT_MS = 5_000;
const BUILTIN_KEEP_ALIVE_MS = 4_000;

export interface RouteCompileDeps {
  readonly config: GatewayConfig;
  readonly registry: readonly AnyPolicyDefinition[];
  readonly scope: CarryOverScope;
  readonly issues: IssueCollector;
  readonly services: PolicyServices;
  readonly complete: readonly ((ex: Exchange) => void)[];
  /** Records each route's requests (metrics), when metrics are on. */
  readonly metrics?: GatewayMetrics | undefined;
  readonly onError: (ex: Exchange, err: unknown) => void;
  /** A serving gateway: upstream groups start health checks and host-name re-resolution. */
  readonly serving: boolean;
  /** Metrics and logs of an upstream group's events (circuit transitions, health, ejections). */
  readonly upstreamEvents?: ((name: string) => UpstreamEvents) | undefined;
  /** Named upstream groups in use, for the admin view (filled while compiling). */
  readonly groups: Map<string, UpstreamGroup>;
  /** What routes sharing an upstream share, worked out once per build (by upstream and connect timeout). */
  readonly upstreamWork?: Map<string, UpstreamWork>;
}

/** A route's upstream as every route naming it (with the same connect timeout) gets it. */
interface UpstreamWork {
  readonly name: string;
  readonly inline: boolean;
  readonly upstream: UpstreamConfig;
  readonly basePath: string | undefined;
  readonly pool: { connectTimeoutMs: number; keepAliveTimeoutMs: number; connections: number | undefined };
  /** The carry-over key: same upstream, same settings, the same group across reloads. */
  readonly key: string;
}

export function compileRoute(
  route: RouteConfig,
  index: number,
  match: NormalizedMatch,
  deps: RouteCompileDeps,
): CompiledRoute | undefined {
  const { config } = deps;
  const defaults: DefaultsConfig = config.defaults;
  const at = (...p: (string | number)[]) => ['routes', index, ...p];
  const timeouts: TimeoutsConfig = { ...(defaults.timeouts ?? {}), ...(route.timeouts ?? {}) };
  const totalMs = route.timeout_ms ?? defaults.timeout_ms ?? BUILTIN_TIMEOUT_MS;

  const ownRef = route.upstream;
  const resolved =
    ownRef === undefined
      ? undefined
      : resolveGroup(ownRef, timeouts, deps, (p, m) => deps.issues.error(p ?? at('upstream'), m));
  const group = resolved?.group;
  /** A forwarder to `g` with the route's own settings (strip_prefix, preserve_host, timeouts). */
  const forwarderTo = (g: UpstreamGroup, basePath: string | undefined) =>
    createForwarder({
      group: g,
      basePath,
      stripPrefix: route.strip_prefix,
      preserveHost: route.preserve_host,
      totalMs,
      firstByteMs: timeouts.first_byte_ms,
      idleMs: timeouts.idle_ms,
      maxBodyBytes: config.gateway.limits.max_body_bytes,
    });
  // Other upstreams the route's policies send requests to (a version's, a canary, a mirror), once each.
  const others = new Map<string, RouteUpstream>();
  let own: RouteUpstream | undefined;
  const upstream = (ref?: string): RouteUpstream => {
    if (ref === undefined) {
      if (ownRef === undefined) throw new PolicyConfigError('this route has no `upstream`');
      if (resolved === undefined) throw new PolicyConfigError(`upstream "${ownRef}" is not usable`);
      own ??= routeUpstream(
        resolved.group.name,
        upstreamLabel(ownRef, resolved.group),
        forwarderTo(resolved.group, resolved.basePath),
        route.name,
        `${resolved.key}\0${resolved.basePath ?? ''}`,
      );
      return own;
    }
    let u = others.get(ref);
    if (u !== undefined) return u;
    let message: string | undefined;
    const r = resolveGroup(ref, timeouts, deps, (p, m) => {
      if (p !== undefined) deps.issues.error(p, m);
      message ??= m;
    });
    if (r === undefined) throw new PolicyConfigError(message ?? `upstream "${ref}" is not usable`);
    u = routeUpstream(
      r.group.name,
      upstreamLabel(ref, r.group),
      forwarderTo(r.group, r.basePath),
      route.name,
      `${r.key}\0${r.basePath ?? ''}`,
    );
    others.set(ref, u);
    return u;
  };
  const policies = createPolicies(route, route.name, deps, (name, rest) => at(name, ...rest), upstream);
  if (!policies) return undefined;
  let forward: (ex: Exchange) => Promise<GatewayResponse>;
  let label: string;
  if (ownRef === undefined) {
    // Only a route whose policy answers every request itself may have no upstream.
    const answering = policies.find((p) => deps.registry.find((d) => d.name === p.name)?.answersAll === true);
    if (answering === undefined) {
      deps.issues.error(
        at(),
        'a route needs `upstream`: a URL or the name of an entry under `upstreams` (only a route whose ' +
          'policy answers every request itself, such as `callbacks`, has none)',
      );
      return undefined;
    }
    forward = () => Promise.reject(problems.internalError());
    label = `(none: ${answering.name} answers)`;
  } else {
    if (!resolved || !group) return undefined;
    forward = own?.forward ?? forwarderTo(group, resolved.basePath);
    label = upstreamLabel(ownRef, group);
  }
  // A policy may have sent this request to another upstream of the route (Exchange.forwardTo).
  const terminal =
    others.size === 0 ? forward : (ex: Exchange): Promise<GatewayResponse> => (ex.forwardTo ?? forward)(ex);
  return {
    name: route.name,
    index,
    match,
    priority: route.priority,
    upstreamLabel: label,
    policyNames: policies.map((p) => p.name),
    pathEscapes: route.path_escapes,
    methodOverride: route.method_override,
    ...(others.size > 0 ? { otherUpstreams: [...others.keys()] } : {}),
    pipeline: buildPipeline(policies, terminal, {
      complete: deps.metrics ? [deps.metrics.routeRecorder(route.name), ...deps.complete] : deps.complete,
      onError: deps.onError,
    }),
    policies: policies.map((p) => p.policy),
  };
}

/** An upstream as a route's policy gets it (`ctx.upstream`): forwarding a client's request, or its own. */
function routeUpstream(
  name: string,
  label: string,
  forward: (ex: Exchange) => Promise<GatewayResponse>,
  routeName: string,
  identity: string,
): RouteUpstream {
  return { name, label, identity, forward, send: (req) => sendDetached(forward, req, routeName) };
}

/** How `portico routes` and the admin name an upstream: the URL, or the name and its target count. */
function upstreamLabel(ref: string, group: UpstreamGroup): string {
  if (/^https?:\/\//i.test(ref)) return ref;
  return `${ref} (${group.endpoints.length} target${group.endpoints.length === 1 ? '' : 's'})`;
}

/**
 * The route as its policies read it: each definition's `normalizeRoute` folds the brief's short forms
 * (`auth_required: true`) into its own key; errors are reported at the route's keys.
 */
export function normalizeRoute(
  route: RouteConfig,
  index: number,
  registry: readonly AnyPolicyDefinition[],
  section: (name: string) => unknown,
  issues: IssueCollector,
): RouteConfig {
  let out = route;
  const ctx = {
    section,
    error: (path: readonly (string | number)[], message: string) =>
      issues.error(['routes', index, ...path], message),
  };
  for (const def of registry) {
    if (!def.normalizeRoute) continue;
    try {
      out = def.normalizeRoute(out, ctx) as RouteConfig;
    } catch (err) {
      const path = err instanceof PolicyConfigError ? err.path : [];
      ctx.error(path, err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}

interface NamedPolicy {
  readonly name: string;
  readonly phase: number;
  readonly policy: Policy;
}

/** Instantiates the policies that apply to a route, in phase order; undefined when any failed. */
export function createPolicies(
  route: Readonly<Record<string, unknown>>,
  routeName: string,
  deps: Pick<RouteCompileDeps, 'config' | 'registry' | 'issues' | 'services'>,
  at: (policy: string, rest: readonly (string | number)[]) => (string | number)[],
  upstream: (ref?: string) => RouteUpstream = noOtherUpstreams,
): NamedPolicy[] | undefined {
  const out: NamedPolicy[] = [];
  let ok = true;
  for (const def of deps.registry) {
    const config =
      route[def.name] ?? deps.config.defaults[def.name] ?? def.implicitConfig?.(deps.services.gateway);
    if (config === undefined || config === false) continue;
    try {
      const policy = def.create(config, { ...deps.services.contextFor(def.name, routeName), upstream });
      out.push({ name: def.name, phase: PHASES.indexOf(def.phase), policy });
    } catch (err) {
      ok = false;
      for (const e of err instanceof PolicyConfigErrors ? err.errors : [err]) {
        const path = e instanceof PolicyConfigError ? e.path : [];
        const where = route[def.name] !== undefined ? at(def.name, path) : ['defaults', def.name, ...path];
        deps.issues.error(where, e instanceof Error ? e.message : String(e));
      }
    }
  }
  out.sort((a, b) => a.phase - b.phase);
  return ok ? out : undefined;
}

function noOtherUpstreams(): RouteUpstream {
  throw new PolicyConfigError('this route cannot send requests to other upstreams');
}

/** Splits policies by hook and folds the upstream onion once. */
export function buildPipeline(
  policies: readonly NamedPolicy[],
  terminal: (ex: Exchange) => Promise<GatewayResponse>,
  deps: Pick<RouteCompileDeps, 'complete' | 'onError'>,
): CompiledPipeline {
  const steps: PipelineStep[] = policies.map((p, position) => ({ position, policy: p.policy }));
  let upstream = terminal;
  for (let i = policies.length - 1; i >= 0; i--) {
    const p = policies[i]!.policy;
    if (!p.onUpstream) continue;
    const next = upstream;
    upstream = (ex) => p.onUpstream!(ex, next);
  }
  return {
    request: steps.filter((s) => s.policy.onRequest !== undefined),
    response: steps.filter((s) => s.policy.onResponse !== undefined).reverse(),
    complete: [
      ...steps
        .filter((s) => s.policy.onComplete !== undefined)
        .map((s) => (ex: Exchange) => s.policy.onComplete!(ex)),
      ...deps.complete,
    ],
    upstream,
    onError: deps.onError,
  };
}

/** The route's upstream group: a named upstream (shared by its routes), or a one-target group for a URL. */
function resolveGroup(
  ref: string,
  timeouts: TimeoutsConfig,
  deps: RouteCompileDeps,
  report: ReportIssue,
): { group: UpstreamGroup; basePath: string | undefined; key: string } | undefined {
  const { scope } = deps;
  const memoKey = `${ref}\0${timeouts.connect_ms ?? ''}`;
  let work = deps.upstreamWork?.get(memoKey);
  if (work === undefined) {
    work = upstreamWork(ref, timeouts, deps, report);
    if (work === undefined) return undefined;
    deps.upstreamWork?.set(memoKey, work);
  }
  const { name, inline, upstream, pool, key, basePath } = work;
  let group: UpstreamGroup;
  try {
    group = scope.get(
      key,
      () =>
        new UpstreamGroup({
          name,
          config: upstream,
          pool,
          ...(deps.upstreamEvents ? { events: deps.upstreamEvents(name) } : {}),
        }),
      (g) => g.close(),
    );
  } catch (err) {
    report(inline ? undefined : ['upstreams', ref], (err as Error).message);
    return undefined;
  }
  if (deps.serving) group.start();
  if (!inline) deps.groups.set(ref, group);
  return { group, basePath, key };
}

/**
 * Reports a problem with an upstream: at a key path of the config (an upstream's own keys), or, with
 * `undefined`, at whatever named the upstream (the route's `upstream`, a policy's key).
 */
type ReportIssue = (path: (string | number)[] | undefined, message: string) => void;

/** The upstream a route names or gives as a URL, checked; undefined (with the issue reported) when wrong. */
function upstreamWork(
  ref: string,
  timeouts: TimeoutsConfig,
  deps: RouteCompileDeps,
  report: ReportIssue,
): UpstreamWork | undefined {
  const { config } = deps;
  const inline = /^[a-z][a-z0-9+.-]*:\/\//i.test(ref);
  let name = ref;
  let upstream: UpstreamConfig | undefined;
  let basePath: string | undefined;
  if (inline) {
    try {
      const parsed = parseUpstreamUrl(ref);
      name = parsed.origin;
      // Routes to one origin share its group (and connections); each keeps its own base path.
      basePath = parsed.basePath;
      upstream = {
        targets: [{ url: parsed.origin, weight: 1 }],
        balance: 'round-robin',
        hash_on: 'ip',
        connect_timeout_ms: BUILTIN_CONNECT_MS,
        keep_alive_timeout_ms: BUILTIN_KEEP_ALIVE_MS,
        resolve_interval_ms: 0,
        max_ejected_percent: 50,
      };
    } catch (err) {
      report(undefined, `invalid upstream URL: ${(err as Error).message}`);
      return undefined;
    }
  } else {
    upstream = config.upstreams[ref];
    if (!upstream) {
      const names = Object.keys(config.upstreams);
      const hint = closest(ref, names);
      report(
        undefined,
        `no upstream named "${ref}"` +
          (hint
            ? ` — did you mean "${hint}"?`
            : names.length > 0
              ? `; defined: ${names.join(', ')}`
              : '; write a URL such as http://127.0.0.1:3000 or define it under `upstreams`'),
      );
      return undefined;
    }
    let bad = false;
    upstream.targets.forEach((t, i) => {
      try {
        parseUpstreamUrl(t.url);
      } catch (err) {
        bad = true;
        report(['upstreams', ref, 'targets', i, 'url'], `invalid upstream URL: ${(err as Error).message}`);
      }
    });
    if (bad) return undefined;
  }
  const pool = {
    connectTimeoutMs: timeouts.connect_ms ?? upstream.connect_timeout_ms,
    keepAliveTimeoutMs: upstream.keep_alive_timeout_ms,
    connections: upstream.connections,
  };
  // Same upstream, same settings: the same group (its connections, health and circuits) across reloads.
  const key = `upstream|${inline ? '' : name}|${JSON.stringify(upstream)}|${JSON.stringify(pool)}`;
  return { name, inline, upstream, basePath, pool, key };
}
