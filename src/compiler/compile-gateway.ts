// load → validate → compile: the one code path behind `validate`, `routes`, `serve` and every reload. Each
// step lives in a file named after it; this one runs them in order and assembles the snapshot. Pure apart
// from creating (not connecting) upstream pools and stores; reports every issue at once. The steps are a
// generator: `buildSnapshot*` run them in one piece, `buildSnapshotFromTextAsync` (reloads) in slices with the
// event loop serving requests in between. Builds with the same deps reuse what the last one parsed,
// validated and compiled for unchanged routes (route-reuse.ts).
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { type ConfigIssue, formatIssue, type IssueCollector } from '../config/config-issue.js';
import { type Env, type LoadedSource, loadConfigFile } from '../config/load-config.js';
import { applyEnvOverrides } from '../config/normalize-config.js';
import { parseConfigSteps } from '../config/route-chunks.js';
import { configSchema, type GatewayConfig } from '../config/schema.js';
import { validateAgainstSchema, validateItem } from '../config/validate-config.js';
import { createTrustedProxies } from '../http/client-address.js';
import { createAccessLog } from '../observability/access-log.js';
import type { AccessLogger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { createTraceExporter } from '../observability/tracing.js';
import { upstreamEvents } from '../observability/upstream-events.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { AnyPolicyDefinition } from '../pipeline/policy.js';
import type { UpstreamGroup } from '../proxy/upstream-group.js';
import type { Router } from '../router/router.js';
import { type Due, NEVER_DUE, runInSlices, runSteps, type Steps } from '../lib/steps.js';
import { porticoVersion } from '../version.js';
import { buildRouterSteps } from './build-router.js';
import type { ResourceRegistry } from './carry-over.js';
import { checkConfigSteps } from './check-config.js';
import { checkSections } from './check-sections.js';
import { createPolicyServices, type SharedStoreLink } from './compile-context.js';
import { configHash, digestContents, type ConfigInputs } from './config-inputs.js';
import {
  type BuildMemo,
  memoOf,
  RouteReuse,
  routeResults,
  type SharedParts,
  sharedKeyOf,
} from './route-reuse.js';
import type { CompiledRoute, GatewaySnapshot } from './snapshot.js';
import { compileEndpoints, compileSystemRoute } from './system-routes.js';

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
  /** In a worker process (`gateway.workers` > 1): the primary's shared memory stores. */
  readonly sharedStores?: SharedStoreLink | undefined;
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

export function buildSnapshotFromFile(file: string, deps: BuildDeps): BuildResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return buildSnapshot(loadConfigFile(file, deps.env), deps); // which says why it cannot be read
  }
  return buildSnapshotFromText(text, file, deps);
}

export function buildSnapshotFromText(text: string, file: string, deps: BuildDeps): BuildResult {
  return runSteps(buildSteps({ text, file }, deps, memoOf(deps, file), NEVER_DUE));
}

export function buildSnapshot(source: LoadedSource, deps: BuildDeps): BuildResult {
  return runSteps(buildSteps(source, deps, memoOf(deps, source.file), NEVER_DUE));
}

/** Longest stretch a reload's build keeps the event loop, ms (it then lets requests in flight go on). */
export const RELOAD_SLICE_MS = 1;

/**
 * `buildSnapshotFromText` for a reload: the same build in slices of about `sliceMs`, the event loop serving
 * requests in between, so a reload of a large config never stalls traffic for longer than one slice.
 */
export async function buildSnapshotFromTextAsync(
  text: string,
  file: string,
  deps: BuildDeps,
  sliceMs = RELOAD_SLICE_MS,
): Promise<BuildResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const memo = memoOf(deps, file);
    memo.busy = true;
    let result: BuildResult;
    try {
      ({ value: result } = await runInSlices((due) => buildSteps({ text, file }, deps, memo, due), sliceMs));
    } finally {
      memo.busy = false;
    }
    // A resource the build took may have been closed while it yielded (the snapshot before the current one
    // drained and released the last hold on it): build again rather than serve it.
    if (!result.ok || result.snapshot.resources.intact()) return result;
    await deps.resources.release(result.snapshot.resources, false);
  }
  return buildSnapshotFromText(text, file, deps);
}

