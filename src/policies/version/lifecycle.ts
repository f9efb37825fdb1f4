// The deprecation lifecycle of a route or a version, compiled once: where it stands at a given instant
// (active, deprecated, inside a brownout, past its sunset), its next brownout window, and the response
// headers that announce it — `Deprecation: @<unix-seconds>` (RFC 9745, a structured-field Date), `Sunset:
// <IMF-fixdate>` (RFC 8594) and `Link` with rel="successor-version" / rel="deprecation". Pure functions of
// an instant, so the tests give them any clock they like.
import { PolicyConfigError } from '../../pipeline/policy.js';
import type { AfterSunset, Lifecycle } from './schema.js';

export type LifecycleState = 'active' | 'deprecated' | 'brownout' | 'sunset';

/** Brownout windows: a fixed list (sorted, [start, end) in ms), or a schedule. */
type Brownouts =
  | { readonly kind: 'list'; readonly windows: readonly (readonly [number, number])[] }
  | { readonly kind: 'every'; readonly from: number; readonly everyMs: number; readonly durationMs: number };

export interface CompiledLifecycle {
  readonly deprecatedAt: number | undefined;
  readonly sunsetAt: number | undefined;
  readonly afterSunset: AfterSunset;
  /** As configured: a path, an absolute URL, or (for a version) another version's name. */
  readonly successor: string | undefined;
  readonly docs: string | undefined;
  readonly brownouts: Brownouts | undefined;
  /** `Deprecation` value, or undefined. */
  readonly deprecationHeader: string | undefined;
  /** `Sunset` value, or undefined. */
  readonly sunsetHeader: string | undefined;
}

/** Parses an RFC 3339 instant the schema already checked the shape of. */
function instant(value: string, path: readonly (string | number)[]): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new PolicyConfigError(`not a valid date-time: "${value}"`, path);
  return ms;
}

/**
 * Compiles one lifecycle; `at` is the key path of its block under `version` (for errors). Throws a
 * PolicyConfigError for what the schema cannot say: a sunset before the deprecation, brownouts after the
 * sunset or outside the schedule's reach, a redirect without a successor.
 */
export function compileLifecycle(l: Lifecycle, at: readonly (string | number)[]): CompiledLifecycle {
  const deprecatedAt =
    l.deprecated_at === undefined ? undefined : instant(l.deprecated_at, [...at, 'deprecated_at']);
  const sunsetAt = l.sunset_at === undefined ? undefined : instant(l.sunset_at, [...at, 'sunset_at']);
  if (deprecatedAt !== undefined && sunsetAt !== undefined && sunsetAt < deprecatedAt)
    throw new PolicyConfigError(
      `sunset_at (${l.sunset_at}) is before deprecated_at (${l.deprecated_at}): a version is deprecated first, then sunset`,
      [...at, 'sunset_at'],
    );
  const afterSunset = l.after_sunset ?? 'gone';
  if (afterSunset === 'redirect' && l.successor === undefined)
    throw new PolicyConfigError('after_sunset: redirect needs a successor to redirect to', [
      ...at,
      'after_sunset',
    ]);
  let brownouts: Brownouts | undefined;
  if (l.brownouts !== undefined) {
    if (sunsetAt === undefined)
      throw new PolicyConfigError('brownouts rehearse the sunset: set sunset_at (they stop there)', [
        ...at,
        'brownouts',
      ]);
    if (Array.isArray(l.brownouts)) {
      const windows = l.brownouts.map((w, i): readonly [number, number] => {
        const start = instant(w.at, [...at, 'brownouts', i, 'at']);
        if (start >= sunsetAt)
          throw new PolicyConfigError(`a brownout at ${w.at} is not before sunset_at (${l.sunset_at})`, [
            ...at,
            'brownouts',
            i,
            'at',
          ]);
        return [start, start + w.duration_m * 60_000];
      });
      windows.sort((a, b) => a[0] - b[0]);
      brownouts = { kind: 'list', windows };
    } else {
      const from = instant(l.brownouts.from, [...at, 'brownouts', 'from']);
      if (from >= sunsetAt)
        throw new PolicyConfigError(`the brownout schedule starts at or after sunset_at (${l.sunset_at})`, [
          ...at,
          'brownouts',
          'from',
        ]);
      const everyMs = l.brownouts.every_h * 3_600_000;
      const durationMs = l.brownouts.duration_m * 60_000;
      if (durationMs >= everyMs)
        throw new PolicyConfigError(
          'each brownout must end before the next one starts (duration_m < every_h)',
          [...at, 'brownouts', 'duration_m'],
        );
      brownouts = { kind: 'every', from, everyMs, durationMs };
    }
  }
  return {
    deprecatedAt,
    sunsetAt,
    afterSunset,
    successor: l.successor,
    docs: l.docs,
    brownouts,
    deprecationHeader: deprecatedAt === undefined ? undefined : '@' + Math.floor(deprecatedAt / 1000),
    sunsetHeader: sunsetAt === undefined ? undefined : new Date(sunsetAt).toUTCString(),
  };
}

