// Builds each method a route's `auth:` names from the root `auth:` section: JWT (one named config), API key
// and HTTP Basic (the consumers), and the two with files of their own, partner tokens and forward-auth.
import { PolicyConfigError, type CompileContext } from '../../pipeline/policy.js';
import type { Identity } from '../../pipeline/identity.js';
import { problems } from '../../problems/catalog.js';
import { queryValue } from '../../lib/query.js';
import { consumerIdentity, type ConsumerDirectory } from './consumers.js';
import { forwardAuthMethod } from './forward-auth-method.js';
import { claimOf, createJwtVerifier, identityFromClaims, JwtError, type JwtVerifier } from './jwt/index.js';
import { BASIC, BEARER, quote, scheme, type Method } from './method.js';
import { partnerTokenMethod } from './partner-token-method.js';
import { createPasswordVerifier, type PasswordVerifier } from './passwords.js';
import type { AuthSection } from './schema.js';

/** The method `ref` names (jwt, jwt:<name>, api_key, basic, partner_token, forward_auth:<name>). */
export function buildMethod(
  ref: string,
  section: AuthSection,
  directory: ConsumerDirectory,
  ctx: CompileContext,
): Method {
  const realm = quote(section.basic.realm);
  if (ref === 'jwt' || ref.startsWith('jwt:')) return jwtMethod(ref, section, realm, ctx);
  if (ref === 'api_key') return apiKeyMethod(ref, section, realm, directory);
  if (ref === 'basic') return basicMethod(ref, realm, directory, ctx);
  if (ref === 'partner_token') return partnerTokenMethod(ref, section, realm, ctx);
  // forward_auth:<name>
  return forwardAuthMethod(ref, section, realm, ctx);
}

function jwtMethod(ref: string, section: AuthSection, realm: string, ctx: CompileContext): Method {
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

function apiKeyMethod(
  ref: string,
  section: AuthSection,
  realm: string,
  directory: ConsumerDirectory,
): Method {
  const header = section.api_key.header.toLowerCase();
  const query = section.api_key.query;
  const identities = new Map<string, Identity>();
  return {
    ref,
    challenge: `ApiKey realm="${realm}", header="${section.api_key.header}"`,
    credential(ex) {
      const h = ex.headers.get(header);
      if (h !== undefined) return h;
      return query !== undefined && ex.query !== '' ? queryValue(ex.query, query) : undefined;
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

function basicMethod(ref: string, realm: string, directory: ConsumerDirectory, ctx: CompileContext): Method {
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
