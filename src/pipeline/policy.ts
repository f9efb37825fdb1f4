// The policy contract: what a policy declares (definition) and what it does per request (instance).
import type { Static, TSchema } from '@sinclair/typebox';
import type { TraceSink } from './trace-sink.js';
import type { RateLimitStore } from '../stores/rate-limit-store.js';
import type { ResponseCacheStore } from '../stores/response-cache.js';
import type { Exchange } from './exchange.js';
import type { GatewayResponse } from './gateway-response.js';

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

export type Awaitable<T> = T | Promise<T>;

/** Services the compiler offers a policy while it is being created (at load time, never per request). */
export interface CompileContext {
  /** The route being compiled. */
  readonly routeName: string;
  /** Gateway-wide settings a policy may read. */
  readonly gateway: GatewaySettingsView;
  /**
   * Keeps a stateful resource across reloads: returns the instance created for the same key by an earlier
   * snapshot when one is still alive, otherwise calls `create`. `dispose` runs when the last snapshot using
   * it has drained.
   */
  carryOver<T>(key: string, create: () => T, dispose?: (value: T) => Awaitable<void>): T;
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

/** The part of the event logger policies use. */
export interface PolicyLog {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  warn(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}

/** The gateway section as policies see it (read-only, already validated and defaulted). */
export interface GatewaySettingsView {
  /** Header that carries the request's trace id, e.g. "X-Trace-Id". */
  readonly tracingHeader: string;
  /** Span export, when `gateway.tracing` is configured. */
  readonly tracer?: TraceSink | undefined;
  /**
   * The rate-limit store of `gateway.store` (memory by default, or Redis), created on first use and shared
   * by every route; `kind` names it for logs and metrics.
   */
  rateLimitStore?(): { readonly store: RateLimitStore; readonly kind: 'memory' | 'redis' };
  /** Rate-limit metrics of one route, when metrics are on. */
  rateLimitMetrics?(route: string): RateLimitMetrics;
  /** Counts a fallback response (portico_fallback_responses_total), when metrics are on. */
  fallbackServed?(route: string, reason: string): void;
  /**
   * The response cache of the root `cache:` section (memory LRU, or Redis), created on first use and shared
   * by every route and the admin purge API; `kind` names it for logs and metrics.
   */
  responseCache?(): { readonly store: ResponseCacheStore; readonly kind: 'memory' | 'redis' };
  /** Cache metrics of one route, when metrics are on. */
  cacheMetrics?(route: string): CacheMetrics;
}

/** What the cache policy records (portico_cache_*). */
export interface CacheMetrics {
  outcome(outcome: 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED'): void;
  stored(bytes: number): void;
}

/** What the rate_limit policy records (portico_rate_limit_*). */
export interface RateLimitMetrics {
  allowed(tier: string): void;
  limited(tier: string): void;
  storeError(store: string): void;
  storeLatency(store: string, seconds: number): void;
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
   * Routes the gateway answers itself on behalf of this policy (e.g. the token endpoint and its JWKS), built
   * from the root sections. Each runs the always-on policies, then `policy`, whose onRequest must answer.
   */
  endpoints?(ctx: CompileContext): readonly PolicyEndpoint[];
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
