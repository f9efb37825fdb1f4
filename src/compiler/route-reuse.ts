// Reusing the compiled routes of the last build (Kong's incremental router rebuild is the model): a reload
// of ten thousand routes with one line changed compiles that one route again, not all of them. A route is
// reused — the very CompiledRoute, its policies and their state — when everything its compile read is
// unchanged: its own config (the same validated object, see config/route-chunks.ts), the gateway settings and
// `defaults:` routes read, the named upstream it uses, the root sections its policies read, and the
// carry-over resources it holds (still the very instances alive). What its compile did besides returning it
// (admin actions, the upstream for the admin view) is done again. A compile that reported any issue, whose
// policies declared an input file or sent requests to other upstreams, is never reused.
import type { GatewayConfig, RouteConfig } from '../config/schema.js';
import { RouteItemMemo } from '../config/route-chunks.js';
import { normalizeMatch } from '../config/normalize-config.js';
import type { ItemResult, ItemResults } from '../config/validate-config.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { AdminAction, CompileContext } from '../pipeline/policy.js';
import type { UpstreamGroup } from '../proxy/upstream-group.js';
import type { PolicyServices } from './compile-context.js';
import { compileRoute, normalizeRoute, type RouteCompileDeps } from './compile-route.js';
import type { Router } from '../router/router.js';
import type { CompiledRoute } from './snapshot.js';

/** Per-build parts every route shares: the access log and consumer counter, and the error log. */
export interface SharedParts {
  /** What they were built from (the gateway settings routes read, `defaults:`, the base directory). */
  readonly key: string;
  readonly complete: readonly ((ex: Exchange) => void)[];
  readonly onError: (ex: Exchange, err: unknown) => void;
}

interface ReusableRoute {
  readonly compiled: CompiledRoute;
  readonly shared: string;
  /** The named upstream's config as JSON, or '' for a URL. */
  readonly upstream: string;
  /** The root sections its policies read, as JSON. */
  readonly sections: ReadonlyMap<string, string>;
  readonly used: ReadonlyMap<string, unknown>;
  readonly admin: readonly { readonly policy: string; readonly action: AdminAction }[];
  readonly group: { readonly name: string; readonly group: UpstreamGroup } | undefined;
}

/** What the builds of one gateway (one BuildDeps, one file) keep for the next. */
export class BuildMemo {
  readonly parse = new RouteItemMemo();
  /** Validated routes, by the parsed value they came from (only those without issues). */
  readonly valid = new WeakMap<object, ItemResult>();
  /** Compiled routes of committed builds, by validated route. */
  readonly routes = new WeakMap<object, ReusableRoute>();
  shared: SharedParts | undefined;
  /** The router of the last committed build (re-bound when no route's shape changed). */
  router: Router<CompiledRoute> | undefined;
  /** A build is using this memo (one that yields): another one meanwhile gets a memo of its own. */
  busy = false;
  constructor(readonly file: string) {}
}

const memos = new WeakMap<object, BuildMemo>();

/** The memo of the builds made with `deps` from `file`. */
export function memoOf(deps: object, file: string): BuildMemo {
  let memo = memos.get(deps);
  if (memo === undefined || memo.file !== file) memos.set(deps, (memo = new BuildMemo(file)));
  return memo.busy ? new BuildMemo(file) : memo;
}

/** Validation results of this build's routes, and the earlier builds' results for unchanged ones. */
export function routeResults(memo: BuildMemo): ItemResults {
  const now = new Map<number, { readonly raw: unknown; readonly result: ItemResult }>();
  return {
    key: 'routes',
    get(index, raw) {
      const earlier = isObject(raw) ? memo.valid.get(raw) : undefined;
      if (earlier !== undefined) return earlier;
      const found = now.get(index);
      return found !== undefined && found.raw === raw ? found.result : undefined;
    },
    set(index, raw, result) {
      now.set(index, { raw, result });
      if (result.issues.length === 0 && isObject(raw)) memo.valid.set(raw, result);
    },
  };
}

/** Gateway settings no route reads (listeners, logs, lifecycle): a change of them recompiles nothing. */
const ROUTE_INDEPENDENT = new Set([
  'listen',
  'admin',
  'reload',
  'log_level',
  'log_file',
  'shutdown_timeout_ms',
  'workers',
  'trusted_proxies',
  'forwarded_header',
  'real_ip_header',
  'limits',
]);

/** What every route's compile reads besides its own config (all of it but what is known not to be read). */
export function sharedKeyOf(config: GatewayConfig, baseDir: string): string {
  const gateway = Object.entries(config.gateway).filter(([k]) => !ROUTE_INDEPENDENT.has(k));
  return JSON.stringify([gateway, config.gateway.limits.max_body_bytes, config.defaults, baseDir]);
}

interface Recording {
  readonly sections: Map<string, string>;
  readonly admin: { readonly policy: string; readonly action: AdminAction }[];
  watched: boolean;
}

/** Compiles the routes of one build, reusing those of earlier builds that nothing changed for. */
export class RouteReuse {
  private readonly pending: [object, ReusableRoute][] = [];
  private readonly sectionJson = new Map<string, string>();
  private readonly upstreamJson = new Map<string, string>();
  /** Routes that read the same sections and hold the same resources share one map of each (checked once). */
  private readonly interned = new Map<string, ReadonlyMap<string, unknown>>();
  private readonly checked = new Map<ReadonlyMap<string, unknown>, boolean>();
  private readonly compileDeps: RouteCompileDeps;
  private recording: Recording | undefined;

