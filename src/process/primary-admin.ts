// The admin API of a multi-process gateway, served by the primary: liveness and readiness of the whole
// group, /metrics summed over every worker, a reload of every worker, and anything else (upstream state,
// policy operations such as the cache purge) asked of every worker and answered as one: the first worker's
// answer when all agree, else the first one's with `workers`, each worker's own.
import { isDeepStrictEqual } from 'node:util';
import type { AdminHandler, AdminResult } from '../admin/admin-server.js';
import { reloadResult } from '../admin/local-admin.js';
import { Problem } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import type { ReloadOutcome } from '../runtime/reloader.js';
import type { SnapshotHolder } from '../runtime/snapshot-holder.js';
import { clusterMetrics, type PrimaryMetrics } from './cluster-metrics.js';
import type { ReplyBody } from './messages.js';
import type { WorkerSet } from './worker-set.js';

export interface PrimaryAdminDeps {
  readonly holder: SnapshotHolder;
  readonly set: WorkerSet;
  readonly metrics: PrimaryMetrics;
  readonly reload: (reason: string) => Promise<ReloadOutcome>;
  readonly draining: () => boolean;
}

const VIEW = ['GET', 'HEAD'] as const;

export function primaryAdmin(d: PrimaryAdminDeps): AdminHandler {
  return {
    methods(path) {
      if (path === '/reload') return ['POST'];
      const entry = d.holder.current.admin.get(path);
      return entry ? [entry.method] : VIEW;
    },
    async handle(call): Promise<AdminResult> {
      const snap = d.holder.current;
      switch (call.path) {
        case '/healthz':
          return { status: 200, body: { status: 'ok' } };
        case '/readyz': {
          // Ready while any worker serves: one being replaced must not take the instance out of rotation.
          const ready = d.set.readyCount;
          if (!d.draining() && ready > 0)
            return {
              status: 200,
              body: {
                status: 'ready',
                config_hash: snap.hash.slice(0, 12),
                routes: snap.routes.length,
                workers: ready,
                of: d.set.size,
              },
            };
          return {
            status: 503,
            body: { status: d.draining() ? 'draining' : 'starting', workers: ready, of: d.set.size },
          };
        }
        case '/metrics': {
          if (!snap.config.gateway.metrics.enabled) throw problems.routeNotFound(call.path);
          const replies = await d.set.broadcast((id) => ({ t: 'metrics', id }));
          const json = replies
            .filter(([, r]) => r.ok)
            .map(([s, r]) => [s.id, (r as { value: unknown }).value] as const);
          return { status: 200, ...(await clusterMetrics(d.metrics.registry, json)) };
        }
        case '/reload':
          return reloadResult(await d.reload('admin'));
      }
      // An operation on state the workers share (a webhook store) is asked of one of them, not repeated.
      if (snap.admin.get(call.path)?.shared === true) {
        const one = await d.set.askOne((id) => ({ t: 'admin', id, call }));
        return merge(one === undefined ? [] : [[one[0].id, one[1]]]);
      }
      const replies = await d.set.broadcast((id) => ({ t: 'admin', id, call }));
      return merge(replies.map(([s, r]) => [s.id, r] as const));
    },
  };
}

/** Every worker's answer to one admin call as one answer. */
function merge(replies: readonly (readonly [number, ReplyBody])[]): AdminResult {
  if (replies.length === 0)
    throw new Problem({
      code: 'service-unavailable',
      status: 503,
      title: 'Service Unavailable',
      detail: 'No worker is serving right now',
      headers: { 'retry-after': '1' },
    });
  const [, first] = replies[0]!;
  if (!first.ok) {
    if (first.problem)
      throw new Problem({
        ...first.problem,
        headers: { ...first.problem.headers },
        extensions: { ...first.problem.extensions },
      });
    throw problems.internalError();
  }
  const results = replies.map(([id, r]) => ({ id, result: r.ok ? (r.value as AdminResult) : undefined }));
  const one = results[0]!.result!;
  if (results.every((r) => r.result !== undefined && isDeepStrictEqual(r.result, one))) return one;
  const body = 'body' in one && typeof one.body === 'object' && one.body !== null ? one.body : {};
  return {
    status: Math.max(...results.map((r) => r.result?.status ?? 500)),
    body: {
      ...body,
      workers: results.map((r) =>
        r.result === undefined
          ? { worker: r.id, status: 500 }
          : { worker: r.id, status: r.result.status, ...('body' in r.result ? { body: r.result.body } : {}) },
      ),
    },
  };
}
