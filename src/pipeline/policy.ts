// The policy contract: what a policy declares (definition) and what it does per request (instance).
import type { Static, TSchema } from '@sinclair/typebox';
import type { TraceSink } from './trace-sink.js';
import type { Exchange } from './exchange.js';
import type { GatewayResponse } from './gateway-response.js';
import type { AdminAction, AdminPath } from './policy-admin.js';
import type { UpstreamAnswer, UpstreamRequest } from './detached-exchange.js';
import type { StoreBackend, StoreHandle, StoreKind, StoreOptions } from './policy-store.js';
import type { Awaitable, PolicyLog } from './policy-log.js';

export type { AdminAction, AdminCall, AdminPath, AdminReply } from './policy-admin.js';
export type { UpstreamAnswer, UpstreamRequest } from './detached-exchange.js';
export type { StoreBackend, StoreHandle, StoreKind, StoreOptions } from './policy-store.js';
export type { Awaitable, PolicyLog } from './policy-log.js';

/**
 * The fixed order in which policies run. A route chooses *which* policies run by its config keys; the phase
 * decides *when*, so rate limiting can never run before authentication by accident.
 */
export const PHASES = [
  'receive',
  'authenticate',
  'authorize',
  'limit',
  'cache',
  'transform',
  'upstream',
  'log',
] as const;
export type Phase = (typeof PHASES)[number];

/** Services the compiler offers a policy while it is being created (at load time, never per request). */
export interface CompileContext {
  /** The route being compiled. */
  readonly routeName: string;
  /** Gateway-wide settings a policy may read. */
  readonly gateway: GatewaySettingsView;
  /**
   * Keeps a stateful resource across reloads: returns the instance created for the same key by an earlier
   * snapshot when one is still alive, otherwise calls `create`. `dispose` runs when the last snapshot using
   * it has drained. `start` runs once, when the first snapshot holding it goes live (a build that fails never
   * starts it): where background work (a delivery loop) begins.
   */
  carryOver<T>(
    key: string,
    create: () => T,
    dispose?: (value: T) => Awaitable<void>,
    start?: (value: T) => void,
  ): T;
  /**
   * A root section of the config (`auth`, `consumers`), validated and defaulted by the schema its policy
   * declared; the policy casts it to that schema's type.
   */
  section(name: string): unknown;
  /** Directory of the config file: relative paths in policy config (key files, JWKS files) start here. */
  readonly baseDir: string;
  /**
   * Declares a file the compiled config depends on (e.g. `auth.consumers_file`): a change of its content
   * reloads the gateway as a config change does. Absolute path.
   */
  watchInput(path: string): void;
  /** Gateway event log (structured lines with an `event` field), for what happens outside a request. */
  readonly log: PolicyLog;
  /**
   * The event log for something that may happen on every request (a store down, a body passed through): it
   * writes at most one line per `intervalMs` (default 10 s), with `suppressed`, the lines dropped since the
   * last one. Keep the result (one per route and cause): each call starts its own interval.
   */
  throttledLog(intervalMs?: number): PolicyLog;
  /**
   * Prometheus metrics of this policy: every name is `portico_<policy>_<name>`. Declaring a metric again (the
   * next route, the next reload) returns the same one. Without `gateway.metrics` they record nothing.
   */
  readonly metrics: PolicyMetrics;
  /**
   * A shared-state store of this policy, named `name`, on the backend of `gateway.store` (memory in this
   * process, or Redis shared by every instance): `open` creates it on first use; every route and reload
   * asking for the same name, backend and `options.settings` gets the same one; it is closed once no
   * serving snapshot uses it. `validate` and `routes` never connect: they always get the memory backend.
   */
  store<T extends StoreHandle>(
    name: string,
    open: (backend: StoreBackend) => T,
    options?: StoreOptions,
  ): { readonly kind: StoreKind; readonly store: T };
  /**
   * Exposes an operation on the admin listener (behind the admin token), for the snapshot being built:
   * the cache purge today. Its path must be one the definition declares in `adminPaths`; the last
   * registration of a path in a snapshot wins.
   */
  admin(action: AdminAction): void;
  /**
   * Another upstream for this route's requests — a named upstream or a URL — forwarded with the route's own
   * settings (strip_prefix, preserve_host, timeouts): for a policy that sends some requests elsewhere (a
   * version's upstream, a canary). Set `ex.forwardTo` to its `forward` and the route's upstream call goes
   * there, through every policy's upstream layer. Throws a PolicyConfigError when it is unknown or invalid.
   * Without `ref`: the route's own upstream (for `send`, a request the policy makes by itself).
   */
  upstream(ref?: string): RouteUpstream;
  /**
   * True in a gateway that serves traffic; false in `validate`, `routes` and a primary's check of the config
   * (`gateway.workers` > 1). A policy opens files and starts background work (a delivery loop) only when
   * serving.
   */
  readonly serving: boolean;
}

