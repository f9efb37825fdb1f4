// Consistent hashing for sticky upstreams (hash_on): a key keeps its target while targets come, go or turn
// unhealthy around it; only the keys of the target that changed move.
import type { Balancer, BalancerTarget } from './balancer.js';
import { fmix32, fnv1aString, fnv1aUint32, hash32 } from '../../lib/hash32.js';
import { createSmoothRoundRobin } from './smooth-round-robin.js';

/**
 * Ring points per unit of weight while the ring is small. A target's share then strays by about
 * 1/√(1024 × weight) ≈ 3 % (one standard deviation); the 160 of ketama/nginx strays ≈ 8 %.
 */
export const POINTS_PER_WEIGHT = 1024;

/** Ring size (8 bytes per point) above which every target gets proportionally fewer points. */
export const MAX_RING_POINTS = 1 << 18;

/** Largest total weight a ring accepts (at one point per unit of weight). */
const MAX_TOTAL_WEIGHT = 1 << 24;

// Sort keys pack `hash × 2^21 + rank` exactly into a double (32 + 21 bits ≤ 53).
const RANK_SPACE = 2 ** 21;

/**
 * Points per unit of weight for a ring of `totalWeight`: POINTS_PER_WEIGHT until the ring would pass
 * MAX_RING_POINTS, then fewer (at least one). Replica indexes are kept from 0 up, so a thinner ring only
 * drops points: remapping stays close to minimal even across the threshold.
 */
export function ringPointsPerWeight(totalWeight: number): number {
  return Math.max(1, Math.min(POINTS_PER_WEIGHT, Math.floor(MAX_RING_POINTS / totalWeight)));
}

interface Ring {
  /** Point positions, ascending. */
  readonly hashes: Uint32Array;
  /** Index (in the balancer's targets) of each point's owner. */
  readonly owners: Uint32Array;
}

/**
 * Maps hash(hashKey) to the first ring point at or after it, walking clockwise past ineligible owners:
 * a key whose target is ineligible goes exactly where it would go if that target were removed.
 * Without a hashKey the request is balanced by smooth weighted round-robin.
 * `targets` must already be checked (createBalancer does it).
 */
export function createConsistentHash<T extends BalancerTarget>(targets: readonly T[]): Balancer<T> {
  const n = targets.length;
  const { hashes, owners } = buildRing(targets);
  const size = hashes.length;
  const withoutKey = createSmoothRoundRobin(targets);
  // seen[o] === walk marks owner o as already asked during the current walk (no clearing per pick).
  const seen = new Uint32Array(n);
  let walk = 0;
  return {
    kind: 'hash',
    pick(eligible, hashKey) {
      if (hashKey === undefined) return withoutKey.pick(eligible);
      let i = firstAtOrAfter(hashes, hash32(hashKey));
      if (i === size) i = 0;
      const first = owners[i]!;
      if (eligible(targets[first]!)) return targets[first];
      walk = walk === 0xffffffff ? restartWalks(seen) : walk + 1;
      seen[first] = walk;
      // Each distinct owner is asked once, so a ring with nothing eligible costs at most one lap.
      for (let asked = 1, step = 1; step < size && asked < n; step++) {
        if (++i === size) i = 0;
        const o = owners[i]!;
        if (seen[o] === walk) continue;
        seen[o] = walk;
        asked++;
        if (eligible(targets[o]!)) return targets[o];
      }
      return undefined;
    },
  };
}

function buildRing(targets: readonly BalancerTarget[]): Ring {
  const n = targets.length;
  let total = 0;
  for (const t of targets) total += t.weight;
  if (n > RANK_SPACE || total > MAX_TOTAL_WEIGHT)
    throw new RangeError(`hash balancing takes at most ${MAX_TOTAL_WEIGHT} units of weight, got ${total}`);
  const perWeight = ringPointsPerWeight(total);

  // Colliding points are ordered by id, not list position, so the ring is the same whatever the list order.
  const byId = targets.map((_, i) => i).sort((a, b) => (targets[a]!.id < targets[b]!.id ? -1 : 1));
  const rankOf = new Uint32Array(n);
  byId.forEach((i, rank) => (rankOf[i] = rank));

  const keys = new Float64Array(total * perWeight);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    const seed = fnv1aString(t.id);
    const rank = rankOf[i]!;
    const points = t.weight * perWeight;
    for (let r = 0; r < points; r++) keys[j++] = fmix32(fnv1aUint32(r, seed)) * RANK_SPACE + rank;
  }
  keys.sort();

  const hashes = new Uint32Array(keys.length);
  const owners = new Uint32Array(keys.length);
  for (let p = 0; p < keys.length; p++) {
    const key = keys[p]!;
    const hash = Math.floor(key / RANK_SPACE);
    hashes[p] = hash;
    owners[p] = byId[key - hash * RANK_SPACE]!;
  }
  return { hashes, owners };
}

/** Index of the first element ≥ h in an ascending array (its length when there is none). */
function firstAtOrAfter(sorted: Uint32Array, h: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function restartWalks(seen: Uint32Array): number {
  seen.fill(0);
  return 1;
}
