// The route table: every compiled route (the config's and the gateway's own endpoints) into one Router, and
// a route that can never match — another one takes every request it would — is a config error.
import type { IssueCollector } from '../config/config-issue.js';
import { type Due, NEVER_DUE, runSteps, type Steps } from '../lib/steps.js';
import { Router, type RouteSpec } from '../router/router.js';
import type { CompiledRoute } from './snapshot.js';

export function buildRouter(
  compiled: readonly CompiledRoute[],
  issues: IssueCollector,
): Router<CompiledRoute> {
  return runSteps(buildRouterSteps(compiled, issues, NEVER_DUE));
}

/**
 * `buildRouter` in steps that yield when `due`. When every route has the shape it has in `previous` (a
 * router with no shadowed route: the last good build's), in the same order — a reload that changed what
 * routes do, not what they match — `previous` is re-bound to the new routes instead: no tree is built.
 */
export function* buildRouterSteps(
  compiled: readonly CompiledRoute[],
  issues: IssueCollector,
  due: Due,
  previous?: Router<CompiledRoute>,
): Steps<Router<CompiledRoute>> {
  if (previous !== undefined && previous.routeValues.length === compiled.length) {
    const before = previous.routeValues;
    let same = true;
    for (let i = 0; same && i < compiled.length; i++) {
      same = sameShape(before[i]!, compiled[i]!);
      if (due()) yield;
    }
    if (same) return previous.withValues(compiled);
  }
  const specs: RouteSpec<CompiledRoute>[] = [];
  for (const c of compiled) {
    specs.push({
      value: c,
      name: c.name,
      kind: c.match.kind,
      path: c.match.path,
      priority: c.priority,
      methods: c.match.methods,
      hosts: c.match.hosts,
      headers: c.match.headers,
      query: c.match.query,
    });
    if (due()) yield;
  }
  const router = yield* Router.build(specs, due);
  for (const s of yield* router.findShadowedSteps(due)) {
    const shadowed = s.shadowedValue;
    const by = s.byValue;
    issues.error(
      ['routes', shadowed.index],
      `route "${s.shadowed}" can never match: route "${s.by}" (routes[${by.index}]) matches every request it does and takes precedence; narrow "${s.by}" or give "${s.shadowed}" a higher priority`,
      'value',
    );
  }
  return router;
}

/** Do the two routes match the same requests, with the same name and precedence? */
function sameShape(a: CompiledRoute, b: CompiledRoute): boolean {
  if (a === b) return true;
  if (a.name !== b.name || a.priority !== b.priority) return false;
  const m = a.match;
  const n = b.match;
  return (
    m === n ||
    (m.kind === n.kind &&
      m.path === n.path &&
      sameList(m.methods, n.methods) &&
      sameList(m.hosts, n.hosts) &&
      samePairs(m.headers, n.headers) &&
      samePairs(m.query, n.query))
  );
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function samePairs(
  a: readonly (readonly [string, string | true])[],
  b: readonly (readonly [string, string | true])[],
): boolean {
  return a.length === b.length && a.every(([k, v], i) => k === b[i]![0] && v === b[i]![1]);
}
