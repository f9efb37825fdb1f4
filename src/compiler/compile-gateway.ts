// load → validate → compile: the one code path behind `validate`, `routes`, `serve` and every reload.
// Pure apart from creating (not connecting) upstream pools; reports every issue at once.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createTraceExporter } from '../observability/tracing.js';
import { createMemoryRateLimitStore } from '../stores/memory/rate-limit.js';
import { createRedisRateLimitStore } from '../stores/redis/rate-limit.js';
import { createMemoryResponseCache } from '../stores/memory/response-cache.js';
import { createRedisResponseCache } from '../stores/redis/response-cache.js';
import type { CacheSectionConfig } from '../policies/cache/schema.js';
import type { ResponseCacheStore } from '../stores/response-cache.js';
import { porticoVersion } from '../version.js';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { TObject, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { AccessLogger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { type ConfigIssue, formatIssue, type IssueCollector } from '../config/config-issue.js';
import { type Env, type LoadedSource, loadConfigFile, parseConfigText } from '../config/load-config.js';
import { applyEnvOverrides, normalizeMatch } from '../config/normalize-config.js';
import { buildConfigSchema, type GatewayConfig } from '../config/schema.js';
import { validateAgainstSchema } from '../config/validate-config.js';
import { problems } from '../http/problems.js';
import type { Problem } from '../http/problem.js';
import { createStateKey, type Exchange } from '../pipeline/exchange.js';
import {
  PHASES,
  PolicyConfigError,
  type AnyPolicyDefinition,
  type PolicyEndpoint,
  type SectionCheckContext,
  type SectionFile,
  type SectionPath,
} from '../pipeline/policy.js';
import { createTrustedProxies } from '../proxy/client-address.js';
import { Router, type RouteSpec } from '../router/router.js';
import { createAccessLog } from '../observability/access-log.js';
import type { ResourceRegistry } from './carry-over.js';
import { buildPipeline, compileRoute, createPolicies } from './compile-route.js';
import type { CompiledRoute, GatewaySnapshot } from './snapshot.js';
import type { UpstreamGroup } from '../proxy/upstream-group.js';
import { upstreamEvents } from '../observability/upstream-events.js';

/** A problem found before routing (414, 400, 413…), answered by the system route. */
export const PRE_ROUTING_PROBLEM = createStateKey<Problem>('gateway.pre-routing-problem');
/** Methods that would have matched, for 405. */
export const ALLOWED_METHODS = createStateKey<readonly string[]>('gateway.allowed-methods');

export interface BuildDeps {
  readonly registry: readonly AnyPolicyDefinition[];
  readonly resources: ResourceRegistry;
  readonly env: Env;
  /** Where access lines go; undefined for commands that never serve (validate, routes). */
  readonly accessLogger: AccessLogger | undefined;
  /** Request metrics; undefined for commands that never serve. */
  readonly metrics?: GatewayMetrics | undefined;
  /** Logs unexpected errors with the trace id. */
  readonly eventLogger: Logger | undefined;
  /**
   * A serving gateway: export spans when `gateway.tracing` is configured and connect to the Redis store.
   * validate and routes never open connections.
   */
  readonly exportTraces?: boolean;
}

export type BuildResult =
  | { readonly ok: true; readonly snapshot: GatewaySnapshot; readonly issues: readonly ConfigIssue[] }
  | {
      readonly ok: false;
      readonly issues: readonly ConfigIssue[];
      /**
       * Files besides the config the failed build read or tried to (a broken consumers file): the reloader
       * watches them too, so fixing one reloads.
       */
      readonly inputs?: readonly string[];
    };

const schemaCache = new WeakMap<readonly AnyPolicyDefinition[], TObject>();

export function configSchema(registry: readonly AnyPolicyDefinition[]): TObject {
  let s = schemaCache.get(registry);
  if (!s) schemaCache.set(registry, (s = buildConfigSchema(registry)));
  return s;
}

export function buildSnapshotFromFile(file: string, deps: BuildDeps): BuildResult {
  return buildSnapshot(loadConfigFile(file, deps.env), deps);
}

export function buildSnapshotFromText(text: string, file: string, deps: BuildDeps): BuildResult {
  return buildSnapshot(parseConfigText(text, file, deps.env), deps);
}

/** sha256 over the inputs' paths and contents ("" when there are none), read now. */
export function digestInputs(paths: readonly string[]): string {
  return digestContents(paths.map((p) => [p, undefined]));
}

/**
 * sha256 over the inputs' paths and contents ("" when there are none). A content given is the one the
 * build read, so a file changed while the config compiled still differs from the digest afterwards (and
 * its reload is not taken for "unchanged"); one not given is read now. A missing file counts as empty.
 */
function digestContents(inputs: Iterable<readonly [string, Buffer | undefined]>): string {
  let h: ReturnType<typeof createHash> | undefined;
  for (const [p, content] of inputs) {
    h ??= createHash('sha256');
    h.update(p + '\0');
    if (content !== undefined) {
      h.update(content);
      continue;
    }
    try {
      h.update(readFileSync(p));
    } catch {
      h.update('\0missing');
    }
  }
  return h === undefined ? '' : h.digest('hex');
}

export function hashConfigText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The config hash (`/readyz`, `portico_config_info`, reload logs): the sha256 of the config text, or, when
 * the config depends on other files (the consumers file), a sha256 over the text's hash and their digest,
 * so a change of either shows.
 */
export function configHash(text: string, inputsDigest: string): string {
  const textHash = hashConfigText(text);
  if (inputsDigest === '') return textHash;
  return createHash('sha256').update(`${textHash}\0${inputsDigest}`).digest('hex');
}

export function buildSnapshot(source: LoadedSource, deps: BuildDeps): BuildResult {
  const { issues } = source;
  if (issues.hasErrors) return { ok: false, issues: issues.issues };
  const validated = validateAgainstSchema(configSchema(deps.registry), source.value, issues) as GatewayConfig;
  if (issues.hasErrors) return { ok: false, issues: issues.issues };
  const config = applyEnvOverrides(validated, deps.env, issues);
  const gw = config.gateway;
  const baseDir = dirname(resolvePath(source.file));
  /** Files besides the config this build depends on, with the content it read (undefined: read later). */
  const inputs = new Map<string, Buffer | undefined>();
  const sections = checkSections(deps.registry, config, source, issues, inputs, baseDir);
  const failed = (): BuildResult => ({ ok: false, issues: issues.issues, inputs: [...inputs.keys()] });

  if (gw.admin.enabled && !isLoopbackListen(gw.admin.listen) && gw.admin.token === undefined) {
    issues.error(
      ['gateway', 'admin', 'listen'],
      'the admin listener is reachable beyond loopback: set gateway.admin.token',
    );
  }
  const seen = new Map<string, number>();
  config.routes.forEach((r, i) => {
    const first = seen.get(r.name);
    if (first !== undefined)
      issues.error(['routes', i, 'name'], `duplicate route name "${r.name}" (also routes[${first}])`);
    else seen.set(r.name, i);
  });

  const scope = deps.resources.scope();
  const onError = (ex: Exchange, err: unknown) =>
    deps.eventLogger?.error(
      { event: 'internal_error', trace_id: ex.traceId, route: ex.routeName, err },
      'unexpected error while handling a request',
    );
  const accessLog =
    gw.access_log.enabled && deps.accessLogger
      ? createAccessLog(gw.access_log, deps.accessLogger)
      : undefined;
  const complete = accessLog ? [accessLog] : [];
  const metrics = gw.metrics.enabled ? deps.metrics : undefined;
  if (gw.metrics.per_consumer && metrics)
    complete.push(metrics.consumerRecorder(gw.metrics.per_consumer_limit));
  const tracingConfig = gw.tracing;
  // One exporter per distinct tracing config, carried over reloads; the old one flushes when it retires.
  const tracer =
    tracingConfig && deps.exportTraces
      ? scope.get(
          'tracing:' + JSON.stringify(tracingConfig),
          () =>
            createTraceExporter(tracingConfig, {
              logger: deps.eventLogger,
              stats: deps.metrics?.tracing,
              version: porticoVersion(),
            }),
          (exporter) => exporter.shutdown(),
        )
      : undefined;
  const eventLog = deps.eventLogger;
  const storeConfig = gw.store;
  if (storeConfig.type === 'redis' && storeConfig.url === undefined)
    issues.error(['gateway', 'store', 'url'], 'type: redis needs url (redis://host:port)', 'key');
  // One store per distinct settings, created when a route first needs it and carried over reloads.
  const rateLimitStore = () =>
    scope.get(
      'store:' + JSON.stringify(storeConfig),
      () =>
        // validate / routes never connect anywhere: they get a memory store in its place.
        storeConfig.type === 'redis' && storeConfig.url !== undefined && deps.exportTraces === true
          ? {
              kind: 'redis' as const,
              store: createRedisRateLimitStore({
                url: storeConfig.url,
                prefix: storeConfig.prefix,
                timeoutMs: storeConfig.timeout_ms,
                cluster: storeConfig.cluster,
              }),
            }
          : { kind: 'memory' as const, store: createMemoryRateLimitStore() },
      (s) => s.store.close(),
    );
  // The response cache (root `cache:` section): like the rate-limit store, one per distinct settings.
  const cacheSection = (config as unknown as { cache?: CacheSectionConfig }).cache;
  const cacheKind = cacheSection?.store ?? storeConfig.type;
  if (cacheKind === 'redis' && storeConfig.url === undefined)
    issues.error(['cache', 'store'], 'store: redis needs gateway.store.url (redis://host:port)', 'key');
  const responseCache = () =>
    scope.get(
      'cache:' + JSON.stringify([cacheSection, cacheKind, storeConfig.url, storeConfig.cluster]),
      () =>
        cacheKind === 'redis' && storeConfig.url !== undefined && deps.exportTraces === true
          ? {
              kind: 'redis' as const,
              store: createRedisResponseCache({
                url: storeConfig.url,
                prefix: cacheSection?.prefix,
                timeoutMs: cacheSection?.timeout_ms,
                cluster: storeConfig.cluster,
                log: {
                  warn: (fields: Readonly<Record<string, unknown>>, event: string) =>
                    eventLog?.warn({ event, ...fields }, 'the response cache store is failing'),
                },
              }),
            }
          : {
              kind: 'memory' as const,
              store: createMemoryResponseCache({ maxBytes: cacheSection?.max_bytes ?? 67_108_864 }),
            },
      (c) => c.store.close(),
    );
  let usedCache: ResponseCacheStore | undefined;
  const responseCacheObserved = () => {
    const handle = responseCache();
    usedCache = handle.store;
    if (metrics !== undefined && handle.store.onEvict === undefined)
      handle.store.onEvict = metrics.cacheStore(handle.kind, () => handle.store.stats());
    return handle;
  };
  const context = {
    gateway: {
      tracingHeader: gw.tracing_header,
      tracer,
      rateLimitStore,
      responseCache: responseCacheObserved,
      ...(metrics
        ? {
            rateLimitMetrics: (route: string) => metrics.rateLimitRecorder(route),
            fallbackServed: (route: string, reason: string) => metrics.fallbackServed(route, reason),
            cacheMetrics: (route: string) => metrics.cacheRecorder(route),
          }
        : {}),
    },
    carryOver: scope.get.bind(scope),
    section: (name: string) => sections[name],
    baseDir,
    watchInput: (path: string) => void (inputs.has(path) || inputs.set(path, undefined)),
    log: {
      info: (fields: Readonly<Record<string, unknown>>, message: string) => eventLog?.info(fields, message),
      warn: (fields: Readonly<Record<string, unknown>>, message: string) => eventLog?.warn(fields, message),
      error: (fields: Readonly<Record<string, unknown>>, message: string) => eventLog?.error(fields, message),
    },
  };
  const groups = new Map<string, UpstreamGroup>();
  const routeDeps = {
    config,
    registry: deps.registry,
    scope,
    issues,
    context,
    complete,
    onError,
    metrics,
    serving: deps.exportTraces === true,
    upstreamEvents: (name: string) => upstreamEvents(name, metrics, deps.eventLogger),
    groups,
  };

  const compiled: CompiledRoute[] = [];
  config.routes.forEach((raw, i) => {
    const route = normalizeRouteAuth(raw, i, sections, issues);
    const match = normalizeMatch(route, i, issues);
    const c = compileRoute(route, i, match, routeDeps);
    if (c) compiled.push(c);
  });

  compiled.push(
    ...compileEndpoints(
      deps.registry,
      { config, registry: deps.registry, issues, context },
      metrics,
      complete,
      onError,
    ),
  );

  const specs: RouteSpec<CompiledRoute>[] = compiled.map((c) => ({
    value: c,
    name: c.name,
    kind: c.match.kind,
    path: c.match.path,
    priority: c.priority,
    methods: c.match.methods,
    hosts: c.match.hosts,
    headers: c.match.headers,
    query: c.match.query,
  }));
  const router = new Router(specs);
  for (const s of router.findShadowed()) {
    const shadowed = s.shadowedValue;
    const by = s.byValue;
    issues.error(
      ['routes', shadowed.index],
      `route "${s.shadowed}" can never match: route "${s.by}" (routes[${by.index}]) matches every request it does and takes precedence; narrow "${s.by}" or give "${s.shadowed}" a higher priority`,
      'value',
    );
  }

  const systemPolicies =
    // Only always-on policies (with their `defaults:` setting, so `request_id: false` applies here too).
    createPolicies(
      {},
      '',
      { config, registry: deps.registry.filter((d) => d.implicitConfig !== undefined), issues, context },
      (n, rest) => ['gateway', n, ...rest],
    ) ?? [];
  const system: CompiledRoute = {
    name: '',
    index: -1,
    match: { kind: 'prefix', path: '/', methods: undefined, hosts: undefined, headers: [], query: [] },
    priority: 0,
    upstreamLabel: '',
    pathEscapes: 'reject',
    methodOverride: false,
    policyNames: systemPolicies.map((p) => p.name),
    policies: systemPolicies.map((p) => p.policy),
    pipeline: buildPipeline(systemPolicies, answerUnrouted, {
      complete: metrics ? [metrics.routeRecorder(''), ...complete] : complete,
      onError,
    }),
  };

  if (issues.hasErrors) {
    void deps.resources.release(scope, false);
    return failed();
  }
  const inputsDigest = digestContents(inputs);
  const snapshot: GatewaySnapshot = {
    hash: configHash(source.text, inputsDigest),
    file: source.file,
    config,
    router,
    routes: compiled,
    system,
    ingress: {
      maxUrlLength: gw.limits.max_url_length,
      maxBodyBytes: gw.limits.max_body_bytes,
      trusted: createTrustedProxies(gw.trusted_proxies),
      forwardedHeader: gw.forwarded_header,
      realIpHeader: gw.real_ip_header,
      protocol: 'http',
    },
    resources: scope,
    warnings: issues.issues.filter((i) => i.severity === 'warning').map(formatIssue),
    inputs: [...inputs.keys()],
    inputsDigest,
    upstreams: groups,
    responseCache: usedCache,
  };
  return { ok: true, snapshot, issues: issues.issues };
}

function answerUnrouted(ex: Exchange): Promise<never> {
  const pre = ex.get(PRE_ROUTING_PROBLEM);
  if (pre) return Promise.reject(pre);
  const allow = ex.get(ALLOWED_METHODS);
  if (allow) return Promise.reject(problems.methodNotAllowed(ex.method, allow));
  return Promise.reject(problems.routeNotFound(ex.path));
}

export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * The brief's `auth_required: true` becomes `auth:` with every configured method (the `default` JWT config,
 * API keys and Basic when consumers have them); a route-level `forward_token: true` joins the auth object.
 */
function normalizeRouteAuth(
  route: GatewayConfig['routes'][number],
  index: number,
  sections: Readonly<Record<string, unknown>>,
  issues: IssueCollector,
): GatewayConfig['routes'][number] {
  const r = route as typeof route & { auth?: unknown };
  let authValue = r.auth;
  if (route.auth_required === true && authValue === undefined) {
    // The consumers as the auth policy sees them: `consumers:` and those of the consumers file.
    const { auth, consumers = [] } = sections as {
      auth?: { jwt?: Record<string, unknown> };
      consumers?: { api_keys?: unknown[]; password_hash?: string }[];
    };
    const methods = [
      ...(auth?.jwt?.['default'] !== undefined ? ['jwt'] : []),
      ...(consumers.some((c) => (c.api_keys?.length ?? 0) > 0) ? ['api_key'] : []),
      ...(consumers.some((c) => c.password_hash !== undefined) ? ['basic'] : []),
    ];
    if (methods.length === 0) {
      issues.error(
        ['routes', index, 'auth_required'],
        'auth_required needs a way to authenticate: auth.jwt.default, or consumers with api_keys or password_hash',
        'value',
      );
      return route;
    }
    authValue = methods.length === 1 ? methods[0] : methods;
  } else if (route.auth_required === false && authValue !== undefined && authValue !== false) {
    issues.error(
      ['routes', index, 'auth_required'],
      "auth_required: false contradicts the route's auth:",
      'value',
    );
  }
  if (route.forward_token === true) {
    if (authValue === undefined || authValue === false) {
      issues.error(['routes', index, 'forward_token'], 'forward_token needs auth: on the route', 'value');
      return route;
    }
    const methods =
      typeof authValue === 'string' ? [authValue] : Array.isArray(authValue) ? authValue : undefined;
    authValue = methods
      ? { methods, optional: false, forward_token: true }
      : { ...(authValue as object), forward_token: true };
  }
  return authValue === r.auth ? route : ({ ...route, auth: authValue } as typeof route);
}

/** Routes the gateway answers itself, contributed by policy definitions (the token endpoint, its JWKS). */
function compileEndpoints(
  registry: readonly AnyPolicyDefinition[],
  deps: Parameters<typeof createPolicies>[2],
  metrics: GatewayMetrics | undefined,
  complete: readonly ((ex: Exchange) => void)[],
  onError: (ex: Exchange, err: unknown) => void,
): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const def of registry) {
    if (!def.endpoints) continue;
    let endpoints: readonly PolicyEndpoint[];
    try {
      endpoints = def.endpoints({ ...deps.context, routeName: def.name });
    } catch (err) {
      const path = err instanceof PolicyConfigError ? err.path : [];
      deps.issues.error([...path], err instanceof Error ? err.message : String(err));
      continue;
    }
    for (const e of endpoints) {
      const always =
        createPolicies(
          {},
          e.name,
          { ...deps, registry: registry.filter((d) => d.implicitConfig !== undefined) },
          (n, rest) => ['gateway', n, ...rest],
        ) ?? [];
      const policies = [...always, { name: def.name, phase: PHASES.indexOf(def.phase), policy: e.policy }];
      out.push({
        name: e.name,
        index: -1,
        match: { kind: 'exact', path: e.path, methods: e.methods, hosts: undefined, headers: [], query: [] },
        priority: 0,
        upstreamLabel: '(answered by the gateway)',
        pathEscapes: 'reject',
        methodOverride: false,
        policyNames: policies.map((p) => p.name),
        policies: policies.map((p) => p.policy),
        pipeline: buildPipeline(policies, endpointFallthrough, {
          complete: metrics ? [metrics.routeRecorder(e.name), ...complete] : complete,
          onError,
        }),
      });
    }
  }
  return out;
}

