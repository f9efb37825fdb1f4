// The services the compiler offers every policy while it is created (CompileContext): the gateway settings
// policies may read, carry-over of stateful resources, root sections, the event log (plain and throttled),
// metrics scoped to the policy, named stores on `gateway.store`, and admin actions. One set per build;
// `contextFor` hands a policy its own view (its metric names, its store names).
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import {
  PolicyConfigError,
  type AdminAction,
  type AdminPath,
  type AnyPolicyDefinition,
  type CompileContext,
  type GatewaySettingsView,
  type PolicyLog,
  type PolicyMetrics,
  type StoreBackend,
  type StoreHandle,
  type StoreOptions,
} from '../pipeline/policy.js';
import type { TraceSink } from '../pipeline/trace-sink.js';
import { throttledLog } from '../lib/throttle.js';
import type { CarryOverScope } from './carry-over.js';

export interface PolicyServices {
  /** Gateway-wide settings as policies see them (also for `implicitConfig`). */
  readonly gateway: GatewaySettingsView;
  /** The compile context of policy `policy` (its config key) creating route `routeName`. */
  contextFor(policy: string, routeName: string): CompileContext;
  /** The admin paths of the registry's policies, with the action a route registered (if any). */
  readonly admin: ReadonlyMap<string, AdminEntry>;
}

/** An admin path of a policy: its action once a route registered one, undefined while none did. */
export interface AdminEntry extends AdminPath {
  /** The policy that declared it (the first, when several policies of one folder share a path). */
  readonly policy: string;
  /** Every policy that declared it: each may register its action (webhook and callbacks share a store). */
  readonly owners: ReadonlySet<string>;
  action: AdminAction | undefined;
}

export interface PolicyServiceDeps {
  readonly registry: readonly AnyPolicyDefinition[];
  readonly config: GatewayConfig;
  readonly scope: CarryOverScope;
  readonly sections: Readonly<Record<string, unknown>>;
  readonly baseDir: string;
  /** Declares a file the build depends on. */
  readonly watchInput: (path: string) => void;
  readonly tracer: TraceSink | undefined;
  /** Metrics of a serving gateway with `gateway.metrics` on; undefined otherwise. */
  readonly metrics: GatewayMetrics | undefined;
  readonly eventLogger: Logger | undefined;
  /** A serving gateway: stores may connect to Redis (validate and routes never do). */
  readonly serving: boolean;
  /** In a worker process: reaches the `shared` memory stores its primary holds. */
  readonly sharedStores?: SharedStoreLink | undefined;
}

/** How a worker process reaches the stores its primary holds (`gateway.workers` > 1). */
export interface SharedStoreLink {
  /**
   * A stand-in for the store the primary holds under `key` (the same key the primary's own build gives it):
   * every method call is a message to the primary, answered within `timeoutMs` or StoreUnavailable.
   */
  connect<T extends StoreHandle>(key: string, timeoutMs: number): T;
}

const NO_SERIES = { inc() {}, observe() {} };
const NO_METRICS: PolicyMetrics = {
  enabled: false,
  counter: () => ({ series: () => NO_SERIES }),
  histogram: () => ({ series: () => NO_SERIES }),
  gauge: () => {},
};

export function createPolicyServices(deps: PolicyServiceDeps): PolicyServices {
  const gw = deps.config.gateway;
  const eventLog = deps.eventLogger;
  const log: PolicyLog = {
    info: (fields, message) => eventLog?.info(fields, message),
    warn: (fields, message) => eventLog?.warn(fields, message),
    error: (fields, message) => eventLog?.error(fields, message),
  };
  const gateway: GatewaySettingsView = { tracingHeader: gw.tracing_header, tracer: deps.tracer };
  const admin = new Map<string, AdminEntry>();
  for (const def of deps.registry)
    for (const a of def.adminPaths ?? []) {
      const entry = admin.get(a.path);
      if (entry === undefined)
        admin.set(a.path, { ...a, policy: def.name, owners: new Set([def.name]), action: undefined });
      else if (entry.method === a.method) (entry.owners as Set<string>).add(def.name);
      else
        throw new TypeError(
          `${def.name}: admin path ${a.path} is declared by ${entry.policy} with ${entry.method}`,
        );
    }
  const carryOver = deps.scope.get.bind(deps.scope);
  const section = (name: string): unknown => deps.sections[name];

  /** The backend a store of `kind` gets: memory unless serving with a Redis url. */
  function backendFor(kind: 'memory' | 'redis'): StoreBackend {
    const s = gw.store;
    if (kind === 'memory' || s.url === undefined || !deps.serving) return { kind: 'memory' };
    return { kind: 'redis', url: s.url, cluster: s.cluster, prefix: s.prefix, timeoutMs: s.timeout_ms, log };
  }

  const perPolicy = new Map<string, Omit<CompileContext, 'routeName'>>();
  function base(policy: string): Omit<CompileContext, 'routeName'> {
    let b = perPolicy.get(policy);
    if (b !== undefined) return b;
    const metrics = deps.metrics?.forPolicy(policy) ?? NO_METRICS;
    b = {
      gateway,
      carryOver,
      section,
      baseDir: deps.baseDir,
      serving: deps.serving,
      watchInput: deps.watchInput,
      log,
      throttledLog: (intervalMs) => throttledLog(log, intervalMs),
      metrics,
      store<T extends StoreHandle>(
        name: string,
        open: (backend: StoreBackend) => T,
        options: StoreOptions = {},
      ): { readonly kind: 'memory' | 'redis'; readonly store: T } {
        const backend = backendFor(options.kind ?? gw.store.type);
        // The key leaves the log out (it is the same logger) and keeps everything that shapes the store.
        const { kind, ...where } = backend as StoreBackend & { log?: unknown };
        delete where.log;
        const key = `store:${policy}:${name}:${JSON.stringify([kind, where, options.settings ?? null])}`;
        const link = deps.sharedStores;
        if (options.shared === true && kind === 'memory' && link !== undefined && deps.serving) {
          const remote = deps.scope.get('remote:' + key, () => link.connect<T>(key, gw.store.timeout_ms));
          return { kind, store: remote };
        }
        const store = deps.scope.get(
          key,
          () => open(backend),
          (s) => s.close(),
        );
        return { kind: backend.kind, store };
      },
      upstream() {
        throw new PolicyConfigError(`${policy}: this route cannot send requests to other upstreams`);
      },
      admin(action) {
        const entry = admin.get(action.path);
        if (entry === undefined || !entry.owners.has(policy) || entry.method !== action.method)
          throw new TypeError(
            `${policy}: admin path ${action.method} ${action.path} is not in its adminPaths`,
          );
        entry.action = action;
      },
    };
    perPolicy.set(policy, b);
    return b;
  }

  return {
    gateway,
    admin,
    contextFor: (policy, routeName) => ({ ...base(policy), routeName }),
  };
}
