// The brief's short forms of a route's authentication: `auth_required` and `forward_token` are route keys
// of their own, which the auth policy declares and folds into the route's `auth:` before it compiles.
import { Type } from '@sinclair/typebox';
import type { RouteNormalizeContext, RouteView } from '../../pipeline/policy.js';

/** The route keys the auth policy reads besides `auth:` (they join the route schema, never `defaults:`). */
export const authRouteKeys = {
  auth_required: Type.Optional(
    Type.Boolean({
      description:
        'Seed form: true = `auth:` with every configured method (jwt `default`, api_key when consumers have keys).',
    }),
  ),
  forward_token: Type.Optional(
    Type.Boolean({ description: "Send the client's Authorization header upstream (removed by default)." }),
  ),
};

/** The parts of the `auth` and `consumers` sections the short forms look at. */
interface AuthView {
  readonly jwt?: Readonly<Record<string, unknown>>;
}
interface ConsumerView {
  readonly api_keys?: readonly unknown[];
  readonly password_hash?: string;
}

/**
 * The brief's `auth_required: true` becomes `auth:` with every configured method (the `default` JWT config,
 * API keys and Basic when consumers have them); a route-level `forward_token: true` joins the auth object.
 * Returns the route itself when there is nothing to fold; mistakes are reported at the route's keys.
 */
export function normalizeAuthRoute(route: RouteView, ctx: RouteNormalizeContext): RouteView {
  let authValue = route['auth'];
  if (route['auth_required'] === true && authValue === undefined) {
    // The consumers as the auth policy sees them: `consumers:` and those of the consumers file.
    const auth = ctx.section('auth') as AuthView | undefined;
    const consumers = (ctx.section('consumers') ?? []) as readonly ConsumerView[];
    const methods = [
      ...(auth?.jwt?.['default'] !== undefined ? ['jwt'] : []),
      ...(consumers.some((c) => (c.api_keys?.length ?? 0) > 0) ? ['api_key'] : []),
      ...(consumers.some((c) => c.password_hash !== undefined) ? ['basic'] : []),
    ];
    if (methods.length === 0) {
      ctx.error(
        ['auth_required'],
        'auth_required needs a way to authenticate: auth.jwt.default, or consumers with api_keys or password_hash',
      );
      return route;
    }
    authValue = methods.length === 1 ? methods[0] : methods;
  } else if (route['auth_required'] === false && authValue !== undefined && authValue !== false) {
    ctx.error(['auth_required'], "auth_required: false contradicts the route's auth:");
  }
  if (route['forward_token'] === true) {
    if (authValue === undefined || authValue === false) {
      ctx.error(['forward_token'], 'forward_token needs auth: on the route');
      return route;
    }
    const methods =
      typeof authValue === 'string' ? [authValue] : Array.isArray(authValue) ? authValue : undefined;
    authValue = methods
      ? { methods, optional: false, forward_token: true }
      : { ...(authValue as object), forward_token: true };
  }
  return authValue === route['auth'] ? route : { ...route, auth: authValue };
}
