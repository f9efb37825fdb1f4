// The `forward_auth:<name>` method: the external auth service decides, and the headers it hands over go
// upstream once authentication succeeded.
import { PolicyConfigError, type CompileContext } from '../../pipeline/policy.js';
import type { Identity } from '../../pipeline/identity.js';
import { Problem } from '../../problems/problem.js';
import { createForwardAuth, type ForwardAuth } from './forward-auth.js';
import { COPY_UPSTREAM, type Method } from './method.js';
import type { AuthSection } from './schema.js';

/** `realm` is quoted already. */
export function forwardAuthMethod(
  ref: string,
  section: AuthSection,
  realm: string,
  ctx: CompileContext,
): Method {
  const name = ref.slice('forward_auth:'.length);
  const fwdConfig = section.forward_auth[name];
  if (fwdConfig === undefined)
    throw new PolicyConfigError(
      `auth method "${ref}" needs auth.forward_auth.${name} in the config (known: ${Object.keys(section.forward_auth).join(', ') || 'none'})`,
      [],
    );
  const service: ForwardAuth = ctx.carryOver(
    `auth:forward:${name}:${JSON.stringify(fwdConfig)}`,
    () => createForwardAuth(name, fwdConfig, { log: ctx.log }),
    (f) => f.close(),
  );
  return {
    ref,
    challenge: `Bearer realm="${realm}"`,
    // The auth service decides what counts as a credential: it is always asked.
    credential: () => '',
    authenticate(ex) {
      return service.check(ex).then((result) => {
        if (!result.allowed)
          throw new Problem({
            code: result.status === 403 ? 'forbidden' : 'unauthenticated',
            status: result.status === 403 ? 403 : 401,
            title: result.status === 403 ? 'Forbidden' : 'Authentication required',
            detail: 'The authentication service refused the request',
            headers: result.headers['www-authenticate']
              ? { 'www-authenticate': result.headers['www-authenticate'] }
              : { 'www-authenticate': `Bearer realm="${realm}"` },
          });
        if (result.copy.length > 0) ex.set(COPY_UPSTREAM, result.copy);
        return {
          id: result.user,
          method: 'forward_auth',
          configName: name,
          tier: undefined,
          roles: [],
          scopes: [],
          metadata: {},
        } satisfies Identity;
      });
    },
  };
}
