// Work that can run in one piece or in slices: written once as a generator that yields where it may pause
// (when `due()` says the current slice has used its time), run to the end at once by `runSteps`, or slice by
// slice with the event loop running in between by `runInSlices` (a reload of a large config: requests in
// flight wait for one slice at most, not for the whole compile).
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Whether the current slice has used its time; steps yield when it says so. */
export type Due = () => boolean;

/** Steps that yield where they may pause, and return T. */
export type Steps<T> = Generator<void, T, void>;

/** Never due: the steps run in one piece. */
export const NEVER_DUE: Due = () => false;

/** Runs `steps` to the end now. */
export function runSteps<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (r.done !== true) r = steps.next();
  return r.value;
}

/** How the slices of a `runInSlices` went. */
export interface SliceStats {
  readonly slices: number;
  /** The longest slice, ms: how long the event loop waited at most. */
  readonly longestMs: number;
  /** The time spent in the slices, ms (the rest of the wall time went to everything else). */
  readonly busyMs: number;
}

/**
 * Runs `start(due)` in slices of about `sliceMs`, letting the event loop run (I/O, timers) between them.
 * `now` is a monotonic clock in ms (injectable for tests).
 */
export async function runInSlices<T>(
  start: (due: Due) => Steps<T>,
  sliceMs: number,
  now: () => number = () => performance.now(),
): Promise<{ readonly value: T; readonly stats: SliceStats }> {
  let sliceStart = now();
  let slices = 1;
  let longestMs = 0;
  let busyMs = 0;
  const due: Due = () => now() - sliceStart >= sliceMs;
  const steps = start(due);
  for (;;) {
    const r = steps.next();
    const spent = now() - sliceStart;
    busyMs += spent;
    if (spent > longestMs) longestMs = spent;
    if (r.done === true) return { value: r.value, stats: { slices, longestMs, busyMs } };
    await nextTurn();
    slices++;
    sliceStart = now();
  }
}

/**
 * Sorts `items` by `compare` (a total order, so the result is the one `Array.prototype.sort` gives), yielding
 * between runs when due: a bottom-up merge sort. When nothing is ever due, the built-in sort does it.
 */
export function* sortSteps<T>(items: T[], compare: (a: T, b: T) => number, due: Due): Steps<T[]> {
  if (due === NEVER_DUE || items.length < 2) return items.sort(compare);
  let from = items.slice();
  let to = new Array<T>(items.length);
  for (let width = 1; width < from.length; width *= 2) {
    for (let lo = 0; lo < from.length; lo += 2 * width) {
      const mid = Math.min(lo + width, from.length);
      const hi = Math.min(lo + 2 * width, from.length);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        to[k] = i < mid && (j >= hi || compare(from[i]!, from[j]!) <= 0) ? from[i++]! : from[j++]!;
        if ((k & 511) === 511 && due()) yield;
      }
    }
    [from, to] = [to, from];
  }
  for (let k = 0; k < from.length; k++) items[k] = from[k]!;
  return items;
}
