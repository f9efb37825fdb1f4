// Opens the response cache on its backend: an LRU in this process bounded by `cache.max_bytes`, or Redis
// (gateway.store.url) shared by every instance, with the `cache:` section's prefix and timeout.
import type { StoreBackend } from '../../../pipeline/policy.js';
import type { CacheSectionConfig } from '../schema.js';
import { createMemoryResponseCache } from './memory.js';
import { createRedisResponseCache } from './redis.js';
import type { ResponseCacheStore } from './store.js';

export function openResponseCache(backend: StoreBackend, section: CacheSectionConfig): ResponseCacheStore {
  if (backend.kind === 'memory') return createMemoryResponseCache({ maxBytes: section.max_bytes });
  const log = backend.log;
  return createRedisResponseCache({
    url: backend.url,
    prefix: section.prefix,
    timeoutMs: section.timeout_ms,
    cluster: backend.cluster,
    log: {
      warn: (fields: Readonly<Record<string, unknown>>, event: string) =>
        log.warn({ event, ...fields }, 'the response cache store is failing'),
    },
  });
}
