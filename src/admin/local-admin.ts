// What the admin API answers about the gateway in this process: liveness, readiness, metrics, reload, the
// operations policies expose (the cache purge) and the upstream groups' state. A single-process gateway
// serves it on its admin listener; a worker process answers the calls its primary passes on.
import type { Gateway } from '../runtime/gateway.js';
import type { ReloadOutcome } from '../runtime/reloader.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import type { AdminCall, AdminHandler, AdminResult } from './admin-server.js';
import { readClocks, upstreamView } from './upstream-view.js';

const VIEW = ['GET', 'HEAD'] as const;
const POST = ['POST'] as const;

export function localAdmin(gateway: Gateway, metrics: GatewayMetrics | undefined): AdminHandler {
  return {
    methods(path) {
      if (path === '/reload') return POST;
      const entry = gateway.holder.current.admin.get(path);
      return entry ? [entry.method] : VIEW;
    },
    handle(call) {
      const { path } = call;
      if (path === '/healthz') return { status: 200, body: { status: 'ok' } };
      if (path === '/readyz') {
        const snap = gateway.holder.current;
        return gateway.ready
          ? {
              status: 200,
              body: { status: 'ready', config_hash: snap.hash.slice(0, 12), routes: snap.routes.length },
            }
          : { status: 503, body: { status: gateway.draining ? 'draining' : 'starting' } };
      }
      if (path === '/metrics' && metrics !== undefined)
        return metrics.registry
          .metrics()
          .then((text) => ({ status: 200, text, contentType: metrics.registry.contentType }));
      if (path === '/reload') return gateway.reload('admin').then(reloadResult);
      const entry = gateway.holder.current.admin.get(path);
      if (entry) {
        if (entry.action === undefined) throw nothingToActOn(entry.policy, path);
        return entry.action
          .handle({ body: call.body, query: new URLSearchParams(call.query) })
          .then((reply) => ({ status: reply.status, body: reply.body }));
      }
      if (path === '/upstreams' || path.startsWith('/upstreams/')) return upstreams(gateway, call);
      throw problems.routeNotFound(path);
    },
  };
}

/** `POST /reload`: 200 with the outcome when the config serving now is the file's; 422 when it failed. */
export function reloadResult(outcome: ReloadOutcome): AdminResult {
  if (outcome.status === 'failed')
    throw new Problem({
      code: 'config-invalid',
      status: 422,
      title: 'Config not reloaded',
      detail: 'The config file is not valid; the current config keeps serving',
      extensions: { errors: outcome.errors },
    });
  return { status: 200, body: { status: outcome.status, config_hash: outcome.hash.slice(0, 12) } };
}

/** The answer for an operation path no route registered an action for. */
export function nothingToActOn(policy: string, path: string): Problem {
  return new Problem({
    code: 'route-not-found',
    status: 404,
    title: 'Nothing to act on',
    detail: `No route uses the ${policy} policy, so ${path} has nothing to act on`,
  });
}

function upstreams(gateway: Gateway, call: AdminCall): AdminResult {
  const snap = gateway.holder.current;
  const clocks = readClocks();
  if (call.path === '/upstreams')
    return {
      status: 200,
      body: { upstreams: [...snap.upstreams.values()].map((g) => upstreamView(g.snapshot(), clocks)) },
    };
  const name = decodeName(call.path.slice('/upstreams/'.length));
  const group = snap.upstreams.get(name);
  if (group !== undefined) return { status: 200, body: upstreamView(group.snapshot(), clocks) };
  throw upstreamNotFound(name, Object.hasOwn(snap.config.upstreams, name));
}

/** `GET /upstreams/<name>` for a name the current config has no upstream group for. */
function upstreamNotFound(name: string, configuredButUnused: boolean): Problem {
  const quoted = JSON.stringify(name.length > 200 ? name.slice(0, 200) + '…' : name);
  return new Problem({
    code: 'upstream-not-found',
    status: 404,
    title: 'Upstream not found',
    detail: configuredButUnused
      ? `Upstream ${quoted} is configured but no route uses it, so it has no state to show`
      : `Upstream ${quoted} does not exist; GET /upstreams lists the upstreams in use`,
    extensions: { upstream: name },
  });
}

/** A path segment, percent-decoded; as it is when it holds a malformed escape. */
function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
