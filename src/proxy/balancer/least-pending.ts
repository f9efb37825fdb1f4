// Least-pending balancing: send the request where the fewest are in flight for the target's weight, so a
// slow target gets less work without any timing bookkeeping.
import type { Balancer, BalancerTarget } from './balancer.js';

/**
 * Picks the eligible target with the lowest `pending / weight`, read live from each target. Ties go to the
 * first one at or after a cursor that moves past every winner, so idle equal targets take turns.
 * `targets` must already be checked (createBalancer does it).
 */
export function createLeastPending<T extends BalancerTarget>(targets: readonly T[]): Balancer<T> {
  const n = targets.length;
  const weights = Float64Array.from(targets, (t) => t.weight);
  let cursor = 0;
  return {
    kind: 'least-pending',
    pick(eligible) {
      let best = -1;
      let bestPending = 0;
      let bestWeight = 1;
      for (let k = 0; k < n; k++) {
        const i = cursor + k < n ? cursor + k : cursor + k - n;
        const t = targets[i]!;
        if (!eligible(t)) continue;
        const w = weights[i]!;
        // p/w < bp/bw without division, so equal ratios compare exactly equal.
        if (best === -1 || t.pending * bestWeight < bestPending * w) {
          best = i;
          bestPending = t.pending;
          bestWeight = w;
        }
      }
      if (best === -1) return undefined;
      cursor = best + 1 === n ? 0 : best + 1;
      return targets[best];
    },
  };
}