/** An upstream a route's policy may send requests to (`CompileContext.upstream`). */
export interface RouteUpstream {
  /** The upstream's name (a URL upstream: its origin). */
  readonly name: string;
  /** As `portico routes` shows it. */
  readonly label: string;
  /**
   * The same text while this is the same upstream (targets, settings, path): a policy keying a resource of
   * its own on this upstream (a delivery loop holding `send`) keys it on this, so a change makes a new one.
   */
  readonly identity: string;
  /** Sends the request there; resolves at the response headers, the body still streaming. */
  forward(ex: Exchange): Promise<GatewayResponse>;
  /**
   * Sends a request no client made (a webhook delivery, a callback) there, with the route's mapping and
   * timeouts, and reads the answer into memory. Rejects when the upstream fails (refused, reset, timed out,
   * circuit open); any status resolves.
   */
  send(request: UpstreamRequest): Promise<UpstreamAnswer>;
}

/** Label values by label name; the values must be bounded by the config (routes, tiers, a fixed list). */
export type MetricLabels = Readonly<Record<string, string>>;

/** The metrics service a policy gets (names prefixed `portico_<policy>_`). */
export interface PolicyMetrics {
  /** False when `gateway.metrics` is off (everything records nothing): skip work done only to measure. */
  readonly enabled: boolean;
  counter(name: string, help: string, labels: readonly string[]): MetricFamily<CounterSeries>;
  histogram(
    name: string,
    help: string,
    labels: readonly string[],
    buckets: readonly number[],
  ): MetricFamily<HistogramSeries>;
  /** A gauge read at scrape time: `read` gives each series' labels and value (the last declaration wins). */
  gauge(
    name: string,
    help: string,
    labels: readonly string[],
    read: () => Iterable<readonly [MetricLabels, number]>,
  ): void;
}

/**
 * The series of one metric, by label values: resolve a series once (at compile time, or on first use) and
 * keep it; recording is then a number update. Past a bound of distinct label sets, further ones share
 * one series whose every label is "(other)".
 */
export interface MetricFamily<S> {
  series(labels: MetricLabels): S;
}

export interface CounterSeries {
  inc(n?: number): void;
}

export interface HistogramSeries {
  observe(value: number): void;
}

/** A key path in a config file, e.g. ["consumers", 2, "password_hash"]. */
export type SectionPath = readonly (string | number)[];

/**
 * What a definition's `checkSections` may use, once per config load before any route is compiled: its root
 * sections (validated and defaulted), a way to report a problem at a key path of gateway.yaml, and a way
 * to read a file the config names exactly as gateway.yaml is read.
 */
export interface SectionCheckContext {
  section(name: string): unknown;
  /** Directory of the config file: relative paths start here. */
  readonly baseDir: string;
  /** Reports an error at a key path of gateway.yaml (with its line:column). */
  error(path: SectionPath, message: string): void;
  /**
   * Reads a YAML file the config names (`file`, relative to baseDir; `at` is the key path in gateway.yaml
   * naming it) with positions kept and no `${VAR}` interpolation, and validates it against `schema` as
   * gateway.yaml is validated: defaults applied, every issue (did-you-mean included) reported at its
   * line:column in that file. The file becomes an input of the snapshot: a change of its content reloads
   * the gateway and changes the config hash. Undefined when it cannot be read, parsed or validated (the
   * issues are reported already).
   */
  loadFile(file: string, at: SectionPath, schema: TSchema): SectionFile | undefined;
}