function* buildSteps(
  input: LoadedSource | { readonly text: string; readonly file: string },
  deps: BuildDeps,
  memo: BuildMemo,
  due: Due,
): Steps<BuildResult> {
  const source =
    'locate' in input ? input : yield* parseConfigSteps(input.text, input.file, deps.env, memo.parse, due);
  const { issues } = source;
  if (issues.hasErrors) return { ok: false, issues: issues.issues };
  const schema = configSchema(deps.registry);
  const results = routeResults(memo);
  const raw = (source.value as { routes?: unknown } | undefined)?.routes;
  // Routes validated alone first (a slice at a time; unchanged ones are known), then the whole in place.
  if (Array.isArray(raw) && typeof source.value === 'object')
    for (let i = 0; i < raw.length; i++) {
      if (results.get(i, raw[i]) === undefined)
        results.set(i, raw[i], validateItem(schema, 'routes', i, raw[i], issues));
      if (due()) yield;
    }
  const validated = validateAgainstSchema(schema, source.value, issues, results) as GatewayConfig;
  if (issues.hasErrors) return { ok: false, issues: issues.issues };
  if (due()) yield;
  const config = applyEnvOverrides(validated, deps.env, issues);
  const gw = config.gateway;
  const baseDir = dirname(resolvePath(source.file));
  const inputs: ConfigInputs = new Map();
  const sections = checkSections(deps.registry, config, source, issues, inputs, baseDir);
  if (due()) yield;
  yield* checkConfigSteps(config, issues, due);

  const scope = deps.resources.scope();
  const serving = deps.exportTraces === true;
  const metrics = gw.metrics.enabled ? deps.metrics : undefined;
  const services = createPolicyServices({
    registry: deps.registry,
    config,
    scope,
    sections,
    baseDir,
    watchInput: (path) => void (inputs.has(path) || inputs.set(path, undefined)),
    tracer: tracerOf(config, deps, scope),
    metrics,
    eventLogger: deps.eventLogger,
    serving,
    sharedStores: deps.sharedStores,
  });
  const sharedKey = sharedKeyOf(config, baseDir);
  const shared = memo.shared?.key === sharedKey ? memo.shared : sharedParts(sharedKey, config, deps, metrics);
  const { complete, onError } = shared;

  const groups = new Map<string, UpstreamGroup>();
  const routeDeps = {
    config,
    registry: deps.registry,
    scope,
    issues,
    services,
    complete,
    onError,
    metrics,
    serving,
    upstreamEvents: (name: string) => upstreamEvents(name, metrics, deps.eventLogger),
    groups,
  };
  const compiled: CompiledRoute[] = [];
  const reuse = new RouteReuse(memo, sharedKey, routeDeps, sections);
  for (let i = 0; i < config.routes.length; i++) {
    const c = reuse.route(config.routes[i]!, i);
    if (c) compiled.push(c);
    if (due()) yield;
  }
  const systemDeps = { config, registry: deps.registry, issues, services, metrics, complete, onError };
  compiled.push(...compileEndpoints(systemDeps));
  const router = yield* buildRouterSteps(compiled, issues, due, memo.router);
  const system = compileSystemRoute(systemDeps);
  if (!issues.hasErrors) checkAcrossRoutes(deps.registry, config, router, issues);

  if (issues.hasErrors) {
    void deps.resources.release(scope, false);
    return { ok: false, issues: issues.issues, inputs: [...inputs.keys()] };
  }
  reuse.commit();
  memo.shared = shared;
  memo.router = router;
  memo.parse.keep();
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
    admin: services.admin,
  };
  return { ok: true, snapshot, issues: issues.issues };
}

/** What runs after every request of every route (the access log, the per-consumer counter), and errors. */
function sharedParts(
  key: string,
  config: GatewayConfig,
  deps: BuildDeps,
  metrics: GatewayMetrics | undefined,
): SharedParts {
  const gw = config.gateway;
  const complete: ((ex: Exchange) => void)[] = [];
  if (gw.access_log.enabled && deps.accessLogger)
    complete.push(createAccessLog(gw.access_log, deps.accessLogger));
  if (gw.metrics.per_consumer && metrics)
    complete.push(metrics.consumerRecorder(gw.metrics.per_consumer_limit));
  const onError = (ex: Exchange, err: unknown) =>
    deps.eventLogger?.error(
      { event: 'internal_error', trace_id: ex.traceId, route: ex.routeName, err },
      'unexpected error while handling a request',
    );
  return { key, complete, onError };
}

/** One span exporter per distinct tracing config, carried over reloads; the old one flushes when retired. */
function tracerOf(config: GatewayConfig, deps: BuildDeps, scope: ReturnType<ResourceRegistry['scope']>) {
  const tracing = config.gateway.tracing;
  if (!tracing || !deps.exportTraces) return undefined;
  return scope.get(
    'tracing:' + JSON.stringify(tracing),
    () =>
      createTraceExporter(tracing, {
        logger: deps.eventLogger,
        stats: deps.metrics?.tracing,
        version: porticoVersion(),
      }),
    (exporter) => exporter.shutdown(),
  );
}

/** Each policy's `checkRoutes`, once the route table is built. */
function checkAcrossRoutes(
  registry: readonly AnyPolicyDefinition[],
  config: GatewayConfig,
  router: Router<CompiledRoute>,
  issues: IssueCollector,
): void {
  const routes = config.routes as unknown as readonly Readonly<Record<string, unknown>>[];
  const routeFor = (path: string): string | undefined => {
    const m = router.match({ method: 'GET', host: '', path, query: '', header: () => undefined });
    return m.kind === 'found' ? m.value.name : undefined;
  };
  for (const def of registry) {
    if (def.checkRoutes === undefined) continue;
    def.checkRoutes({
      routes,
      routeFor,
      error: (index, path, message) => issues.error(['routes', index, ...path], message),
    });
  }
}
