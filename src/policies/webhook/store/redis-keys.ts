// Key names of the Redis webhook store, and the decoding of what its scripts return into the event types.
//
// Every key of one route carries the route as its hash tag — `<prefix>wh:{<route>}:…` — so a route's keys share
// one Redis Cluster slot and one script may touch them all. Inside the braces the route is escaped (`%` `{` `}`
// as %25 %7B %7D; the empty route as a lone `%`), so two routes never share a tag. The two cross-route keys
// (the set of known routes and the global accept counter) share the tag `{%g}`, which no escaped route can be.
//
// Per route (`<base>` = `<prefix>wh:{<route>}:`):
//   <base>e:<id>     hash: the event (fields below), body stored as raw bytes
//   <base>log:<id>   list: the attempt log, one JSON record per attempt, oldest first
//   <base>q          stream: the delivery queue (entries {id, seq}), consumer group "portico"
//   <base>retry      zset: pending events in backoff, scored by nextAttemptAt
//   <base>all        zset: every event, scored by its accept sequence number (list's order and cursor)
//   <base>st:<state> zset: the events in that state, scored by sequence number (list by state, depth)
//   <base>fin        zset: delivered events by finish time (prune)
//   <base>d:<key>    string "<expiresAt> <id>", PX retention: a dedupe key
//   <base>dk         zset: dedupe keys by expiresAt (prune counts and forgets them)
//   <base>oa         hash: order key → its head event (the one event of the key in the queue or in flight)
//   <base>ow:<key>   zset: the key's other pending events, waiting, by sequence number
//   <base>tb         hash {t, ts}: the route's token bucket (ratePerS)
//   <base>paused     string: present while the route is paused
import type { AttemptRecord, EventState, EventSummary, StoredEvent } from './event-store.js';

/** The consumer group of every route stream. */
export const GROUP = 'portico';

const STATES: readonly EventState[] = ['pending', 'delivering', 'delivered', 'dead'];

/** The route as it appears inside its hash tag (see the file comment). */
export function escapeRoute(route: string): string {
  if (route === '') return '%';
  return route.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

/** The prefix of every key of `route`. */
export function routeBase(prefix: string, route: string): string {
  return `${prefix}wh:{${escapeRoute(route)}}:`;
}

/** The cross-route keys: the set of known routes and the accept sequence counter. */
export function globalKeys(prefix: string): { routes: string; seq: string } {
  return { routes: `${prefix}wh:{%g}:routes`, seq: `${prefix}wh:{%g}:seq` };
}

/** An attempt as its attempt-log JSON record (durations in whole milliseconds, as the SQLite store keeps them). */
export function attemptJson(attempt: AttemptRecord): string {
  return JSON.stringify({
    at: attempt.at,
    ...(attempt.status !== undefined ? { status: attempt.status } : {}),
    ...(attempt.error !== undefined ? { error: attempt.error } : {}),
    durationMs: Math.round(attempt.durationMs),
  });
}

function attemptOf(raw: Buffer | string): AttemptRecord {
  const r = JSON.parse(raw.toString()) as { at: number; status?: number; error?: string; durationMs: number };
  return {
    at: r.at,
    ...(r.status !== undefined ? { status: r.status } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    durationMs: r.durationMs,
  };
}

function isBufferList(value: unknown): value is Buffer[] {
  return Array.isArray(value) && value.every((v) => Buffer.isBuffer(v));
}

function malformed(what: string, value: unknown): Error {
  return new Error(`redis webhook store: unexpected ${what}: ${JSON.stringify(value)?.slice(0, 200)}`);
}

/** A flat HGETALL reply (field, value, …) as a map of raw values. */
function fieldsOf(flat: unknown): Map<string, Buffer> {
  if (!isBufferList(flat) || flat.length % 2 !== 0) throw malformed('event hash', flat);
  const map = new Map<string, Buffer>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i]!.toString(), flat[i + 1]!);
  return map;
}

/** The summary fields, in the order the SUMMARY script and {@link summaryOf} agree on. */
export const SUMMARY_FIELDS = [
  'id',
  'route',
  'seq',
  'dk',
  'ok',
  'method',
  'path',
  'pl',
  'recv',
  'att',
  'next',
  'state',
  'lease',
  'claim',
  'err',
] as const;
type SummaryField = (typeof SUMMARY_FIELDS)[number];

/** An event's summary from its fields, and its accept sequence number (the listing order). */
function summaryFrom(get: (f: SummaryField) => string | undefined, bodyBytes: number) {
  const need = (f: SummaryField): string => {
    const v = get(f);
    if (v === undefined) throw malformed(`event without ${f}`, get('id'));
    return v;
  };
  const state = need('state') as EventState;
  if (!STATES.includes(state)) throw malformed('event state', state);
  const dedupeKey = get('dk');
  const orderKey = get('ok');
  const lease = get('lease');
  const lastError = get('err');
  const summary: EventSummary = {
    id: need('id'),
    route: need('route'),
    ...(dedupeKey !== undefined ? { dedupeKey } : {}),
    ...(orderKey !== undefined ? { orderKey } : {}),
    method: need('method'),
    path: need('path'),
    prefixLength: Number(need('pl')),
    bodyBytes,
    receivedAt: Number(need('recv')),
    attempts: Number(need('att')),
    nextAttemptAt: Number(need('next')),
    state,
    ...(lease !== undefined ? { leaseUntil: Number(lease) } : {}),
    claim: Number(need('claim')),
    ...(lastError !== undefined ? { lastError } : {}),
  };
  return { seq: Number(need('seq')), summary };
}

/** One row of the SUMMARY script (the SUMMARY_FIELDS values, then the body length), or undefined when gone. */
export function summaryOf(row: unknown): { seq: number; summary: EventSummary } | undefined {
  if (!Array.isArray(row) || row.length !== SUMMARY_FIELDS.length + 1) throw malformed('summary row', row);
  const values = row.slice(0, SUMMARY_FIELDS.length) as unknown[];
  if (values[0] === null) return undefined; // deleted between the index read and this one
  const at = (f: SummaryField): string | undefined => {
    const v = values[SUMMARY_FIELDS.indexOf(f)];
    return Buffer.isBuffer(v) ? v.toString() : undefined;
  };
  return summaryFrom(at, Number(row[SUMMARY_FIELDS.length]));
}

/** A script's `{HGETALL, LRANGE log}` pair as the stored event, with its accept sequence number. */
export function eventOf(pair: unknown): { seq: number; event: StoredEvent } {
  if (!Array.isArray(pair) || pair.length !== 2 || !isBufferList(pair[1])) throw malformed('event', pair);
  const fields = fieldsOf(pair[0]);
  const body = fields.get('body') ?? Buffer.alloc(0);
  const { seq, summary } = summaryFrom((f) => fields.get(f)?.toString(), body.length);
  const { bodyBytes: _bodyBytes, ...rest } = summary;
  const headers = JSON.parse(fields.get('headers')?.toString() ?? '[]') as Array<[string, string]>;
  return { seq, event: { ...rest, headers, body, attemptLog: pair[1].map(attemptOf) } };
}