/** A file read through `SectionCheckContext.loadFile`. */
export interface SectionFile {
  /** The file as issues name it (relative to the working directory when the config path was). */
  readonly file: string;
  /** The validated value, defaults applied. */
  readonly value: unknown;
  /** Reports an error at a key path of this file (with its line:column). */
  error(path: SectionPath, message: string): void;
}

/** The gateway section as policies see it (read-only, already validated and defaulted). */
export interface GatewaySettingsView {
  /** Header that carries the request's trace id, e.g. "X-Trace-Id". */
  readonly tracingHeader: string;
  /** Span export, when `gateway.tracing` is configured. */
  readonly tracer?: TraceSink | undefined;
}

/** What a policy declares: its config key, phase and schema. One per folder under src/policies/. */
export interface PolicyDefinition<S extends TSchema = TSchema> {
  /** Route config key, e.g. "headers". */
  readonly name: string;
  readonly phase: Phase;
  /** Descriptions and defaults live here: types, validation, JSON Schema and docs come from it. */
  readonly schema: S;
  /** One line for `portico --help` and the generated docs. */
  readonly summary: string;
  /**
   * For policies that run on every route without a route key (e.g. request identity): the config to use
   * when the route does not set the key, or undefined to stay off.
   */
  implicitConfig?(gateway: GatewaySettingsView): Static<S> | undefined;
  /**
   * Set for policies that protect the upstream and may not be turned off per route (identity headers): the
   * route key then takes only the policy's schema, never `false`. The text says why, in error messages.
   */
  readonly mandatory?: string;
  /** Builds the per-route instance. Runs at load time; throw a ConfigIssue-carrying error to reject config. */
  create(config: Static<S>, ctx: CompileContext): Policy;
  /**
   * Root sections of gateway.yaml this policy owns (e.g. `auth`, `consumers`), with their schemas: they join
   * the config schema and reach the policy through `ctx.section(name)`.
   */
  readonly sections?: Readonly<Record<string, TSchema>>;
  /**
   * Checks this policy's root sections as a whole, once per config load, after they passed their schemas
   * and before any route is compiled: what a schema cannot say (a password hash that can never match, two
   * consumers with one id), and files the sections name (`auth.consumers_file`). Sections it returns
   * replace the validated ones for `ctx.section(name)` (e.g. the consumers of the file joined to
   * `consumers:`).
   */
  checkSections?(ctx: SectionCheckContext): Readonly<Record<string, unknown>> | undefined;
  /**
   * Paths on the admin listener this policy serves once a route uses it (`ctx.admin`); while no route
   * does, the admin listener answers them 404, naming the policy.
   */
  readonly adminPaths?: readonly AdminPath[];
  /**
   * This policy answers every request of its route itself and sends none to the route's upstream
   * (`callbacks`): a route using it may leave `upstream` out.
   */
  readonly answersAll?: boolean;
  /**
   * Route keys besides `name` that this policy reads (the brief's `auth_required`, `forward_token`), with
   * their schemas: they join the route schema (never `defaults:`), and `normalizeRoute` folds them into the
   * policy's own key.
   */
  readonly routeKeys?: Readonly<Record<string, TSchema>>;
  /**
   * Rewrites one validated route before it compiles — the brief's short forms into this policy's key
   * (`auth_required: true` → `auth:` with every configured method) — and returns it, or returns it as it
   * is. Runs after `checkSections`, so `ctx.section` has the sections as policies see them.
   */
  normalizeRoute?(route: RouteView, ctx: RouteNormalizeContext): RouteView;
  /**
   * Checks across routes, once per config load after every route compiled and the route table was built:
   * what refers from one route to another (a successor path some route must serve).
   */
  checkRoutes?(ctx: RouteCheckContext): void;
  /**
   * Routes the gateway answers itself on behalf of this policy (e.g. the token endpoint and its JWKS), built
   * from the root sections. Each runs the always-on policies, then `policy`, whose onRequest must answer.
   */
  endpoints?(ctx: CompileContext): readonly PolicyEndpoint[];
}

