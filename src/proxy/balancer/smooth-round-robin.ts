// Smooth weighted round-robin, nginx's upstream algorithm: weights 3:1 interleave (a a b a) instead of
// bunching (a a a b), so a heavy target never receives a burst.
import type { Balancer, BalancerTarget } from './balancer.js';

/**
 * Each pick adds every eligible target's weight to its score, takes the highest score (the first on a tie)
 * and subtracts the eligible total from the winner. An ineligible target's score stays as it was, so the
 * others keep their order and a target that comes back gets no catch-up burst.
 * `targets` must already be checked (createBalancer does it).
 */
export function createSmoothRoundRobin<T extends BalancerTarget>(targets: readonly T[]): Balancer<T> {
  const n = targets.length;
  const weights = Float64Array.from(targets, (t) => t.weight);
  const scores = new Float64Array(n);
  return {
    kind: 'round-robin',
    pick(eligible) {
      let best = -1;
      let bestScore = 0;
      let total = 0;
      for (let i = 0; i < n; i++) {
        if (!eligible(targets[i]!)) continue;
        const w = weights[i]!;
        const score = scores[i]! + w;
        scores[i] = score;
        total += w;
        if (best === -1 || score > bestScore) {
          best = i;
          bestScore = score;
        }
      }
      if (best === -1) return undefined;
      scores[best] = bestScore - total;
      return targets[best];
    },
  };
}
