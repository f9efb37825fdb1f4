// The route table, compiled once into a segment tree (static children in a Map, one param child). A lookup
// walks only the nodes on the request's path, so its cost does not grow with the number of routes.
//
// Precedence (documented in docs/routing.md), decided once at compile time as a rank per route:
//   1. higher `priority` wins;  2. exact beats prefix;  3. more segments (longer) wins;
//   4. at the first differing segment, a literal beats a `:param`;  5. exact host > `*.` host > any host;
//   6. a method list beats none;  7. more header/query conditions win;  8. earlier in the file wins.
import { type Due, NEVER_DUE, runSteps, sortSteps, type Steps } from '../lib/steps.js';

export interface RouteSpec<R> {
  readonly value: R;
  readonly name: string;
  readonly kind: 'prefix' | 'exact';
  readonly path: string;
  readonly priority: number;
  readonly methods: readonly string[] | undefined;
  readonly hosts: readonly string[] | undefined;
  readonly headers: readonly (readonly [string, string | true])[];
  readonly query: readonly (readonly [string, string | true])[];
}

export interface RouterRequest {
  readonly method: string;
  /** Lowercase host without port. */
  readonly host: string;
  /** Normalized path. */
  readonly path: string;
  readonly query: string;
  header(name: string): string | undefined;
}

export type MatchResult<R> =
  | {
      readonly kind: 'found';
      readonly value: R;
      readonly params: Record<string, string>;
      readonly prefixLength: number;
    }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

export interface Shadowing<R> {
  readonly shadowed: string;
  readonly by: string;
  /** The routes themselves: names alone are ambiguous while a config still has duplicate names. */
  readonly shadowedValue: R;
  readonly byValue: R;
}

interface Entry<R> {
  /** The spec without its value (a router re-bound to new values must not keep the old ones alive). */
  readonly spec: Omit<RouteSpec<R>, 'value'>;
  /** Position in the specs: what it resolves to is `values[index]`. */
  readonly index: number;
  rank: number;
  readonly segments: readonly string[];
  readonly paramNames: readonly string[];
  readonly methods: ReadonlySet<string> | null;
  readonly exactHosts: ReadonlySet<string> | null;
  readonly wildcardHosts: readonly string[];
}

class TreeNode<R> {
  statics: Map<string, TreeNode<R>> | null = null;
  param: TreeNode<R> | null = null;
  prefix: Entry<R>[] = [];
  exact: Entry<R>[] = [];
}

const NOT_FOUND = { kind: 'not-found' } as const;
const NO_PARAMS: string[] = [];
const EMPTY_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const IDLE_REQUEST: RouterRequest = { method: '', host: '', path: '/', query: '', header: () => undefined };

export class Router<R> {
  private readonly root: TreeNode<R>;
  private readonly entries: Entry<R>[];
  /** What each route resolves to, by position: a router re-bound to new values shares everything else. */
  private readonly values: R[];
  private readonly state: LookupState<R> = {
    req: IDLE_REQUEST,
    segs: [],
    best: null,
    bestParams: NO_PARAMS,
    bestDepth: 0,
    stack: [],
    allow: null,
    query: null,
  };

  /** With `rebind`: the routes of `rebind.router` (same shapes, same order) resolving to `rebind.values`. */
  constructor(specs: readonly RouteSpec<R>[], rebind?: { router: Router<R>; values: readonly R[] }) {
    if (rebind !== undefined) {
      if (rebind.values.length !== rebind.router.values.length) throw new RangeError('one value per route');
      this.root = rebind.router.root;
      this.entries = rebind.router.entries;
      this.values = rebind.values.slice();
      return;
    }
    this.root = new TreeNode<R>();
    this.entries = [];
    this.values = [];
    runSteps(this.fill(specs, NEVER_DUE));
  }

  /** The same routes (shapes, precedence, tree) resolving to `values`, by position: no tree is built. */
  withValues(values: readonly R[]): Router<R> {
    return new Router<R>([], { router: this, values });
  }

  /** What the routes resolve to, in the order of their specs. */
  get routeValues(): readonly R[] {
    return this.values;
  }

  /** The router of `specs`, built in steps that yield when `due` (a reload of thousands of routes). */
  static *build<R>(specs: readonly RouteSpec<R>[], due: Due): Steps<Router<R>> {
    const router = new Router<R>([]);
    yield* router.fill(specs, due);
    return router;
  }

  private *fill(specs: readonly RouteSpec<R>[], due: Due): Steps<void> {
    for (const spec of specs) {
      this.entries.push(toEntry(spec, this.entries.length));
      this.values.push(spec.value);
      if (due()) yield;
    }
    const order = this.entries.slice();
    yield* sortSteps(order, (a, b) => compareEntries(a, b) || a.index - b.index, due);
    order.forEach((e, rank) => (e.rank = rank));
    for (const e of this.entries) {
      this.insert(e);
      if (due()) yield;
    }
    const byRank = (a: Entry<R>, b: Entry<R>) => a.rank - b.rank;
    const nodes = [this.root];
    for (let n = nodes.pop(); n !== undefined; n = nodes.pop()) {
      n.prefix.sort(byRank);
      n.exact.sort(byRank);
      n.statics?.forEach((child) => nodes.push(child));
      if (n.param) nodes.push(n.param);
      if (due()) yield;
    }
  }

