// The authentication facade: the route's `auth:` names the methods a client may use (JWT, API key, HTTP
// Basic, forward-auth). A request presenting a credential is judged by the method it belongs to — a bad
// credential is a 401, never a fall-through to anonymous; with none, the route refuses (401) unless it is
// `optional`. On success the identity is on the Exchange (IDENTITY) for authorization, rate limits, logs and
// metrics, and the gateway sets the identity headers upstream services trust. Credentials themselves never
// go upstream: Authorization only with `forward_token`, API keys never.
import {
  definePolicy,
  PolicyConfigError,
  type CompileContext,
  type Policy,
  type PolicyEndpoint,
} from '../../pipeline/policy.js';
import { createStateKey, type Exchange } from '../../pipeline/exchange.js';
import { IDENTITY, identityFault, type Identity, type IdentityField } from '../../pipeline/identity.js';
import { problems } from '../../http/problems.js';
import { Problem } from '../../http/problem.js';
import {
  AuthSectionSchema,
  ConsumersSchema,
  RouteAuthSchema,
  type AuthSection,
  type Consumer,
  type RouteAuth,
  type TokenEndpointConfig,
} from './schema.js';
import {
  consumerIdentity,
  createConsumerDirectory,
  loadConsumers,
  type ConsumerDirectory,
} from './consumers.js';
import { claimOf, createJwtVerifier, identityFromClaims, JwtError, type JwtVerifier } from './jwt/index.js';
import { createPasswordVerifier, type PasswordVerifier } from './passwords.js';
import { createForwardAuth, ForwardAuthUnavailable, type ForwardAuth } from './forward-auth.js';
import { createTokenIssuer, TokenRejected, type PartnerToken, type TokenIssuer } from './token-issuer.js';

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

type Awaitable<T> = T | Promise<T>;

/** Headers of a forward-auth answer to put on the upstream request once authentication succeeded. */
const COPY_UPSTREAM = createStateKey<readonly (readonly [string, string])[]>('auth.forward-copy');

