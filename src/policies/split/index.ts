// Split (upstream phase): a weighted canary split of a route's requests between upstreams, sticky per client.
//
// The side is chosen by weighted rendezvous hashing (highest random weight) over (client key, upstream): each
// side scores -ln(u) / weight, u a uniform number in (0, 1) hashed from the upstream as written and the key,
// and the lowest score wins. Side i then takes weight_i / Σ weights of the keys, and since a side's score
// depends on its own weight only, raising one weight moves keys to that side and nowhere else (lowering it
// moves keys away from it only). The hash has no seed: the same key lands on the same side in every process,
// every worker and after every reload, and on every route splitting between the same upstreams with the
// same weights.
//
// The key is the consumer (else the client address), the client address, a cookie or a header (else the
// client address). A forcing header (X-Canary by default) overrides it: `always` takes the first side (the
// canary), `never` the heaviest other one, or the value names an upstream of the list. The side taken is set
// as the request's `forwardTo`, so it wins over whatever an earlier layer (a version's upstream) chose; it is
// the access log's `split` member and the `upstream` label of portico_split_requests_total.
import { fmix32 } from '../../lib/hash32.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import type { HeaderList } from '../../pipeline/header-list.js';
import {
  ConfigErrorCollector,
  definePolicy,
  PolicyConfigError,
  type CompileContext,
  type CounterSeries,
  type Policy,
  type RouteUpstream,
} from '../../pipeline/policy.js';
import { DEFAULT_FORCE_HEADER, SplitSchema, type SplitConfig, type SplitSide } from './schema.js';

/** One side of a split, resolved at load time. */
interface Side {
  /** The upstream as the config writes it: the log field and the metric label. */
  readonly ref: string;
  readonly forward: RouteUpstream['forward'];
  readonly served: CounterSeries;
}

export const split = definePolicy({
  name: 'split',
  phase: 'upstream',
  summary: 'Weighted canary split between upstreams, sticky per consumer, cookie or client address.',
  schema: SplitSchema,
  create(config, ctx): Policy {
    const { to, sticky, header, at } = normalize(config);
    const errors = new ConfigErrorCollector();
    const firstAt = new Map<string, number>();
    to.forEach((s, i) => {
      const first = firstAt.get(s.upstream);
      if (first === undefined) firstAt.set(s.upstream, i);
      else
        errors.part(() => {
          throw new PolicyConfigError(
            `upstream "${s.upstream}" is already side ${first + 1} of this split; list each upstream once`,
            [...at, i, 'upstream'],
          );
        });
      if (!(s.weight > 0) || !Number.isFinite(s.weight))
        errors.part(() => {
          throw new PolicyConfigError(`expected a positive number, got ${s.weight}`, [...at, i, 'weight']);
        });
    });
    const upstreams = to.map((s, i) => errors.part(() => resolveUpstream(ctx, s.upstream, [...at, i])));
    errors.check();

    // portico_split_requests_total{route, upstream}: one series per side, resolved once.
    const requests = ctx.metrics.counter('requests_total', 'Requests by route and split side.', [
      'route',
      'upstream',
    ]);
    const sides: Side[] = to.map((s, i) => ({
      ref: s.upstream,
      forward: upstreams[i]!.forward,
      served: requests.series({ route: ctx.routeName, upstream: s.upstream }),
    }));
    const choose = createChooser(to);
    const keyOf = stickyKey(sticky);
    const force = header === false ? undefined : forcing(header, sides, to);

    return {
      onUpstream(ex: Exchange, next: (ex: Exchange) => Promise<GatewayResponse>): Promise<GatewayResponse> {
        let side: Side | undefined;
        if (force !== undefined) {
          const value = ex.headers.get(force.name);
          if (value !== undefined) side = force.side(value);
        }
        side ??= sides[choose(keyOf(ex))]!;
        side.served.inc();
        ex.logField('split', side.ref);
        ex.forwardTo = side.forward;
        return next(ex);
      },
      describe(): string {
        const total = to.reduce((sum, s) => sum + s.weight, 0);
        const shares = to.map((s) => `${s.upstream} ${+((100 * s.weight) / total).toFixed(2)}%`);
        return `split ${shares.join(', ')} by ${sticky}`;
      },
    };
  },
});

/** Both config forms as one: the sides, the sticky key, the forcing header, the path of the list. */
function normalize(config: SplitConfig): {
  to: readonly SplitSide[];
  sticky: string;
  header: string | false;
  at: readonly string[];
} {
  if (Array.isArray(config)) return { to: config, sticky: 'consumer', header: DEFAULT_FORCE_HEADER, at: [] };
  return { to: config.to, sticky: config.sticky, header: config.header, at: ['to'] };
}

/** `ctx.upstream(ref)`, its mistake reported at the side's `upstream` key (with that line). */
function resolveUpstream(ctx: CompileContext, ref: string, at: readonly (string | number)[]): RouteUpstream {
  try {
    return ctx.upstream(ref);
  } catch (err) {
    if (err instanceof PolicyConfigError && err.path.length === 0)
      throw new PolicyConfigError(err.message, [...at, 'upstream']);
    throw err;
  }
}

