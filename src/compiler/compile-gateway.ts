// load → validate → compile: the one code path behind `validate`, `routes`, `serve` and every reload. Each
// step lives in a file named after it; this one runs them in order and assembles the snapshot. Pure apart
// from creating (not connecting) upstream pools and stores; reports every issue at once.
import { dirname, resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { type ConfigIssue, formatIssue } from '../config/config-issue.js';
import { type Env, type LoadedSource, loadConfigFile, parseConfigText } from '../config/load-config.js';
import { applyEnvOverrides, normalizeMatch } from '../config/normalize-config.js';
import { configSchema, type GatewayConfig } from '../config/schema.js';
import { validateAgainstSchema } from '../config/validate-config.js';
import { createTrustedProxies } from '../http/client-address.js';
import { createAccessLog } from '../observability/access-log.js';
import type { AccessLogger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { createTraceExporter } from '../observability/tracing.js';
import { upstreamEvents } from '../observability/upstream-events.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { AnyPolicyDefinition } from '../pipeline/policy.js';
import type { UpstreamGroup } from '../proxy/upstream-group.js';
import { porticoVersion } from '../version.js';
import { buildRouter } from './build-router.js';
import type { ResourceRegistry } from './carry-over.js';
import { checkConfig } from './check-config.js';
import { checkSections } from './check-sections.js';
import { createPolicyServices, type SharedStoreLink } from './compile-context.js';
import { compileRoute, normalizeRoute } from './compile-route.js';
import { configHash, digestContents, type ConfigInputs } from './config-inputs.js';
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
  return buildSnapshot(loadConfigFile(file, deps.env), deps);
}

export function buildSnapshotFromText(text: string, file: string, deps: BuildDeps): BuildResult {
  return buildSnapshot(parseConfigText(text, file, deps.env), deps);
}

export function buildSnapshot(source: LoadedSource, deps: BuildDeps): BuildResult {
  const { issues } = source;
  if (issues.hasErrors) return { ok: false, issues: issues.issues };
  const validated = validateAgainstSchema(configSchema(deps.registry), source.value, issues) as GatewayConfig;
  if (issues.hasErrors) return { ok: false, issues: issues.issues };
  const config = applyEnvOverrides(validated, deps.env, issues);
  const gw = config.gateway;
  const baseDir = dirname(resolvePath(source.file));
  const inputs: ConfigInputs = new Map();
  const sections = checkSections(deps.registry, config, source, issues, inputs, baseDir);
  checkConfig(config, issues);

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
  // What runs after every request of every route: the access log and the per-consumer counter.
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
  config.routes.forEach((raw, i) => {
    const route = normalizeRoute(raw, i, deps.registry, sections, issues);
    const c = compileRoute(route, i, normalizeMatch(route, i, issues), routeDeps);
    if (c) compiled.push(c);
  });
  const systemDeps = { config, registry: deps.registry, issues, services, metrics, complete, onError };
  compiled.push(...compileEndpoints(systemDeps));
  const router = buildRouter(compiled, issues);
  const system = compileSystemRoute(systemDeps);

  if (issues.hasErrors) {
    void deps.resources.release(scope, false);
    return { ok: false, issues: issues.issues, inputs: [...inputs.keys()] };
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
    admin: services.admin,
  };
  return { ok: true, snapshot, issues: issues.issues };
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