/** One configured way in: finds its credential on the request, and turns it into an identity. */
interface Method {
  readonly ref: string;
  /** The credential this method reads, or undefined when the request carries none for it. */
  credential(ex: Exchange): string | undefined;
  authenticate(ex: Exchange, credential: string): Awaitable<Identity>;
  /** The WWW-Authenticate challenge naming this method. */
  readonly challenge: string;
  /**
   * Why an identity this method produced is refused when one of its values cannot become a header (a
   * JwtError naming the claim, a Problem); without it, "Invalid credentials" with the method's challenge.
   */
  refuse?(identity: Identity, field: IdentityField): unknown;
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
const BASIC = /^Basic +([A-Za-z0-9+/]+=*) *$/i;

function scheme(ex: Exchange, re: RegExp): string | undefined {
  const value = ex.headers.get('authorization');
  if (value === undefined) return undefined;
  return re.exec(value)?.[1];
}

/** error_description values are quoted-strings: keep them plain. */
const quote = (v: string) => v.replace(/["\\\r\n]/g, '');

export const auth = definePolicy({
  name: 'auth',
  phase: 'authenticate',
  summary: 'Authenticates the client (JWT, API key, Basic, forward-auth) and sets the identity headers.',
  schema: RouteAuthSchema,
  sections: { auth: AuthSectionSchema, consumers: ConsumersSchema },
  // `consumers` as every route and the token endpoint see it: the usable consumers of `consumers:` and of
  // `auth.consumers_file`, checked once with the config (each problem reported once, where it is written).
  checkSections: (ctx) => ({ consumers: loadConsumers(ctx) }),
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

/** The consumers of `consumers:` and `auth.consumers_file` (joined and checked by `checkSections`). */
function consumerDirectory(ctx: CompileContext): ConsumerDirectory {
  const consumers = (ctx.section('consumers') ?? []) as Consumer[];
  try {
    return createConsumerDirectory(consumers);
  } catch (err) {
    if (err instanceof PolicyConfigError) throw new PolicyConfigError(`consumers: ${err.message}`, err.path);
    throw err;
  }
}

function buildMethod(
  ref: string,
  section: AuthSection,
  directory: ConsumerDirectory,
  ctx: CompileContext,
): Method {
  const realm = quote(section.basic.realm);
  if (ref === 'jwt' || ref.startsWith('jwt:')) {
    const name = ref === 'jwt' ? 'default' : ref.slice(4);
    const jwtConfig = section.jwt[name];
    if (jwtConfig === undefined)
      throw new PolicyConfigError(
        `auth method "${ref}" needs auth.jwt.${name} in the config (known: ${Object.keys(section.jwt).join(', ') || 'none'})`,
        [],
      );
    let verifier: JwtVerifier;
    try {
      verifier = ctx.carryOver(
        `auth:jwt:${name}:${JSON.stringify(jwtConfig)}:${ctx.baseDir}`,
        () => createJwtVerifier(name, jwtConfig, { baseDir: ctx.baseDir, log: ctx.log }),
        (v) => v.close(),
      );
    } catch (err) {
      if (err instanceof PolicyConfigError)
        throw new PolicyConfigError(`auth.jwt.${name}: ${err.message}`, err.path);
      throw err;
    }
    const toIdentity = (claims: Readonly<Record<string, unknown>>): Identity =>
      identityFromClaims(name, jwtConfig, claims);
    return {
      ref,
      challenge: `Bearer realm="${realm}"`,
      credential: (ex) => scheme(ex, BEARER),
      authenticate(_ex, token) {
        const verified = verifier.verify(token);
        if (verified instanceof Promise) return verified.then((v) => toIdentity(v.claims));
        return toIdentity(verified.claims);
      },
      refuse: (identity, field) =>
        new JwtError('invalid', `invalid claim ${claimOf(jwtConfig, identity, field)}`),
    };
  }
  if (ref === 'api_key') {
    const header = section.api_key.header.toLowerCase();
    const query = section.api_key.query;
    const identities = new Map<string, Identity>();
    return {
      ref,
      challenge: `ApiKey realm="${realm}", header="${section.api_key.header}"`,
      credential(ex) {
        const h = ex.headers.get(header);
        if (h !== undefined) return h;
        return query !== undefined && ex.query !== '' ? queryParam(ex.query, query) : undefined;
      },
      authenticate(_ex, key) {
        const consumer = directory.byApiKey(key);
        if (consumer === undefined) throw problems.unauthenticated('Invalid API key', this.challenge);
        let identity = identities.get(consumer.id);
        if (identity === undefined)
          identities.set(consumer.id, (identity = consumerIdentity(consumer, 'api_key', 'api_key')));
        return identity;
      },
    };
  }
  if (ref === 'basic') {
    const passwords: PasswordVerifier = ctx.carryOver('auth:passwords', () =>
      createPasswordVerifier({ cacheSize: 10_000, ttlMs: 60_000 }),
    );
    const challenge = `Basic realm="${realm}", charset="UTF-8"`;
    const refuse = () => problems.unauthenticated('Invalid user name or password', challenge);
    return {
      ref,
      challenge,
      credential: (ex) => scheme(ex, BASIC),
      authenticate(_ex, encoded) {
        const decoded = Buffer.from(encoded, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon <= 0) throw refuse();
        const consumer = directory.byId(decoded.slice(0, colon));
        const hash = consumer?.password_hash;
        if (consumer === undefined || hash === undefined) throw refuse();
        return passwords.verify(decoded.slice(colon + 1), hash).then((ok) => {
          if (!ok) throw refuse();
          return consumerIdentity(consumer, 'basic', 'basic');
        });
      },
    };
  }
  if (ref === 'partner_token') {
    const te = section.token_endpoint;
    if (te === undefined)
      throw new PolicyConfigError('auth method "partner_token" needs auth.token_endpoint in the config', []);
    const issuer = tokenIssuer(ctx);
    const route = ctx.routeName;
    const challenge = `Bearer realm="${realm}"`;
    const invalid = (description: string) =>
      problems.unauthenticated(
        `Invalid token: ${description}`,
        `${challenge}, error="invalid_token", error_description="${quote(description)}"`,
      );
    const check = (token: PartnerToken): Identity => {
      // The gateway accepts its own tokens only on the routes they were issued for.
      if (!token.routes.includes(route))
        throw new Problem({
          code: 'forbidden',
          status: 403,
          title: 'Forbidden',
          detail: 'This token is not valid for this route',
          headers: { 'www-authenticate': `${challenge}, error="insufficient_scope"` },
        });
      return token.identity;
    };
    return {
      ref,
      challenge,
      // A bearer token is this method's when the gateway issued it (its unverified `iss` is ours); other
      // bearer tokens are left to the route's jwt methods.
      credential(ex) {
        const token = scheme(ex, BEARER);
        return token !== undefined && unverifiedIssuer(token) === te.issuer ? token : undefined;
      },
      authenticate(_ex, token) {
        try {
          const verified = issuer.verify(token);
          if (verified instanceof Promise)
            return verified.then(check, (err: unknown) => {
              throw err instanceof TokenRejected ? invalid(err.description) : err;
            });
          return check(verified);
        } catch (err) {
          throw err instanceof TokenRejected ? invalid(err.description) : err;
        }
      },
      refuse: () => invalid('token identity is not accepted'),
    };
  }
  // forward_auth:<name>
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

/** The value of the first `name` parameter in a raw query, undefined when absent. */
function queryParam(query: string, name: string): string | undefined {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    if (safeDecode(key) === name) return eq === -1 ? '' : safeDecode(part.slice(eq + 1));
  }
  return undefined;
}

/** The raw query without any `name` parameter (the API key must not travel upstream). */
function removeQueryParam(query: string, name: string): string {
  return query
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=');
      return safeDecode(eq === -1 ? part : part.slice(0, eq)) !== name;
    })
    .join('&');
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v.replace(/\+/g, ' '));
  } catch {
    return v;
  }
}

/** The `iss` claim of a JWT, read without verifying (only to pick the method that will verify it). */
function unverifiedIssuer(token: string): string | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first < 0 || second < 0 || second - first > 8192) return undefined;
  try {
    const payload = JSON.parse(
      Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'),
    ) as unknown;
    const iss = (payload as { iss?: unknown } | null)?.iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** Keys are checked synchronously at load (the issuer itself imports them asynchronously). */
function checkSigningKeys(te: TokenEndpointConfig, baseDir: string): void {
  te.keys.forEach((k, i) => {
    const at = ['token_endpoint', 'keys', i];
    if ((k.private_key === undefined) === (k.private_key_file === undefined))
      throw new PolicyConfigError('give exactly one of private_key or private_key_file', at);
    let pem = k.private_key;
    if (k.private_key_file !== undefined) {
      try {
        pem = readFileSync(resolve(baseDir, k.private_key_file), 'utf8');
      } catch (err) {
        throw new PolicyConfigError(
          `cannot read ${k.private_key_file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
          [...at, 'private_key_file'],
        );
      }
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(pem!);
    } catch {
      throw new PolicyConfigError('not a PEM private key', at);
    }
    const ok =
      k.alg === 'EdDSA'
        ? key.asymmetricKeyType === 'ed25519'
        : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    if (!ok)
      throw new PolicyConfigError(
        `${k.alg} needs ${k.alg === 'EdDSA' ? 'an Ed25519' : 'a P-256 EC'} key, this is ${key.asymmetricKeyType ?? 'unknown'}`,
        [...at, 'alg'],
      );
  });
}

/**
 * The token issuer for this config, shared by the token endpoint, the JWKS endpoint and every route that
 * accepts partner tokens (one per distinct token_endpoint + consumers). Its keys are checked at load; the
 * issuer is ready within a tick, and requests arriving before wait for it.
 */
function tokenIssuer(ctx: CompileContext): TokenIssuer {
  const section = ctx.section('auth') as AuthSection;
  const te = section.token_endpoint!;
  // Those of the consumers file included: a changed file gets an issuer that knows the new set.
  const consumers = (ctx.section('consumers') ?? []) as Consumer[];
  return ctx.carryOver(
    `auth:token-issuer:${JSON.stringify(te)}:${JSON.stringify(consumers)}:${ctx.baseDir}`,
    () => {
      checkSigningKeys(te, ctx.baseDir);
      const directory = consumerDirectory(ctx);
      const ready = createTokenIssuer(te, directory, { baseDir: ctx.baseDir });
      let issuer: TokenIssuer | undefined;
      ready.then(
        (i) => (issuer = i),
        (err: unknown) =>
          ctx.log.error({ event: 'token_issuer_failed', err }, 'the partner token issuer could not start'),
      );
      const unavailable = () => problems.authUnavailable('The token issuer is not ready');
      return {
        handleToken: (ex) =>
          issuer
            ? issuer.handleToken(ex)
            : ready.then(
                (i) => i.handleToken(ex),
                () => Promise.reject(unavailable()),
              ),
        handleJwks(ex) {
          if (issuer) return issuer.handleJwks(ex);
          throw unavailable();
        },
        verify: (token) =>
          issuer
            ? issuer.verify(token)
            : ready.then(
                (i) => i.verify(token),
                () => Promise.reject(unavailable()),
              ),
      } satisfies TokenIssuer;
    },
  );
}
