// Authorization: the route's `require:` lists roles and/or scopes. Authenticated but not allowed → 403;
// not authenticated at all (an `optional` auth route, or no auth) → 401.
import { Type } from '@sinclair/typebox';
import { definePolicy, PolicyConfigError } from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { IDENTITY } from '../../pipeline/identity.js';
import { problems } from '../../problems/catalog.js';

export const schema = Type.Object(
  {
    roles: Type.Array(Type.String({ minLength: 1 }), { default: [], uniqueItems: true }),
    scopes: Type.Array(Type.String({ minLength: 1 }), { default: [], uniqueItems: true }),
    any: Type.Boolean({
      default: false,
      description: 'true: one listed role or scope is enough; false: every one is needed.',
    }),
  },
  { additionalProperties: false },
);

export const requireAccess = definePolicy({
  name: 'require',
  phase: 'authorize',
  summary: 'Roles and scopes a route needs (403 when the identity lacks them).',
  schema,
  create(config) {
    const roles = config.roles;
    const scopes = config.scopes;
    if (roles.length === 0 && scopes.length === 0)
      throw new PolicyConfigError('require needs roles or scopes', []);
    const any = config.any;
    const wanted = [...roles.map((r) => `role ${r}`), ...scopes.map((s) => `scope ${s}`)];
    const detail = any
      ? `This route needs one of: ${wanted.join(', ')}`
      : `This route needs: ${wanted.join(', ')}`;
    return {
      onRequest(ex: Exchange): void {
        const identity = ex.get(IDENTITY);
        if (identity === undefined)
          throw problems.unauthenticated('This route needs credentials', 'Bearer realm="portico"');
        let held = 0;
        for (const r of roles) if (identity.roles.includes(r)) held++;
        for (const s of scopes) if (identity.scopes.includes(s)) held++;
        const ok = any ? held > 0 : held === roles.length + scopes.length;
        if (!ok) throw problems.forbidden(detail);
      },
    };
  },
});
