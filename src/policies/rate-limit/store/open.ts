// Opens the rate-limit store on the backend of `gateway.store`: the embedded memory store, or Redis shared
// by every gateway instance (one atomic Lua script per check).
import type { StoreBackend } from '../../../pipeline/policy.js';
import { createMemoryRateLimitStore } from './memory.js';
import { createRedisRateLimitStore } from './redis.js';
import type { RateLimitStore } from './store.js';

export function openRateLimitStore(backend: StoreBackend): RateLimitStore {
  if (backend.kind === 'memory') return createMemoryRateLimitStore();
  return createRedisRateLimitStore({
    url: backend.url,
    prefix: backend.prefix,
    timeoutMs: backend.timeoutMs,
    cluster: backend.cluster,
  });
}
