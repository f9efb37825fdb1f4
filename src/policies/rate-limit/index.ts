// Rate limiting (limit phase, after authentication so budgets can follow the consumer and its tier). Each
// request takes one unit from every limit of its route under its key, all or nothing; a refused request is a
// 429 problem with Retry-After. Limited routes answer with the RateLimit-Policy / RateLimit header fields.
// Counts live in the gateway's store (memory, or Redis shared by every instance); when the store cannot
// answer in time the route's `on_store_error` decides.
import { definePolicy, PolicyConfigError, type CompileContext, type Policy } from '../../pipeline/policy.js';
import { createStateKey, type Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import { IDENTITY } from '../../pipeline/identity.js';
import { Problem } from '../../problems/problem.js';
import type { LimitResult, LimitSpec, QuotaLimit, RateLimitStore } from './store/store.js';
import { openRateLimitStore } from './store/open.js';
import { rateLimitMetrics } from './metrics.js';
import {
  RateLimitSchema,
  TiersSchema,
  type LimitConfig,
  type RateLimitConfig,
  type TiersConfig,
} from './schema.js';

type Awaitable<T> = T | Promise<T>;

/** A limit ready for the store, with its name (for the RateLimit fields) and window (seconds). */
interface CompiledLimit {
  readonly spec: LimitSpec;
  readonly name: string;
  readonly windowS: number;
  /** `"name";q=…;w=…` for RateLimit-Policy (rate limits; quotas have their own header fields). */
  readonly policyItem: string;
  /** A calendar quota: counted per subject across routes, reported in the Quota-* fields. */
  readonly quota: boolean;
  /** The store key's head: `<route>|<name>|` for rate limits, `quota|<name>|` for quotas. */
  readonly keyHead: string;
}

interface Budget {
  readonly limits: readonly CompiledLimit[];
  readonly specs: readonly LimitSpec[];
  /** RateLimit-Policy; '' when the budget has only quotas. */
  readonly policyHeader: string;
  readonly hasQuota: boolean;
}

/** What the limit step decided, for the response headers. */
const DECISION = createStateKey<{ budget: Budget; results: readonly LimitResult[] }>('rate_limit.decision');

/** Turns one configured limit (any form) into a store spec. */
function compileLimit(
  l: LimitConfig,
  index: number,
  path: readonly (string | number)[],
  route = '',
): CompiledLimit {
  const bucket = l.capacity !== undefined || l.refill !== undefined;
  const perMinute = l.requests_per_minute !== undefined || l.burst !== undefined;
  const window = l.limit !== undefined || l.window_s !== undefined;
  const quota = l.quota !== undefined || l.per !== undefined;
  const forms = [bucket, perMinute, window, quota].filter(Boolean).length;
  if (forms !== 1)
    throw new PolicyConfigError(
      forms === 0
        ? 'a limit needs capacity + refill, requests_per_minute (+ burst), limit + window_s, or quota + per'
        : 'give one form per limit: capacity + refill, requests_per_minute + burst, limit + window_s, or quota + per',
      [...path],
    );
  if (quota) {
    if (l.quota === undefined || l.per === undefined)
      throw new PolicyConfigError('a quota needs both quota (requests) and per (day or month)', [...path]);
    const name = l.name ?? (l.per === 'day' ? 'daily' : 'monthly');
    return {
      spec: { kind: 'quota', limit: l.quota, period: l.per },
      name,
      windowS: l.per === 'day' ? 86_400 : 2_592_000,
      policyItem: '',
      quota: true,
      keyHead: 'quota|' + name + '|',
    };
  }
  let spec: LimitSpec;
  let windowS: number;
  if (bucket) {
    if (l.capacity === undefined || l.refill === undefined)
      throw new PolicyConfigError('a token bucket needs both capacity and refill (tokens per second)', [
        ...path,
      ]);
    spec = { kind: 'bucket', capacity: l.capacity, refillPerSecond: l.refill };
    windowS = Math.max(1, Math.ceil(l.capacity / l.refill));
  } else if (perMinute) {
    if (l.requests_per_minute === undefined)
      throw new PolicyConfigError('burst needs requests_per_minute', [...path]);
    const capacity = l.burst ?? Math.max(1, Math.round(l.requests_per_minute));
    spec = { kind: 'bucket', capacity, refillPerSecond: l.requests_per_minute / 60 };
    windowS = Math.max(1, Math.ceil((capacity * 60) / l.requests_per_minute));
  } else {
    if (l.limit === undefined || l.window_s === undefined)
      throw new PolicyConfigError('a sliding window needs both limit and window_s', [...path]);
    spec = { kind: 'window', limit: l.limit, windowMs: Math.round(l.window_s * 1000) };
    windowS = Math.max(1, Math.ceil(l.window_s));
  }
  const name = l.name ?? (index === 0 ? 'default' : `l${index}`);
  const q = spec.kind === 'bucket' ? spec.capacity : spec.limit;
  return {
    spec,
    name,
    windowS,
    policyItem: `"${name}";q=${q};w=${windowS}`,
    quota: false,
    keyHead: route + '|' + name + '|',
  };
}

function compileBudget(
  limits: readonly LimitConfig[],
  path: readonly (string | number)[],
  route: string,
): Budget {
  const compiled = limits.map((l, i) => compileLimit(l, i, limits.length === 1 ? path : [...path, i], route));
  const names = new Set(compiled.map((c) => c.name));
  if (names.size !== compiled.length) throw new PolicyConfigError('limit names must differ', [...path]);
  return {
    limits: compiled,
    specs: compiled.map((c) => c.spec),
    policyHeader: compiled
      .filter((c) => !c.quota)
      .map((c) => c.policyItem)
      .join(', '),
    hasQuota: compiled.some((c) => c.quota),
  };
}

/** The route's own limits: the single-limit keys, or `limits:`. */
function routeLimits(config: RateLimitConfig): LimitConfig[] | undefined {
  const { limits, key: _k, tiered: _t, headers: _h, on_store_error: _o, ...single } = config;
  const hasSingle = Object.values(single).some((v) => v !== undefined);
  if (limits !== undefined && hasSingle)
    throw new PolicyConfigError('give either one limit inline or a `limits:` list, not both', []);
  if (limits !== undefined) return limits;
  return hasSingle ? [single] : undefined;
}

type KeyPart = (ex: Exchange) => string;

function keyPart(key: string): KeyPart {
  switch (key) {
    case 'ip':
      return (ex) => ex.clientIp;
    case 'route':
      return (ex) => ex.routeName;
    case 'global':
      return () => '*';
    case 'consumer':
      // Anonymous requests share a budget per client address instead of one global anonymous bucket.
      return (ex) => (ex.consumerId !== '' ? 'c:' + ex.consumerId : 'ip:' + ex.clientIp);
    default: {
      const name = key.slice('header:'.length).toLowerCase();
      return (ex) => ex.headers.get(name) ?? '';
    }
  }
}

export const rateLimit = definePolicy({
  name: 'rate_limit',
  phase: 'limit',
  summary:
    'Token bucket or sliding window per consumer, IP, route, header or globally; tiers; 429 with Retry-After.',
  schema: RateLimitSchema,
  sections: { tiers: TiersSchema },
  create(config, ctx: CompileContext): Policy {
    const own = routeLimits(config);
    const tiers = (ctx.section('tiers') ?? {}) as TiersConfig;
    const tierBudgets = new Map<string, Budget>();
    if (config.tiered) {
      if (Object.keys(tiers).length === 0)
        throw new PolicyConfigError('tiered: true needs a `tiers:` section', ['tiered']);
      for (const [name, t] of Object.entries(tiers))
        tierBudgets.set(name, compileBudget(Array.isArray(t) ? t : [t], ['tiers', name], ctx.routeName));
    } else if (own === undefined) {
      throw new PolicyConfigError(
        'rate_limit needs a limit (capacity + refill, requests_per_minute + burst, limit + window_s) or tiered: true',
        [],
      );
    }
    const routeBudget = own ? compileBudget(own, own.length > 1 ? ['limits'] : [], ctx.routeName) : undefined;
    const anonymous = tierBudgets.get('anonymous') ?? routeBudget;
    const keys = (Array.isArray(config.key) ? config.key : [config.key]).map(keyPart);
    const single = keys.length === 1 ? keys[0]! : undefined;
    const route = ctx.routeName;
    // One store for every route (and reload) with the same gateway.store settings, and for every worker
    // process (`shared`): counts stay exact across workers (docs/workers.md).
    const storeRef = ctx.store('counts', openRateLimitStore, { shared: true });
    const store: RateLimitStore = storeRef.store;
    const metrics = rateLimitMetrics(ctx.metrics, route, storeRef.kind);
    const denyOnError = config.on_store_error === 'deny';
    const sendHeaders = config.headers;
    const storeWarnings = ctx.throttledLog(10_000);

    const budgetFor = (ex: Exchange): { budget: Budget; tier: string } | undefined => {
      if (!config.tiered) return routeBudget ? { budget: routeBudget, tier: '' } : undefined;
      const tier = ex.get(IDENTITY)?.tier;
      if (tier === undefined) return anonymous ? { budget: anonymous, tier: 'anonymous' } : undefined;
      const b = tierBudgets.get(tier);
      // A consumer whose tier has no budget gets the route's own limits (or none).
      if (b) return { budget: b, tier };
      return routeBudget ? { budget: routeBudget, tier } : undefined;
    };

    const decide = (ex: Exchange, budget: Budget, tier: string, results: readonly LimitResult[]): void => {
      let refused: LimitResult | undefined;
      for (const r of results)
        if (!r.allowed && (refused === undefined || r.retryAfterMs > refused.retryAfterMs)) refused = r;
      if (refused !== undefined) {
        metrics.limited(tier);
        const retryS = Math.max(1, Math.ceil(refused.retryAfterMs / 1000));
        const headers: Record<string, string> = { 'retry-after': String(retryS) };
        if (sendHeaders) setLimitHeaders(headers, budget, results);
        const at = results.indexOf(refused);
        const limit = budget.limits[at]!;
        if (limit.quota) {
          const resetAt = resetInstant(refused.resetMs);
          const period = (limit.spec as QuotaLimit).period;
          throw new Problem({
            code: 'quota-exceeded',
            status: 429,
            title: 'Quota exhausted',
            detail: `The ${period === 'day' ? 'daily' : 'monthly'} quota "${limit.name}" of ${refused.limit} requests is used up; it resets at ${resetAt}`,
            headers,
            extensions: { quota: limit.name, quota_limit: refused.limit, reset_at: resetAt },
          });
        }
        throw new Problem({
          code: 'rate-limited',
          status: 429,
          title: 'Too many requests',
          detail: `Rate limit exceeded; retry in ${retryS} s`,
          headers,
        });
      }
      metrics.allowed(tier);
      if (sendHeaders) ex.set(DECISION, { budget, results });
    };

    const storeFailed = (err: unknown): void => {
      metrics.storeError();
      storeWarnings.warn(
        {
          event: 'rate_limit_store_error',
          route,
          store: storeRef.kind,
          error: err instanceof Error ? err.message : String(err),
          decision: denyOnError ? 'deny' : 'allow',
        },
        'the rate-limit store did not answer; applying on_store_error',
      );
      if (denyOnError)
        throw new Problem({
          code: 'rate-limit-unavailable',
          status: 503,
          title: 'Rate limiting unavailable',
          detail: 'The rate-limit store cannot be reached; try again shortly',
          headers: { 'retry-after': '1' },
          cause: err,
        });
    };

    return {
      onRequest(ex: Exchange): Awaitable<void> {
        const chosen = budgetFor(ex);
        if (chosen === undefined) return;
        const budget = chosen.budget;
        const subject = single ? single(ex) : keys.map((k) => k(ex)).join('|');
        const tier = chosen.tier;
        // Rate limits count per route (and tier); a quota counts the subject on every route naming it, and
        // keeps counting when the consumer changes tier.
        const id = tier !== '' ? tier + '|' + subject : subject;
        const n = budget.specs.length;
        const storeKeys: string[] = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const l = budget.limits[i]!;
          storeKeys[i] = l.keyHead + (l.quota ? subject : id);
        }
        let results: readonly LimitResult[] | Promise<readonly LimitResult[]>;
        try {
          results = store.check(storeKeys, budget.specs, 1, subject);
        } catch (err) {
          return storeFailed(err);
        }
        if (results instanceof Promise) {
          const started = metrics.enabled ? performance.now() : 0;
          return results.then(
            (r) => {
              if (metrics.enabled) metrics.storeLatency((performance.now() - started) / 1000);
              decide(ex, budget, tier, r);
            },
            (err: unknown) => {
              if (err instanceof Problem) throw err;
              storeFailed(err);
            },
          );
        }
        decide(ex, budget, tier, results);
      },
      onResponse: sendHeaders
        ? (ex: Exchange, res: GatewayResponse): void => {
            const d = ex.get(DECISION);
            if (d === undefined) return;
            setLimitHeaders(res.headers, d.budget, d.results);
          }
        : undefined,
    };
  },
});