  /** Route names in precedence order (what `portico routes` prints). */
  get precedence(): readonly RouteSpec<R>[] {
    return [...this.entries]
      .sort((a, b) => a.rank - b.rank)
      .map((e) => ({ ...e.spec, value: this.values[e.index]! }));
  }

  private insert(e: Entry<R>): void {
    let node = this.root;
    for (const seg of e.segments) {
      if (seg.startsWith(':')) node = node.param ??= new TreeNode();
      else {
        node.statics ??= new Map();
        let next = node.statics.get(seg);
        if (!next) node.statics.set(seg, (next = new TreeNode()));
        node = next;
      }
    }
    (e.spec.kind === 'exact' ? node.exact : node.prefix).push(e);
  }

  match(req: RouterRequest): MatchResult<R> {
    const path = req.path;
    // "/a/b/" and "/a/b" match the same routes; the trailing slash still goes upstream.
    const trimmed =
      path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(1, -1) : path.slice(1);
    const segs = trimmed === '' ? [] : trimmed.split('/');
    // One lookup state per router, reset per call: lookups are synchronous and never nest.
    const state = this.state;
    state.req = req;
    state.segs = segs;
    state.best = null;
    state.bestParams = NO_PARAMS;
    state.bestDepth = 0;
    state.stack.length = 0;
    state.allow = null;
    state.query = null;
    this.walk(this.root, 0, state);
    const best = state.best as Entry<R> | null;
    state.req = IDLE_REQUEST;
    if (best) {
      const names = best.paramNames;
      const params: Record<string, string> = names.length === 0 ? EMPTY_PARAMS : {};
      for (let i = 0; i < names.length; i++) params[names[i]!] = safeDecode(state.bestParams[i]!);
      let prefixLength = 0;
      for (let i = 0; i < state.bestDepth; i++) prefixLength += 1 + segs[i]!.length;
      return { kind: 'found', value: this.values[best.index]!, params, prefixLength };
    }
    if (state.allow) return { kind: 'method-not-allowed', allow: [...state.allow].sort() };
    return NOT_FOUND;
  }

  private walk(node: TreeNode<R>, depth: number, st: LookupState<R>): void {
    if (node.prefix.length > 0) this.consider(node.prefix, depth, st);
    if (depth === st.segs.length) {
      if (node.exact.length > 0) this.consider(node.exact, depth, st);
      return;
    }
    const seg = st.segs[depth]!;
    const child = node.statics?.get(seg);
    if (child) this.walk(child, depth + 1, st);
    if (node.param && seg !== '') {
      st.stack.push(seg);
      this.walk(node.param, depth + 1, st);
      st.stack.pop();
    }
  }

  private consider(list: readonly Entry<R>[], depth: number, st: LookupState<R>): void {
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (st.best && e.rank >= st.best.rank) return;
      if (!conditionsMatch(e, st)) continue;
      if (e.methods && !e.methods.has(st.req.method)) {
        const allow = (st.allow ??= new Set());
        for (const m of e.methods) allow.add(m);
        continue;
      }
      st.best = e;
      st.bestParams = e.paramNames.length === 0 ? NO_PARAMS : st.stack.slice();
      st.bestDepth = depth;
      return;
    }
  }

  /** Routes that can never match because a higher-ranked route matches everything they do. */
  findShadowed(): Shadowing<R>[] {
    return runSteps(this.findShadowedSteps(NEVER_DUE));
  }

  /** `findShadowed` in steps that yield when `due`. */
  *findShadowedSteps(due: Due): Steps<Shadowing<R>[]> {
    const out: Shadowing<R>[] = [];
    for (const b of this.entries) {
      const cover = this.coveringEntry(b);
      if (cover)
        out.push({
          shadowed: b.spec.name,
          by: cover.spec.name,
          shadowedValue: this.values[b.index]!,
          byValue: this.values[cover.index]!,
        });
      if (due()) yield;
    }
    return out;
  }

  private coveringEntry(b: Entry<R>): Entry<R> | undefined {
    let found: Entry<R> | undefined;
    const visit = (node: TreeNode<R>, depth: number) => {
      for (const a of node.prefix) if (a !== b && a.rank < b.rank && covers(a, b)) found ??= a;
      if (depth === b.segments.length) {
        if (b.spec.kind === 'exact')
          for (const a of node.exact) if (a !== b && a.rank < b.rank && covers(a, b)) found ??= a;
        return;
      }
      const seg = b.segments[depth]!;
      if (!seg.startsWith(':')) {
        const child = node.statics?.get(seg);
        if (child) visit(child, depth + 1);
      }
      if (node.param) visit(node.param, depth + 1);
    };
    visit(this.root, 0);
    return found;
  }
}