/** The brownout window holding `now`, or undefined. */
export function brownoutAt(l: CompiledLifecycle, now: number): readonly [number, number] | undefined {
  const b = l.brownouts;
  if (b === undefined || l.sunsetAt === undefined || now >= l.sunsetAt) return undefined;
  if (b.kind === 'list') {
    for (const w of b.windows) if (now >= w[0] && now < w[1]) return w;
    return undefined;
  }
  if (now < b.from) return undefined;
  const start = b.from + Math.floor((now - b.from) / b.everyMs) * b.everyMs;
  return now < start + b.durationMs ? [start, Math.min(start + b.durationMs, l.sunsetAt)] : undefined;
}

/** The first brownout window that has not ended at `now` (the current one, or the next), or undefined. */
export function nextBrownout(l: CompiledLifecycle, now: number): readonly [number, number] | undefined {
  const b = l.brownouts;
  if (b === undefined || l.sunsetAt === undefined || now >= l.sunsetAt) return undefined;
  if (b.kind === 'list') return b.windows.find((w) => w[1] > now);
  const current = brownoutAt(l, now);
  if (current !== undefined) return current;
  const k = now < b.from ? 0 : Math.floor((now - b.from) / b.everyMs) + 1;
  const start = b.from + k * b.everyMs;
  return start < l.sunsetAt ? [start, Math.min(start + b.durationMs, l.sunsetAt)] : undefined;
}

/** Where the lifecycle stands at `now`. */
export function stateAt(l: CompiledLifecycle, now: number): LifecycleState {
  if (l.sunsetAt !== undefined && now >= l.sunsetAt) return 'sunset';
  if (brownoutAt(l, now) !== undefined) return 'brownout';
  if (l.deprecatedAt !== undefined && now >= l.deprecatedAt) return 'deprecated';
  return 'active';
}

/** One line for `portico routes`: the state now and the next brownout, or undefined for a plain active one. */
export function describeLifecycle(l: CompiledLifecycle, now: number): string | undefined {
  const state = stateAt(l, now);
  const parts: string[] = [];
  if (state !== 'active' || l.deprecatedAt !== undefined || l.sunsetAt !== undefined) parts.push(state);
  if (state === 'active' && l.deprecatedAt !== undefined) parts.push(`deprecated ${iso(l.deprecatedAt)}`);
  if (state !== 'sunset' && l.sunsetAt !== undefined) parts.push(`sunset ${iso(l.sunsetAt)}`);
  const next = nextBrownout(l, now);
  if (next !== undefined && state !== 'brownout')
    parts.push(`next brownout ${iso(next[0])} for ${Math.round((next[1] - next[0]) / 60_000)} min`);
  if (state === 'brownout' && next !== undefined) parts.push(`until ${iso(next[1])}`);
  return parts.length === 0 ? undefined : parts.join(', ');
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