/** What `checkRoutes` may use. */
export interface RouteCheckContext {
  /** Every route's config as validated, in file order (its index is its position under `routes:`). */
  readonly routes: readonly RouteView[];
  /** The name of the route a GET of `path` reaches (routes restricted to hosts aside), or undefined. */
  routeFor(path: string): string | undefined;
  /** Reports an error at a key path inside route `index` (e.g. ['version', 'successor']), with its line. */
  error(index: number, path: SectionPath, message: string): void;
}

/** A route's config as `normalizeRoute` sees it: validated, keys by name. */
export type RouteView = Readonly<Record<string, unknown>>;

/** What `normalizeRoute` may use. */
export interface RouteNormalizeContext {
  /** A root section as policies see it (after `checkSections`). */
  section(name: string): unknown;
  /** Reports an error at a key path inside the route (e.g. ["auth_required"]), with its line. */
  error(path: SectionPath, message: string): void;
}

/** A gateway-served route contributed by a policy definition. */
export interface PolicyEndpoint {
  /** Route name (for logs, metrics, `portico routes`), e.g. "portico:token". */
  readonly name: string;
  /** Exact path. */
  readonly path: string;
  readonly methods: readonly string[];
  readonly policy: Policy;
}

/** One instance per route per snapshot. Read-only: per-request data lives in the Exchange. */
export interface Policy {
  /** Return a response (or throw a Problem) to stop the request; return nothing to continue. */
  onRequest?(ex: Exchange): Awaitable<GatewayResponse | void>;
  /** A layer around the upstream call; the layers are folded into one function at compile time. */
  onUpstream?(ex: Exchange, next: (ex: Exchange) => Promise<GatewayResponse>): Promise<GatewayResponse>;
  /** Runs in reverse phase order, only for policies whose phase was reached. Return a replacement or nothing. */
  onResponse?(ex: Exchange, res: GatewayResponse): Awaitable<GatewayResponse | void>;
  /** After the client has the response (or went away). Must not throw. */
  onComplete?(ex: Exchange): void;
  /** When the snapshot owning this instance is retired. */
  close?(): Awaitable<void>;
  /**
   * A short status for `portico routes` at instant `now` (ms since the epoch): a version's lifecycle state
   * and its next brownout, say. Undefined: nothing to say.
   */
  describe?(now: number): string | undefined;
}

/** A definition with its schema type erased, as the registry holds it. */
export type AnyPolicyDefinition = PolicyDefinition<TSchema>;

/** Helper that keeps a definition's config type tied to its schema. */
export function definePolicy<S extends TSchema>(def: PolicyDefinition<S>): PolicyDefinition<S> {
  return def;
}

/** Thrown by `create` to reject a config the schema cannot express; `path` is relative to the policy key. */
export class PolicyConfigError extends Error {
  constructor(
    message: string,
    readonly path: readonly (string | number)[] = [],
  ) {
    super(message);
    this.name = 'PolicyConfigError';
  }
}

/** Several config mistakes of one policy, reported together (each with its own path and line). */
export class PolicyConfigErrors extends Error {
  constructor(readonly errors: readonly PolicyConfigError[]) {
    super(errors.map((e) => e.message).join('; '));
    this.name = 'PolicyConfigErrors';
  }
}

/**
 * Collects the mistakes of a policy's independent parts, so one load reports them all: `part` runs a
 * compile step and keeps its PolicyConfigError (the part is then undefined); `check` throws them together.
 */
export class ConfigErrorCollector {
  private readonly errors: PolicyConfigError[] = [];

  part<T>(compile: () => T): T | undefined {
    try {
      return compile();
    } catch (err) {
      if (!(err instanceof PolicyConfigError)) throw err;
      this.errors.push(err);
      return undefined;
    }
  }

  check(): void {
    if (this.errors.length === 1) throw this.errors[0]!;
    if (this.errors.length > 1) throw new PolicyConfigErrors(this.errors);
  }
}
