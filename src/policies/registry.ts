// Every policy Portico knows, by config key. Adding a policy = adding its folder and one line here; the
// config schema, the docs and the compiler all read this list.
import type { AnyPolicyDefinition } from '../pipeline/policy.js';
import { auth } from './auth/index.js';
import { cache } from './cache/index.js';
import { fallback } from './fallback/index.js';
import { headers } from './headers/index.js';
import { identity } from './identity/index.js';
import { mirror } from './mirror/index.js';
import { rateLimit } from './rate-limit/index.js';
import { requestId } from './request-id/index.js';
import { requireAccess } from './require/index.js';
import { split } from './split/index.js';
import { transform } from './transform/index.js';
import { version } from './version/index.js';
import { callbacks, webhook } from './webhook/index.js';

export const policyRegistry: readonly AnyPolicyDefinition[] = [
  requestId,
  version,
  identity,
  webhook,
  callbacks,
  auth,
  requireAccess,
  rateLimit,
  cache,
  headers,
  transform,
  fallback,
  split,
  mirror,
] as readonly AnyPolicyDefinition[];
