// Routes the gateway answers itself: the system route (requests no route takes, and those refused before
// routing) and the endpoints policies contribute (the token endpoint, its JWKS). Both run the always-on
// policies first, so they carry a request id, identity stripping and the access log like any route.
import type { IssueCollector } from '../config/config-issue.js';
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Exchange } from '../pipeline/exchange.js';
import {
  PHASES,
  PolicyConfigError,
  type AnyPolicyDefinition,
  type PolicyEndpoint,
} from '../pipeline/policy.js';
import { answerUnrouted } from '../pipeline/unrouted.js';
import type { PolicyServices } from './compile-context.js';
import { buildPipeline, createPolicies } from './compile-route.js';
import type { CompiledRoute } from './snapshot.js';

export interface SystemRouteDeps {
  readonly config: GatewayConfig;
  readonly registry: readonly AnyPolicyDefinition[];
  readonly issues: IssueCollector;
  readonly services: PolicyServices;
  readonly metrics: GatewayMetrics | undefined;
  readonly complete: readonly ((ex: Exchange) => void)[];
  readonly onError: (ex: Exchange, err: unknown) => void;
}

/** The always-on policies (with their `defaults:` setting, so `request_id: false` applies here too). */
function alwaysOn(deps: SystemRouteDeps, routeName: string) {
  return (
    createPolicies(
      {},
      routeName,
      { ...deps, registry: deps.registry.filter((d) => d.implicitConfig !== undefined) },
      (n, rest) => ['gateway', n, ...rest],
    ) ?? []
  );
}

/** Answers requests no route takes (404, 405) and those refused before routing, through the same policies. */
export function compileSystemRoute(deps: SystemRouteDeps): CompiledRoute {
  const policies = alwaysOn(deps, '');
  return {
    name: '',
    index: -1,
    match: { kind: 'prefix', path: '/', methods: undefined, hosts: undefined, headers: [], query: [] },
    priority: 0,
    upstreamLabel: '',
    pathEscapes: 'reject',
    methodOverride: false,
    policyNames: policies.map((p) => p.name),
    policies: policies.map((p) => p.policy),
    pipeline: buildPipeline(policies, answerUnrouted, {
      complete: deps.metrics ? [deps.metrics.routeRecorder(''), ...deps.complete] : deps.complete,
      onError: deps.onError,
    }),
  };
}

/** Routes the gateway answers itself, contributed by policy definitions (the token endpoint, its JWKS). */
export function compileEndpoints(deps: SystemRouteDeps): CompiledRoute[] {
  const { registry, metrics, complete, onError } = deps;
  const out: CompiledRoute[] = [];
  for (const def of registry) {
    if (!def.endpoints) continue;
    let endpoints: readonly PolicyEndpoint[];
    try {
      endpoints = def.endpoints(deps.services.contextFor(def.name, def.name));
    } catch (err) {
      const path = err instanceof PolicyConfigError ? err.path : [];
      deps.issues.error([...path], err instanceof Error ? err.message : String(err));
      continue;
    }
    for (const e of endpoints) {
      const always = alwaysOn(deps, e.name);
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
