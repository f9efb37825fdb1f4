// Edge response cache (cache phase, as a layer around the upstream call): answers GET and HEAD from stored
// responses under HTTP caching semantics for a shared cache (RFC 9111) — freshness, Vary variants, Age,
// conditional requests, revalidation with validators, stale-while-revalidate, stale-if-error — and makes
// concurrent misses for one key wait for a single upstream request. It never stores what a shared cache
// must not (no-store, private, Set-Cookie) nor, unless the route keys entries by consumer (or varies on
// Authorization), anything for an authenticated request.
//
// It sits around the upstream call, inside authentication, rate limits and request transforms: a hit still
// counts against the client's limits, and the response transform runs on cached responses as on fresh ones.
//
// This file is the definition; route-cache.ts handles one route's requests.
import { definePolicy, type CompileContext, type Policy } from '../../pipeline/policy.js';
import { cacheMetrics, observeStore } from './metrics.js';
import { purgeAction } from './purge.js';
import { RouteCache } from './route-cache.js';
import { CacheSchema, CacheSectionSchema, type CacheConfig, type CacheSectionConfig } from './schema.js';
import { openResponseCache } from './store/open.js';

export const cache = definePolicy({
  name: 'cache',
  phase: 'cache',
  summary:
    'Answer GET/HEAD from cached responses (RFC 9111): variants, revalidation, stale serving, coalescing.',
  schema: CacheSchema,
  sections: { cache: CacheSectionSchema },
  adminPaths: [{ path: '/cache/purge', method: 'POST' }],
  checkSections(ctx) {
    const section = ctx.section('cache') as CacheSectionConfig;
    const gateway = ctx.section('gateway') as { readonly store: { readonly url?: string } };
    if (section.store === 'redis' && gateway.store.url === undefined)
      ctx.error(['cache', 'store'], 'store: redis needs gateway.store.url (redis://host:port)');
    return undefined;
  },
  create(config: CacheConfig, ctx: CompileContext): Policy {
    // One store for every caching route (and reload) with the same `cache:` settings and backend.
    const section = ctx.section('cache') as CacheSectionConfig;
    const handle = ctx.store('responses', (backend) => openResponseCache(backend, section), {
      kind: section.store,
      settings: section,
    });
    observeStore(ctx.metrics, handle.store, handle.kind);
    ctx.admin(purgeAction(handle.store));
    const route = new RouteCache(
      ctx.routeName,
      config,
      handle.store,
      cacheMetrics(ctx.metrics, ctx.routeName),
    );
    return {
      onUpstream: (ex, next) => route.handle(ex, next),
    };
  },
});