/** The sticky key of a request, by the `sticky` setting (the schema has checked its form). */
function stickyKey(sticky: string): (ex: Exchange) => string {
  if (sticky === 'ip') return (ex) => ex.clientIp;
  if (sticky.startsWith('cookie:')) {
    const name = sticky.slice('cookie:'.length);
    return (ex) => cookieIn(ex.headers, name) || ex.clientIp;
  }
  if (sticky.startsWith('header:')) {
    const name = sticky.slice('header:'.length).toLowerCase();
    return (ex) => ex.headers.get(name) || ex.clientIp;
  }
  return (ex) => (ex.consumerId !== '' ? ex.consumerId : ex.clientIp);
}

/** The forcing header: its lower-case name, and the side a value of it forces (undefined: none). */
function forcing(
  header: string,
  sides: readonly Side[],
  to: readonly SplitSide[],
): { name: string; side(value: string): Side | undefined } {
  const byName = new Map<string, Side>();
  sides.forEach((s) => byName.set(s.ref, s));
  // `never`: the side that is not the canary; with more than two, the heaviest (the first of equals).
  let other = 1;
  for (let i = 2; i < to.length; i++) if (to[i]!.weight > to[other]!.weight) other = i;
  const keywords = new Map<string, Side>([
    ['always', sides[0]!],
    ['never', sides[other]!],
  ]);
  return {
    name: header.toLowerCase(),
    side(value) {
      const exact = keywords.get(value) ?? byName.get(value);
      if (exact !== undefined) return exact;
      // Keywords in any case and with surrounding whitespace; upstream names only as written.
      return value.length > 16 ? undefined : keywords.get(value.trim().toLowerCase());
    },
  };
}

/**
 * The value of cookie `name` in a request's Cookie header lines (RFC 6265 §5.4 `name=value` pairs separated
 * by `;`, whitespace around them ignored, a value in double quotes taken without them); the first one when
 * several carry it, undefined when none does. Names are case-sensitive.
 */
export function cookieIn(headers: HeaderList, name: string): string | undefined {
  const raw = headers.raw;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length !== 6 || n.toLowerCase() !== 'cookie') continue;
    const v = cookieValue(raw[i + 1]!, name);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The value of cookie `name` in one Cookie header value (see cookieIn). */
export function cookieValue(header: string, name: string): string | undefined {
  const n = header.length;
  let i = 0;
  while (i < n) {
    let end = header.indexOf(';', i);
    if (end === -1) end = n;
    let s = i;
    while (s < end && isOws(header.charCodeAt(s))) s++;
    const eq = header.indexOf('=', s);
    if (eq !== -1 && eq < end) {
      let ne = eq;
      while (ne > s && isOws(header.charCodeAt(ne - 1))) ne--;
      if (ne - s === name.length && header.startsWith(name, s)) {
        let vs = eq + 1;
        let ve = end;
        while (vs < ve && isOws(header.charCodeAt(vs))) vs++;
        while (ve > vs && isOws(header.charCodeAt(ve - 1))) ve--;
        if (ve - vs >= 2 && header.charCodeAt(vs) === 0x22 && header.charCodeAt(ve - 1) === 0x22) {
          vs++;
          ve--;
        }
        return header.slice(vs, ve);
      }
    }
    i = end + 1;
  }
  return undefined;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Weighted rendezvous hashing over `sides`: returns the index of the side a key lands on. Deterministic (no
 * seed); the hash of (upstream, key) is two 32-bit Murmur3-style lanes over the UTF-16 code units, the
 * upstream's part absorbed once here, the key's per call.
 */
export function createChooser(sides: readonly SplitSide[]): (key: string) => number {
  const n = sides.length;
  const laneA = new Int32Array(n);
  const laneB = new Int32Array(n);
  const prefixLength = new Float64Array(n);
  const inverseWeight = new Float64Array(n);
  sides.forEach((s, i) => {
    // The upstream, then a separator no upstream name contains.
    let a = absorb(SEED_A, s.upstream);
    let b = absorb(SEED_B, s.upstream);
    a = absorbUnit(a, 0xffff);
    b = absorbUnit(b, 0xffff);
    laneA[i] = a;
    laneB[i] = b;
    prefixLength[i] = s.upstream.length + 1;
    inverseWeight[i] = 1 / s.weight;
  });
  return (key) => {
    let best = 0;
    let bestScore = Infinity;
    const len = key.length;
    for (let i = 0; i < n; i++) {
      let a = laneA[i]!;
      let b = laneB[i]!;
      for (let j = 0; j < len; j++) {
        const c = key.charCodeAt(j);
        a = absorbUnit(a, c);
        b = absorbUnit(b, c);
      }
      const total = prefixLength[i]! + len;
      const hi = finish(a, total);
      const lo = finish(b ^ 0x5bd1e995, total);
      // A uniform number in (0, 1) from 53 bits: never 0 nor 1, so the log is finite.
      const u = (hi * 2097152 + (lo >>> 11) + 0.5) / 9007199254740992;
      const score = -Math.log(u) * inverseWeight[i]!;
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  };
}

const SEED_A = 0x2f0b1c3d;
const SEED_B = 0x7c5a9e11;

function absorb(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = absorbUnit(h, text.charCodeAt(i));
  return h;
}

/** One Murmur3 round over a 16-bit code unit. */
function absorbUnit(h: number, unit: number): number {
  let k = Math.imul(unit, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Murmur3's finalizer (with the length), as an unsigned 32-bit number. */
function finish(h: number, length: number): number {
  return fmix32(h ^ length);
}
