// How long to wait before a retry: exponential backoff with full jitter, so clients that failed together do
// not retry together (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).

// 2 ** 64 is far past any sane cap; clamping keeps baseMs * 2 ** retry finite (0 * Infinity would be NaN).
const MAX_EXPONENT = 64;

/**
 * Milliseconds to wait before retry number `retry` (0 for the first retry): uniform in
 * [0, min(maxMs, baseMs * 2 ** retry)). Fractional; `random` must return [0, 1) like Math.random.
 */
export function backoffMs(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(retry) || retry < 0) throw new RangeError('backoff: retry must be an integer >= 0');
  if (!(baseMs >= 0) || !(maxMs >= 0)) throw new RangeError('backoff: baseMs and maxMs must be numbers >= 0');
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(retry, MAX_EXPONENT));
  return random() * ceiling;
}
