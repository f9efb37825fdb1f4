// The admin operations on the webhook store (behind the admin token): list pending, delivering, delivered
// and dead events, inspect one (headers, body, attempts with their errors), replay one or all, delete one,
// pause and resume a route, and the queue at a glance. With `gateway.workers` each is asked of one worker:
// the store is shared.
import { Problem } from '../../problems/problem.js';
import { problems } from '../../problems/catalog.js';
import type { AdminAction, AdminCall, AdminPath, AdminReply } from '../../pipeline/policy.js';
import type { EventState, StoredEvent } from './store/event-store.js';
import type { SharedStore } from './section.js';

export const ADMIN_PATHS: readonly AdminPath[] = [
  { path: '/webhooks', method: 'GET', shared: true },
  { path: '/webhooks/events', method: 'GET', shared: true },
  { path: '/webhooks/event', method: 'GET', shared: true },
  { path: '/webhooks/replay', method: 'POST', shared: true },
  { path: '/webhooks/delete', method: 'POST', shared: true },
  { path: '/webhooks/pause', method: 'POST', shared: true },
  { path: '/webhooks/resume', method: 'POST', shared: true },
];

const STATES: readonly EventState[] = ['pending', 'delivering', 'delivered', 'dead'];

function invalid(detail: string): Problem {
  return problems.badRequest(detail);
}

function notFound(id: string): Problem {
  return new Problem({
    code: 'webhook-event-not-found',
    status: 404,
    title: 'No such webhook event',
    detail: `no event ${id.slice(0, 64)} in the store`,
  });
}

/** A string member of the JSON body, or of the query when there is no body. */
function param(call: AdminCall, name: string): string | undefined {
  const body = call.body;
  if (body !== null && typeof body === 'object' && name in body) {
    const v = (body as Record<string, unknown>)[name];
    if (typeof v !== 'string' || v === '') throw invalid(`\`${name}\` must be a non-empty string`);
    return v;
  }
  const q = call.query.get(name);
  return q === null || q === '' ? undefined : q;
}

function required(call: AdminCall, name: string): string {
  const v = param(call, name);
  if (v === undefined) throw invalid(`\`${name}\` is required`);
  return v;
}

function flag(call: AdminCall, name: string): boolean {
  const body = call.body;
  if (body !== null && typeof body === 'object' && name in body)
    return (body as Record<string, unknown>)[name] === true;
  return call.query.get(name) === 'true';
}

/** An event as the admin shows it: the body as text when it is UTF-8, else base64. */
function shown(e: StoredEvent): Record<string, unknown> {
  const { body, headers, ...rest } = e;
  const text = body.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(body);
  return {
    ...rest,
    headers: headers.map(([name, value]) => ({ name, value })),
    ...(utf8 ? { body: text } : { body_base64: body.toString('base64') }),
    body_bytes: body.length,
  };
}

/** Every action, over `store`. */
export function adminActions(store: SharedStore): AdminAction[] {
  const act = (
    path: string,
    method: 'GET' | 'POST',
    handle: (call: AdminCall) => Promise<AdminReply>,
  ): AdminAction => ({ path, method, shared: true, handle });
  return [
    act('/webhooks', 'GET', async () => {
      const s = await store.get();
      const [depth, paused] = await Promise.all([s.depth(), s.pausedRoutes()]);
      return { status: 200, body: { depth, paused } };
    }),
    act('/webhooks/events', 'GET', async (call) => {
      const state = param(call, 'state');
      if (state !== undefined && !STATES.includes(state as EventState))
        throw invalid(`\`state\` is one of ${STATES.join(', ')}`);
      const limit = param(call, 'limit');
      const n = limit === undefined ? 100 : Number(limit);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalid('`limit` is a whole number, 1 to 1000');
      const route = param(call, 'route');
      const after = param(call, 'after');
      const page = await (
        await store.get()
      ).list({
        limit: n,
        ...(state !== undefined ? { state: state as EventState } : {}),
        ...(route !== undefined ? { route } : {}),
        ...(after !== undefined ? { after } : {}),
      });
      return { status: 200, body: page };
    }),
    act('/webhooks/event', 'GET', async (call) => {
      const id = required(call, 'id');
      const e = await (await store.get()).get(id);
      if (e === undefined) throw notFound(id);
      return { status: 200, body: shown(e) };
    }),
    act('/webhooks/replay', 'POST', async (call) => {
      const s = await store.get();
      const id = param(call, 'id');
      if (id !== undefined) {
        if (!(await s.replay(id))) {
          if ((await s.get(id)) === undefined) throw notFound(id);
          throw new Problem({
            code: 'webhook-event-not-finished',
            status: 409,
            title: 'Event still in delivery',
            detail: 'only a dead or delivered event can be replayed',
          });
        }
        return { status: 200, body: { replayed: 1, id } };
      }
      if (!flag(call, 'all')) throw invalid('give `id`, or `all: true` (with `route` and `state` optional)');
      const route = param(call, 'route');
      const state = param(call, 'state') ?? 'dead';
      if (state !== 'dead' && state !== 'delivered') throw invalid('`state` is dead or delivered');
      const n = await s.replayAll({ state, ...(route !== undefined ? { route } : {}) });
      return { status: 200, body: { replayed: n } };
    }),
    act('/webhooks/delete', 'POST', async (call) => {
      const id = required(call, 'id');
      if (!(await (await store.get()).delete(id))) throw notFound(id);
      return { status: 200, body: { deleted: id } };
    }),
    act('/webhooks/pause', 'POST', async (call) => {
      const route = required(call, 'route');
      await (await store.get()).pause(route);
      return { status: 200, body: { paused: route } };
    }),
    act('/webhooks/resume', 'POST', async (call) => {
      const route = required(call, 'route');
      await (await store.get()).resume(route);
      return { status: 200, body: { resumed: route } };
    }),
  ];
}
