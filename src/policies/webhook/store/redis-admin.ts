// The cross-route operations of the Redis webhook store (list, depth, replayAll, prune, pausedRoutes): each
// reads or changes every known route, one route at a time per script (a route's keys are one Cluster slot),
// and merges the answers in the order the SQLite store gives them.
import type { DepthRow, EventState, EventSummary, ListPage, ListQuery, PruneResult } from './event-store.js';
import type { RedisConnection } from './redis-connection.js';
import { summaryOf } from './redis-keys.js';

const MAX_LIST = 1000;
const REPLAY_BATCH = 500;
/** Sorted as SQLite's ORDER BY route, state sorts them. */
const STATES: readonly EventState[] = ['dead', 'delivered', 'delivering', 'pending'];

/** Strings in byte order (SQLite's BINARY collation), not UTF-16 order. */
export const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
export const bySeq = <T extends { seq: number }>(a: T, b: T): number => a.seq - b.seq;

/** A page of events, oldest accepted first: each route's index from the cursor, merged by sequence number. */
export async function listEvents(conn: RedisConnection, query: ListQuery): Promise<ListPage> {
  const limit = Math.max(1, Math.min(query.limit ?? 100, MAX_LIST));
  const parsed = query.after !== undefined ? Number.parseInt(query.after, 10) : 0;
  const after = Number.isFinite(parsed) ? parsed : 0;
  const routes = query.route !== undefined ? [query.route] : await conn.routes('list');
  const index = query.state !== undefined ? `st:${query.state}` : 'all';
  const pages = await Promise.all(
    routes.map(async (route) => {
      const key = conn.base(route) + index;
      const flat = await conn.cmd('list', () =>
        conn.client.zrangebyscore(key, `(${after}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1),
      );
      const rows: { route: string; id: string; seq: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        rows.push({ route, id: flat[i]!, seq: Number(flat[i + 1]) });
      }
      return rows;
    }),
  );
  const rows = pages.flat().sort(bySeq);
  const page = rows.slice(0, limit);
  const byRoute = new Map<string, string[]>();
  for (const r of page) byRoute.set(r.route, [...(byRoute.get(r.route) ?? []), r.id]);
  const summaries = await Promise.all(
    [...byRoute].map(async ([route, ids]) => {
      const reply = await conn.script('list', route, (key, base) =>
        conn.client.whSummaryBuffer(key, base, ...ids),
      );
      if (!Array.isArray(reply)) throw new Error('list: unexpected reply');
      return reply.map(summaryOf);
    }),
  );
  const events = summaries
    .flat()
    .filter((s): s is { seq: number; summary: EventSummary } => s !== undefined)
    .sort(bySeq)
    .map((s) => s.summary);
  const last = page[page.length - 1];
  return { events, ...(rows.length > limit && last !== undefined ? { next: String(last.seq) } : {}) };
}

/** Event counts by route and state (non-zero ones), from the state sets. */
export async function depthOf(conn: RedisConnection): Promise<DepthRow[]> {
  const routes = (await conn.routes('depth')).sort(byBytes);
  const counts = await Promise.all(
    routes.flatMap((route) =>
      STATES.map((state) => conn.cmd('depth', () => conn.client.zcard(`${conn.base(route)}st:${state}`))),
    ),
  );
  return routes
    .flatMap((route, r) =>
      STATES.map((state, s) => ({ route, state, count: counts[r * STATES.length + s] ?? 0 })),
    )
    .filter((row) => row.count > 0);
}

/** Replays every event in `state` of the routes, in batches (each batch atomic); how many. */
export async function replayAllEvents(
  conn: RedisConnection,
  routes: readonly string[],
  state: 'dead' | 'delivered',
  now: number,
): Promise<number> {
  const counts = await Promise.all(
    routes.map(async (route) => {
      let total = 0;
      for (;;) {
        const reply = await conn.script('replay', route, (key, base) =>
          conn.client.whReplay(key, base, now, 'state', state, REPLAY_BATCH),
        );
        total += Number(reply);
        if (Number(reply) < REPLAY_BATCH) return total;
      }
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Forgets the dedupe keys expiring at or before `dedupeBefore` and removes the events delivered at or before
 * `deliveredBefore`, in batches of `n` per script; drops consumers idle `consumerIdleMs` with nothing pending.
 */
export async function pruneRoutes(
  conn: RedisConnection,
  dedupeBefore: number,
  deliveredBefore: number,
  n: number,
  consumerIdleMs: number,
): Promise<PruneResult> {
  const routes = await conn.routes('prune');
  const results = await Promise.all(
    routes.map(async (route) => {
      const total = { dedupeKeys: 0, deliveredEvents: 0 };
      for (;;) {
        const reply = await conn.script('prune', route, (key, base) =>
          conn.client.whPrune(key, base, dedupeBefore, deliveredBefore, n, consumerIdleMs),
        );
        if (!Array.isArray(reply)) throw new Error('prune: unexpected reply');
        const [keys, events] = reply.map(Number) as [number, number];
        total.dedupeKeys += keys;
        total.deliveredEvents += events;
        if (keys < n && events < n) return total;
      }
    }),
  );
  return results.reduce(
    (a, b) => ({
      dedupeKeys: a.dedupeKeys + b.dedupeKeys,
      deliveredEvents: a.deliveredEvents + b.deliveredEvents,
    }),
    { dedupeKeys: 0, deliveredEvents: 0 },
  );
}

/** The paused routes (each route's flag is the truth; the known-routes set says where to look), sorted. */
export async function pausedRoutesOf(conn: RedisConnection): Promise<string[]> {
  const routes = await conn.routes('paused');
  const flags = await Promise.all(
    routes.map((route) => conn.cmd('paused', () => conn.client.exists(`${conn.base(route)}paused`))),
  );
  return routes.filter((_, i) => flags[i] === 1).sort(byBytes);
}
