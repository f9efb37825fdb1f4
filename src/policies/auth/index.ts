// The authentication facade: the route's `auth:` names the methods a client may use (JWT, API key, HTTP
// Basic, forward-auth). A request presenting a credential is judged by the method it belongs to — a bad
// credential is a 401, never a fall-through to anonymous; with none, the route refuses (401) unless it is
// `optional`. On success the identity is on the Exchange (IDENTITY) for authorization, rate limits, logs and
// metrics, and the gateway sets the identity headers upstream services trust. Credentials themselves never
// go upstream: Authorization only with `forward_token`, API keys never.
// Each method is built by build-method.ts; the route's short forms are route-forms.ts.
import {
  definePolicy,
  type CompileContext,
  type Policy,
  type PolicyEndpoint,
} from '../../pipeline/policy.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { IDENTITY, identityFault, type Identity } from '../../pipeline/identity.js';
import { problems } from '../../problems/catalog.js';
import { Problem } from '../../problems/problem.js';
import { removeQueryParam } from '../../lib/query.js';
import {
  AuthSectionSchema,
  ConsumersSchema,
  RouteAuthSchema,
  type AuthSection,
  type RouteAuth,
} from './schema.js';
import { consumerDirectory, loadConsumers } from './consumers.js';
import { JwtError } from './jwt/index.js';
import { ForwardAuthUnavailable } from './forward-auth.js';
import { buildMethod } from './build-method.js';
import { COPY_UPSTREAM, quote, type Awaitable, type Method } from './method.js';
import { authRouteKeys, normalizeAuthRoute } from './route-forms.js';
import { tokenIssuer } from './shared-token-issuer.js';

export const auth = definePolicy({
  name: 'auth',
  phase: 'authenticate',
  summary: 'Authenticates the client (JWT, API key, Basic, forward-auth) and sets the identity headers.',
  schema: RouteAuthSchema,
  sections: { auth: AuthSectionSchema, consumers: ConsumersSchema },
  // `consumers` as every route and the token endpoint see it: the usable consumers of `consumers:` and of
  // `auth.consumers_file`, checked once with the config (each problem reported once, where it is written).
  checkSections: (ctx) => ({ consumers: loadConsumers(ctx) }),
  // The brief's short forms `auth_required` and `forward_token`, folded into the route's `auth:`.
  routeKeys: authRouteKeys,
  normalizeRoute: normalizeAuthRoute,
  endpoints(ctx: CompileContext): readonly PolicyEndpoint[] {
    const section = ctx.section('auth') as AuthSection | undefined;
    const te = section?.token_endpoint;
    if (te === undefined) return [];
    const issuer = tokenIssuer(ctx);
    return [
      {
        name: 'portico:token',
        path: te.path,
        methods: ['POST'],
        policy: { onRequest: (ex) => issuer.handleToken(ex) },
      },
      {
        name: 'portico:jwks',
        path: te.jwks_path,
        methods: ['GET', 'HEAD'],
        policy: { onRequest: (ex) => issuer.handleJwks(ex) },
      },
    ];
  },
  create(config: RouteAuth, ctx: CompileContext): Policy {
    const section = ctx.section('auth') as AuthSection;
    const refs = typeof config === 'string' ? [config] : Array.isArray(config) ? config : config.methods;
    const optional = typeof config === 'object' && !Array.isArray(config) ? config.optional : false;
    const forwardToken = typeof config === 'object' && !Array.isArray(config) ? config.forward_token : false;
    const directory = consumerDirectory(ctx);
    // forward-auth has no credential of its own to detect: it is asked only when no other method's
    // credential is on the request.
    const ordered = [
      ...refs.filter((r) => r === 'partner_token'),
      ...refs.filter((r) => r !== 'partner_token' && !r.startsWith('forward_auth:')),
      ...refs.filter((r) => r.startsWith('forward_auth:')),
    ];
    const methods = ordered.map((ref) => buildMethod(ref, section, directory, ctx));
    const names = section.identity_headers;
    const keyHeader = section.api_key.header.toLowerCase();
    const keyQuery = section.api_key.query;
    const usesApiKey = refs.includes('api_key');
    const challenges = [...new Set(methods.map((m) => m.challenge))].join(', ');
    const bearerRealm = `Bearer realm="${quote(section.basic.realm)}"`;

    // Credentials never travel upstream (forward_token keeps Authorization for services that need it).
    const strip = (ex: Exchange): void => {
      if (!forwardToken) ex.headers.delete('authorization');
      if (usesApiKey) {
        ex.headers.delete(keyHeader);
        if (keyQuery !== undefined && ex.query !== '') ex.query = removeQueryParam(ex.query, keyQuery);
      }
    };
    const accept = (ex: Exchange, identity: Identity, method: Method): void => {
      // Every identity, whichever method produced it, must be one the upstream can be told as is: a value
      // that is not a string, or holds a control character (CR, LF, NUL, tab, DEL…) or one beyond
      // Latin-1, refuses the credential (401) — never a header injection, never a 5xx from the upstream call.
      const fault = identityFault(identity);
      if (fault !== undefined) fail(method.refuse?.(identity, fault), method);
      strip(ex);
      // Headers forward-auth hands over go on after the client's credentials are gone (one may be an
      // Authorization the service exchanged a session cookie for); repeated names keep every value.
      const copy = ex.get(COPY_UPSTREAM);
      if (copy !== undefined) {
        for (const [k] of copy) ex.headers.delete(k);
        for (const [k, v] of copy) ex.headers.append(k, v);
      }
      ex.set(IDENTITY, identity);
      ex.consumerId = identity.id;
      const h = ex.headers;
      h.set(names.user, identity.id);
      h.set(names.consumer, identity.id);
      if (identity.roles.length > 0) h.set(names.roles, identity.roles.join(','));
      if (identity.scopes.length > 0) h.set(names.scopes, identity.scopes.join(' '));
      if (identity.tier !== undefined) h.set(names.tier, identity.tier);
    };
    const fail = (err: unknown, method: Method): never => {
      if (err instanceof Problem) throw err;
      if (err instanceof JwtError) {
        if (err.kind === 'unavailable')
          throw problems.authUnavailable('The identity provider cannot be reached; try again shortly', err);
        throw problems.unauthenticated(
          `Invalid token: ${err.description}`,
          `${bearerRealm}, error="invalid_token", error_description="${quote(err.description)}"`,
        );
      }
      if (err instanceof ForwardAuthUnavailable)
        throw problems.authUnavailable(
          'The authentication service cannot be reached; try again shortly',
          err,
        );
      throw problems.unauthenticated('Invalid credentials', method.challenge);
    };

    return {
      onRequest(ex: Exchange): Awaitable<void> {
        let chosen: Method | undefined;
        let credential: string | undefined;
        for (const m of methods) {
          const c = m.credential(ex);
          if (c !== undefined) {
            chosen = m;
            credential = c;
            break;
          }
        }
        if (chosen === undefined || credential === undefined) {
          if (optional) {
            strip(ex);
            return;
          }
          throw problems.unauthenticated(
            'This route needs credentials',
            challenges === '' ? bearerRealm : challenges,
          );
        }
        const method = chosen;
        let result: Awaitable<Identity>;
        try {
          result = method.authenticate(ex, credential);
        } catch (err) {
          return fail(err, method);
        }
        if (result instanceof Promise)
          return result.then(
            (identity) => accept(ex, identity, method),
            (err: unknown) => fail(err, method),
          );
        accept(ex, result, method);
      },
    };
  },
});
