// The route table: every compiled route (the config's and the gateway's own endpoints) into one Router, and
// a route that can never match — another one takes every request it would — is a config error.
import type { IssueCollector } from '../config/config-issue.js';
import { Router, type RouteSpec } from '../router/router.js';
import type { CompiledRoute } from './snapshot.js';

export function buildRouter(
  compiled: readonly CompiledRoute[],
  issues: IssueCollector,
): Router<CompiledRoute> {
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
  return router;
}