/** An endpoint policy always answers; reaching the upstream step is a bug, reported as one. */
function endpointFallthrough(): Promise<never> {
  return Promise.reject(new Error('a gateway endpoint did not answer'));
}

/**
 * Runs the policy definitions' `checkSections` once per load, before any route compiles; returns the root
 * sections as policies see them (those a check replaced, e.g. the consumers joined with the consumers
 * file's). Issues found in a file a section names are reported at their line:column in that file.
 */
function checkSections(
  registry: readonly AnyPolicyDefinition[],
  config: GatewayConfig,
  source: LoadedSource,
  issues: IssueCollector,
  inputs: Map<string, Buffer | undefined>,
  baseDir: string,
): Readonly<Record<string, unknown>> {
  const validated = config as unknown as Readonly<Record<string, unknown>>;
  const sections: Record<string, unknown> = { ...validated };
  const fileIssues: IssueCollector[] = [];
  const loadFile = (file: string, at: SectionPath, schema: TSchema): SectionFile | undefined => {
    const path = resolvePath(baseDir, file);
    // Named as the config file is: relative to the working directory when the config path was.
    const shown = isAbsolute(file) ? file : join(dirname(source.file), file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      inputs.set(path, undefined);
      issues.error(at, `cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return undefined;
    }
    inputs.set(path, bytes);
    const loaded = parseConfigText(bytes.toString('utf8'), shown, {}, { interpolate: false });
    fileIssues.push(loaded.issues);
    if (loaded.issues.hasErrors) return undefined;
    // An empty file is the schema's default (an empty list of consumers).
    const fallback = (schema as { default?: unknown }).default;
    const raw = loaded.value ?? (fallback === undefined ? loaded.value : structuredClone(fallback));
    const value = validateAgainstSchema(schema, raw, loaded.issues);
    if (loaded.issues.hasErrors) return undefined;
    return { file: shown, value, error: (p, message) => loaded.issues.error(p, message) };
  };
  const ctx: SectionCheckContext = {
    section: (name) => validated[name],
    baseDir,
    error: (path, message) => issues.error(path, message),
    loadFile,
  };
  for (const def of registry) {
    if (!def.checkSections) continue;
    let replaced: Readonly<Record<string, unknown>> | undefined;
    try {
      replaced = def.checkSections(ctx);
    } catch (err) {
      const path = err instanceof PolicyConfigError ? err.path : [];
      issues.error(path, err instanceof Error ? err.message : String(err));
    }
    if (replaced !== undefined) Object.assign(sections, replaced);
  }
  for (const f of fileIssues) issues.issues.push(...f.issues);
  return sections;
}