interface LookupState<R> {
  req: RouterRequest;
  segs: readonly string[];
  best: Entry<R> | null;
  bestParams: string[];
  bestDepth: number;
  readonly stack: string[];
  allow: Set<string> | null;
  query: URLSearchParams | null;
}

function conditionsMatch<R>(e: Entry<R>, st: LookupState<R>): boolean {
  if (e.exactHosts || e.wildcardHosts.length > 0) {
    const host = st.req.host;
    let ok = e.exactHosts?.has(host) ?? false;
    for (let i = 0; !ok && i < e.wildcardHosts.length; i++) {
      const suffix = e.wildcardHosts[i]!;
      ok = host.length > suffix.length && host.endsWith(suffix);
    }
    if (!ok) return false;
  }
  const headers = e.spec.headers;
  for (let i = 0; i < headers.length; i++) {
    const [name, want] = headers[i]!;
    const got = st.req.header(name);
    if (got === undefined || (want !== true && got !== want)) return false;
  }
  const query = e.spec.query;
  if (query.length > 0) {
    const params = (st.query ??= new URLSearchParams(st.req.query));
    for (let i = 0; i < query.length; i++) {
      const [name, want] = query[i]!;
      const got = params.get(name);
      if (got === null || (want !== true && got !== want)) return false;
    }
  }
  return true;
}

/**
 * The methods a route with this method list answers, sorted as in `Allow`: RFC 9110 9.3.2, HEAD is
 * answered wherever GET is. The router matches with it, and `portico routes` prints it.
 */
export function answeredMethods(methods: readonly string[]): string[] {
  const answered = new Set(methods);
  if (answered.has('GET')) answered.add('HEAD');
  return [...answered].sort();
}

function toEntry<R>(withValue: RouteSpec<R>, index: number): Entry<R> {
  const { value: _value, ...spec } = withValue;
  const segments = spec.path.split('/').filter((s) => s !== '');
  const exactHosts = spec.hosts?.filter((h) => !h.startsWith('*.')) ?? [];
  return {
    spec,
    index,
    rank: 0,
    segments,
    paramNames: segments.filter((s) => s.startsWith(':')).map((s) => s.slice(1)),
    methods: spec.methods ? new Set(answeredMethods(spec.methods)) : null,
    exactHosts: exactHosts.length > 0 ? new Set(exactHosts) : null,
    wildcardHosts: spec.hosts?.filter((h) => h.startsWith('*.')).map((h) => h.slice(1)) ?? [],
  };
}

function hostRank<R>(e: Entry<R>): number {
  if (e.exactHosts) return 2;
  return e.wildcardHosts.length > 0 ? 1 : 0;
}

/** Negative when `a` wins over `b`. */
function compareEntries<R>(a: Entry<R>, b: Entry<R>): number {
  if (a.spec.priority !== b.spec.priority) return b.spec.priority - a.spec.priority;
  if (a.spec.kind !== b.spec.kind) return a.spec.kind === 'exact' ? -1 : 1;
  if (a.segments.length !== b.segments.length) return b.segments.length - a.segments.length;
  for (let i = 0; i < a.segments.length; i++) {
    const pa = a.segments[i]!.startsWith(':');
    const pb = b.segments[i]!.startsWith(':');
    if (pa !== pb) return pa ? 1 : -1;
  }
  if (hostRank(a) !== hostRank(b)) return hostRank(b) - hostRank(a);
  if ((a.methods === null) !== (b.methods === null)) return a.methods === null ? 1 : -1;
  const ca = a.spec.headers.length + a.spec.query.length;
  const cb = b.spec.headers.length + b.spec.query.length;
  return cb - ca;
}

/** Does `a` match every request `b` matches? (path shape is already known to cover) */
function covers<R>(a: Entry<R>, b: Entry<R>): boolean {
  if (a.methods && (!b.methods || [...b.methods].some((m) => !a.methods!.has(m)))) return false;
  if (a.exactHosts || a.wildcardHosts.length > 0) {
    if (!b.exactHosts && b.wildcardHosts.length === 0) return false;
    const hostCovered = (h: string) =>
      a.exactHosts?.has(h) || a.wildcardHosts.some((s) => h.length > s.length && h.endsWith(s));
    if (b.exactHosts && [...b.exactHosts].some((h) => !hostCovered(h))) return false;
    if (b.wildcardHosts.some((s) => !a.wildcardHosts.some((as) => s.endsWith(as) && s.length >= as.length)))
      return false;
  }
  const condCovered = (
    ac: readonly (readonly [string, string | true])[],
    bc: readonly (readonly [string, string | true])[],
  ) => ac.every(([n, v]) => bc.some(([bn, bv]) => bn === n && (v === true || bv === v)));
  return condCovered(a.spec.headers, b.spec.headers) && condCovered(a.spec.query, b.spec.query);
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
