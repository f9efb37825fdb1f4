// The admin view of an upstream group (`GET /upstreams`, `/upstreams/<name>`): the group's own snapshot,
// with the units the admin API promises — durations as integer milliseconds in `_ms` fields, instants as
// ISO 8601 UTC strings. The group and its breakers keep their monotonic clock (performance.now); instants
// are turned into wall-clock time here, against one pair of clock readings per answer.

/** A wall-clock and a monotonic reading taken together; monotonic times are placed against them. */
export interface Clocks {
  /** Date.now() */
  readonly wall: number;
  /** performance.now(), read at the same moment. */
  readonly monotonic: number;
}

export function readClocks(): Clocks {
  return { wall: Date.now(), monotonic: performance.now() };
}

type Json = Record<string, unknown>;

/** The admin view of one group's snapshot (as `UpstreamGroup.snapshot()` gives it, snake_case keys). */
export function upstreamView(snapshot: Json, clocks: Clocks): Json {
  return rewrite(snapshot, {
    circuit: (v) => circuitView(v, clocks),
    targets: (v) => (Array.isArray(v) ? v.map((t) => (isObject(t) ? targetView(t, clocks) : t)) : v),
  });
}

function targetView(target: Json, clocks: Clocks): Json {
  return rewrite(target, {
    circuit: (v) => circuitView(v, clocks),
    // The health check stamps its probes with Date.now().
    health: (v) => (isObject(v) ? rewrite(v, { last_checked_at: (t) => wallIso(t) }) : v),
    // Passive ejections end at a monotonic time.
    ejection: (v) => (isObject(v) ? rewrite(v, { ejected_until: (t) => monotonicIso(t, clocks) }) : v),
  });
}

function circuitView(circuit: unknown, clocks: Clocks): unknown {
  if (!isObject(circuit)) return circuit;
  return rewrite(
    circuit,
    {
      opened_at: (t) => monotonicIso(t, clocks),
      // How long it stays open from now, in whole milliseconds, rounded up: an open breaker never shows 0
      // (Retry-After rounds up too).
      opens_for: (ms) => (typeof ms === 'number' ? Math.ceil(ms) : ms),
    },
    { opens_for: 'opens_for_ms' },
  );
}

/**
 * A copy of `obj` with the named fields rewritten and renamed where they are (key order kept). Fields not
 * named, or absent, are copied as they are.
 */
function rewrite(
  obj: Json,
  fields: Readonly<Record<string, (v: unknown) => unknown>>,
  renames: Readonly<Record<string, string>> = {},
): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) {
    const f = Object.hasOwn(fields, k) ? fields[k] : undefined;
    out[Object.hasOwn(renames, k) ? renames[k]! : k] = f === undefined ? v : f(v);
  }
  return out;
}

/** A performance.now() instant as ISO 8601 UTC: Date.now() - (performance.now() - monotonic). */
function monotonicIso(t: unknown, clocks: Clocks): unknown {
  if (typeof t !== 'number' || !Number.isFinite(t)) return t;
  return new Date(Math.round(clocks.wall - (clocks.monotonic - t))).toISOString();
}

/** A Date.now() instant as ISO 8601 UTC. */
function wallIso(t: unknown): unknown {
  if (typeof t !== 'number' || !Number.isFinite(t)) return t;
  return new Date(Math.round(t)).toISOString();
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
