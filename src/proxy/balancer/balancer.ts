// The contract between the proxy and its load balancers, and the one place that builds a balancer by kind,
// checking the targets once so the pickers can trust them on the hot path.
import { createConsistentHash } from './consistent-hash.js';
import { createLeastPending } from './least-pending.js';
import { createSmoothRoundRobin } from './smooth-round-robin.js';

/** What a balancer needs to know about a target. The gateway's target objects extend this. */
export interface BalancerTarget {
  /** Stable identity (e.g. "http://10.0.0.1:8080"); consistent hashing places the target on its ring by it. */
  readonly id: string;
  /** Relative share, integer >= 1. */
  readonly weight: number;
  /** Requests in flight to this target right now (the gateway increments/decrements it). */
  readonly pending: number;
}

/** How requests are spread: smooth weighted round-robin, fewest in flight per weight, or consistent hash. */
export type BalanceKind = 'round-robin' | 'least-pending' | 'hash';

/** Picks an upstream target per request. Built once per upstream snapshot; holds only its own state. */
export interface Balancer<T extends BalancerTarget> {
  readonly kind: BalanceKind;
  /**
   * Picks one of the targets for which `eligible(t)` is true (health, "not already tried by this request").
   * `hashKey` is used by 'hash' only (undefined → behave like round-robin for that request). Returns undefined when no target is eligible.
   * Must not allocate per call in the common case (hot path: called once per request).
   */
  pick(eligible: (t: T) => boolean, hashKey?: string): T | undefined;
}

/**
 * Builds a balancer of `kind` over a copy of `targets` (their `pending` is still read live from each object).
 * Throws a RangeError for a weight that is not a whole number ≥ 1 or an id used twice.
 */
export function createBalancer<T extends BalancerTarget>(
  kind: BalanceKind,
  targets: readonly T[],
): Balancer<T> {
  const own = checkTargets(targets);
  if (own.length === 0) return { kind, pick: pickNone };
  if (own.length === 1) return singleTarget(kind, own[0]!);
  switch (kind) {
    case 'round-robin':
      return createSmoothRoundRobin(own);
    case 'least-pending':
      return createLeastPending(own);
    case 'hash':
      return createConsistentHash(own);
    default: {
      const unknown: never = kind;
      throw new RangeError(`unknown balance kind: ${String(unknown)}`);
    }
  }
}

function checkTargets<T extends BalancerTarget>(targets: readonly T[]): readonly T[] {
  const ids = new Set<string>();
  for (const t of targets) {
    if (!Number.isSafeInteger(t.weight) || t.weight < 1)
      throw new RangeError(`target ${t.id}: weight must be a whole number ≥ 1, got ${t.weight}`);
    // A repeated id would share ring points with its twin and never receive its hashed keys.
    if (ids.has(t.id)) throw new RangeError(`target ${t.id} is listed twice`);
    ids.add(t.id);
  }
  return Object.freeze(targets.slice());
}

function pickNone(): undefined {
  return undefined;
}

function singleTarget<T extends BalancerTarget>(kind: BalanceKind, only: T): Balancer<T> {
  return {
    kind,
    pick(eligible) {
      return eligible(only) ? only : undefined;
    },
  };
}
