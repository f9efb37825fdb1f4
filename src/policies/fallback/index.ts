// Fallback (upstream phase, around the proxy): when the circuit is open or every try failed, the route
// answers a static response instead of a 502/503/504 problem, marked with `X-Portico-Fallback: <reason>`
// so clients and logs can tell it from a real answer. The body is built once at load time.
//
// The reason has one spelling, the one `on:` takes: `circuit-open` / `upstream-failed` in the header and the
// access log's `fallback` field (and `circuit_open` / `upstream_failed` as a metric label value, where every
// Portico label value is snake_case). The fallback hides the failure from the client only: the access log's
// `problem` and portico_upstream_errors_total still name the upstream failure it stood in for.
import { discardBody } from '../../pipeline/body.js';
import { definePolicy, PolicyConfigError, type Policy } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { Problem } from '../../problems/problem.js';
import { FallbackSchema, type FallbackReason } from './schema.js';

/** Problems that mean "the upstream could not answer" (not the client's fault, not a gateway bug). */
const UPSTREAM_FAILED = new Set(['upstream-unavailable', 'upstream-timeout', 'bad-gateway']);

export const fallback = definePolicy({
  name: 'fallback',
  phase: 'upstream',
  summary: 'Static response (status, headers, JSON) when the circuit is open or every try failed.',
  schema: FallbackSchema,
  create(config, ctx): Policy {
    if (config.json !== undefined && config.body !== undefined)
      throw new PolicyConfigError('give json or body, not both', []);
    const body = config.json !== undefined ? JSON.stringify(config.json) : (config.body ?? '');
    const contentType =
      config.content_type ?? (config.json !== undefined ? 'application/json' : 'text/plain; charset=utf-8');
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.headers ?? {})) extra[k.toLowerCase()] = v;
    const onCircuit = config.on.includes('circuit-open');
    const onFailure = config.on.includes('upstream-failed');
    const statuses = new Set(config.statuses);
    // portico_fallback_responses_total{route, reason}; reasons as label values are snake_case.
    const responses = ctx.metrics.counter(
      'responses_total',
      'Fallback responses served, by route and reason (circuit_open, upstream_failed).',
      ['route', 'reason'],
    );
    const served = {
      'circuit-open': responses.series({ route: ctx.routeName, reason: 'circuit_open' }),
      'upstream-failed': responses.series({ route: ctx.routeName, reason: 'upstream_failed' }),
    } satisfies Record<FallbackReason, unknown>;

    /**
     * The fallback response. `problem`: the upstream problem it replaces (the access log's `problem`, and
     * the kind portico_upstream_errors_total counts), or undefined when it replaces an upstream 5xx answer
     * (counted as kind 5xx from the upstream status).
     */
    const respond = (ex: Exchange, reason: FallbackReason, problem: string | undefined): GatewayResponse => {
      served[reason].inc();
      ex.fallback = reason;
      const res: GatewayResponse = {
        status: config.status,
        // Configured headers override the defaults (docs/resilience.md shows `Cache-Control: max-age=5`,
        // which no-store used to overwrite); only the marker is always ours.
        headers: {
          'content-type': contentType,
          'cache-control': 'no-store',
          ...extra,
          'x-portico-fallback': reason,
        },
        body,
        source: 'gateway',
      };
      return problem === undefined ? res : { ...res, problem };
    };

    return {
      async onUpstream(ex: Exchange, next): Promise<GatewayResponse> {
        let res: GatewayResponse;
        try {
          res = await next(ex);
        } catch (err) {
          if (err instanceof Problem) {
            if (err.code === 'circuit-open' && onCircuit) return respond(ex, 'circuit-open', err.code);
            if (UPSTREAM_FAILED.has(err.code) && onFailure && !clientGone(ex))
              return respond(ex, 'upstream-failed', err.code);
          }
          throw err;
        }
        if (onFailure && statuses.has(res.status)) {
          discardBody(res.body);
          return respond(ex, 'upstream-failed', undefined);
        }
        return res;
      },
    };
  },
});

function clientGone(ex: Exchange): boolean {
  return ex.res.destroyed && !ex.res.writableFinished;
}