  constructor(
    private readonly memo: BuildMemo,
    private readonly sharedKey: string,
    private readonly deps: RouteCompileDeps,
    private readonly sections: Readonly<Record<string, unknown>>,
  ) {
    const base = deps.services;
    const services: PolicyServices = { ...base, contextFor: (p, r) => this.watch(p, base.contextFor(p, r)) };
    this.compileDeps = { ...deps, services, upstreamWork: new Map() };
  }

  /** Route `index` of this build: the earlier build's when nothing it read changed, else compiled now. */
  route(route: RouteConfig, index: number): CompiledRoute | undefined {
    const earlier = isObject(route) ? this.memo.routes.get(route) : undefined;
    if (earlier !== undefined && this.fits(earlier, route)) {
      for (const a of earlier.admin) this.deps.services.contextFor(a.policy, route.name).admin(a.action);
      if (earlier.group !== undefined) {
        this.deps.groups.set(earlier.group.name, earlier.group.group);
        if (this.deps.serving) earlier.group.group.start();
      }
      return earlier.compiled.index === index ? earlier.compiled : { ...earlier.compiled, index };
    }
    return this.compile(route, index);
  }

  /** The build is committed: its routes may be reused by the next one. */
  commit(): void {
    for (const [route, entry] of this.pending) this.memo.routes.set(route, entry);
  }

  private compile(route: RouteConfig, index: number): CompiledRoute | undefined {
    const { issues, scope, registry, groups } = this.deps;
    const before = issues.issues.length;
    const recording: Recording = (this.recording = { sections: new Map(), admin: [], watched: false });
    let compiled: CompiledRoute | undefined;
    let used: ReadonlyMap<string, unknown>;
    try {
      ({ result: compiled, used } = scope.record(() => {
        const section = (name: string) => this.read(recording, name, () => this.sections[name]);
        const normalized = normalizeRoute(route, index, registry, section, issues);
        const match = normalizeMatch(normalized, index, issues);
        return compileRoute(normalized, index, match, this.compileDeps);
      }));
    } finally {
      this.recording = undefined;
    }
    // A route whose policies send requests to other upstreams (versions, splits, mirrors) is compiled again
    // every time: those upstreams' settings are not among what reuse compares.
    if (
      compiled === undefined ||
      issues.issues.length !== before ||
      recording.watched ||
      compiled.otherUpstreams !== undefined ||
      !isObject(route)
    )
      return compiled;
    const group = route.upstream === undefined ? undefined : groups.get(route.upstream);
    this.pending.push([
      route,
      {
        compiled,
        shared: this.sharedKey,
        upstream: this.upstreamOf(route.upstream),
        sections: this.intern('s', recording.sections) as ReadonlyMap<string, string>,
        used: this.intern('u', used),
        admin: recording.admin,
        group:
          group === undefined || route.upstream === undefined ? undefined : { name: route.upstream, group },
      },
    ]);
    return compiled;
  }

  /** Does everything `earlier` read still say the same? Then its resources are taken on too. */
  private fits(earlier: ReusableRoute, route: RouteConfig): boolean {
    if (earlier.shared !== this.sharedKey || earlier.upstream !== this.upstreamOf(route.upstream))
      return false;
    return (
      this.once(earlier.sections, () =>
        [...earlier.sections].every(([n, json]) => this.sectionOf(n) === json),
      ) && this.once(earlier.used, () => this.deps.scope.adopt(earlier.used))
    );
  }

  /** `check` of a map, once per build (the many routes sharing it get the same answer). */
  private once(map: ReadonlyMap<string, unknown>, check: () => boolean): boolean {
    let ok = this.checked.get(map);
    if (ok === undefined) this.checked.set(map, (ok = check()));
    return ok;
  }

  /** The map of this build with the same content as `map` (values by identity), or `map` itself. */
  private intern(kind: string, map: ReadonlyMap<string, unknown>): ReadonlyMap<string, unknown> {
    const key = kind + [...map.keys()].join('\0');
    const known = this.interned.get(key);
    if (known !== undefined && [...map].every(([k, v]) => known.get(k) === v)) return known;
    this.interned.set(key, map);
    return map;
  }

  /** A policy's compile context that records, while its route compiles, what it reads and registers. */
  private watch(policy: string, ctx: CompileContext): CompileContext {
    const recording = this.recording;
    if (recording === undefined) return ctx;
    return {
      ...ctx,
      section: (name) => this.read(recording, name, () => ctx.section(name)),
      watchInput: (path) => {
        recording.watched = true;
        ctx.watchInput(path);
      },
      admin: (action) => {
        if (this.recording === recording) recording.admin.push({ policy, action });
        ctx.admin(action);
      },
    };
  }

  private read(recording: Recording, name: string, get: () => unknown): unknown {
    if (this.recording === recording) recording.sections.set(name, this.sectionOf(name));
    return get();
  }

  private sectionOf(name: string): string {
    let json = this.sectionJson.get(name);
    if (json === undefined) this.sectionJson.set(name, (json = JSON.stringify(this.sections[name]) ?? '-'));
    return json;
  }

  private upstreamOf(name: string | undefined): string {
    if (name === undefined) return '-';
    let json = this.upstreamJson.get(name);
    if (json === undefined) {
      const upstream = this.deps.config.upstreams[name];
      this.upstreamJson.set(name, (json = upstream === undefined ? '' : JSON.stringify(upstream)));
    }
    return json;
  }
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}