/**
 * The limit header fields: RateLimit-Policy and RateLimit for the rate limits, Quota-Limit / Quota-Remaining
 * / Quota-Reset for the quotas.
 */
function setLimitHeaders(
  headers: Record<string, string | string[]>,
  budget: Budget,
  results: readonly LimitResult[],
): void {
  if (budget.policyHeader !== '') {
    headers['ratelimit-policy'] = budget.policyHeader;
    headers['ratelimit'] = rateLimitField(budget, results);
  }
  if (budget.hasQuota) {
    // The tightest quota: the fewest requests left.
    let at = -1;
    for (let i = 0; i < results.length; i++)
      if (budget.limits[i]!.quota && (at < 0 || results[i]!.remaining < results[at]!.remaining)) at = i;
    const r = results[at]!;
    headers['x-quota-limit'] = String(r.limit);
    headers['x-quota-remaining'] = String(r.remaining);
    headers['x-quota-reset'] = resetInstant(r.resetMs);
  }
}

/** `RateLimit: "name";r=<remaining>;t=<seconds to reset>` for the tightest rate limit (the fewest remaining). */
function rateLimitField(budget: Budget, results: readonly LimitResult[]): string {
  let at = -1;
  for (let i = 0; i < results.length; i++)
    if (!budget.limits[i]!.quota && (at < 0 || results[i]!.remaining < results[at]!.remaining)) at = i;
  const r = results[at]!;
  return `"${budget.limits[at]!.name}";r=${r.remaining};t=${Math.ceil(r.resetMs / 1000)}`;
}

/**
 * When a quota period ends, as an RFC 3339 UTC timestamp: now + the store's wait, rounded to the second —
 * periods end on whole seconds, so a few milliseconds between this clock and the store's do not show.
 */
function resetInstant(waitMs: number): string {
  const at = Math.round((Date.now() + waitMs) / 1000) * 1000;
  return new Date(at).toISOString().replace('.000Z', 'Z');
}
