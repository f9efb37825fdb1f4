// The warning for a body the transform could not read and let through unchanged (`on_invalid_body: pass`):
// event `transform_body_passed`, throttled per route and side, since it can happen on every request.
import type { Exchange } from '../../pipeline/exchange.js';
import type { CompileContext } from '../../pipeline/policy.js';

/** Between two warnings about bodies passed through unchanged, per route and side. */
const WARN_INTERVAL_MS = 10_000;

/** Reports one body passed through unchanged, and why. */
export type Warn = (ex: Exchange, reason: string) => void;

/**
 * Logs bodies passed through unchanged: at most one line per interval per route and side, with `suppressed`
 * (the lines dropped since the last one). Call once per route and side: each call has its own interval.
 */
export function warner(ctx: CompileContext, side: 'request' | 'response'): Warn {
  const log = ctx.throttledLog(WARN_INTERVAL_MS);
  return (ex, reason) => {
    log.warn(
      {
        event: 'transform_body_passed',
        route: ctx.routeName,
        side,
        reason,
        trace_id: ex.traceId,
      },
      `transform: ${side} body passed through unchanged (${reason})`,
    );
  };
}
