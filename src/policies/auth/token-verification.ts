// Verifying the tokens the gateway issued: jose checks signature, issuer, audience, type and expiry against
// the published keys; a verified token is remembered until it expires, and its consumer is looked up again
// on every use (a consumer removed from the config loses its tokens at once).
import { createHash } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, type JWK } from 'jose';
import type { Identity } from '../../pipeline/identity.js';
import { ExpiringCache } from '../../lib/expiring-cache.js';
import type { Consumer, TokenEndpointConfig } from './schema.js';
import type { SigningAlg } from './token-keys.js';

/** What `verify` hands the auth policy: who the partner is, and the routes the token is valid on. */
export interface PartnerToken {
  readonly identity: Identity;
  readonly routes: readonly string[];
}

/** A token `verify` refused. `description` is safe to send to the client (no token or key contents). */
export class TokenRejected extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'TokenRejected';
  }
}

const MAX_TOKEN_CHARS = 8_192;
/** Clock tolerance of verification, in seconds. */
const CLOCK_SKEW_S = 30;
const CACHE_CAPACITY = 10_000;

/** What a verified token says, kept in the cache; the consumer is looked up again on every use. */
interface TokenClaims {
  readonly sub: string;
  readonly scopes: readonly string[];
  readonly routes: readonly string[];
  /** Last identity built, for the consumer object it was built from. */
  memo?: { readonly consumer: Consumer; readonly token: PartnerToken };
}

/**
 * The issuer's `verify`: synchronous on a cache hit, a Promise otherwise; throws (or rejects with)
 * TokenRejected on any failure.
 */
export function createTokenVerifier(
  config: TokenEndpointConfig,
  keys: { readonly jwks: JWK[]; readonly algorithms: readonly SigningAlg[] },
  consumers: { byId(id: string): Consumer | undefined },
  now: () => number,
): (token: string) => Promise<PartnerToken> | PartnerToken {
  const keySet = createLocalJWKSet({ keys: keys.jwks });
  const verifyOptions = {
    algorithms: [...keys.algorithms],
    issuer: config.issuer,
    audience: config.audience,
    typ: 'at+jwt',
    clockTolerance: CLOCK_SKEW_S,
    requiredClaims: ['exp', 'iat', 'sub', 'jti'],
  };
  const cache = new ExpiringCache<TokenClaims>(CACHE_CAPACITY);

  function partnerToken(claims: TokenClaims): PartnerToken {
    const consumer = consumers.byId(claims.sub);
    if (consumer === undefined) throw new TokenRejected('token client is no longer known');
    if (claims.memo?.consumer === consumer) return claims.memo.token;
    const identity: Identity = Object.freeze({
      id: consumer.id,
      method: 'partner_token',
      configName: 'partner_token',
      tier: consumer.tier,
      roles: consumer.roles,
      scopes: claims.scopes,
      metadata: consumer.metadata,
    });
    const token = Object.freeze({ identity, routes: claims.routes });
    claims.memo = { consumer, token };
    return token;
  }

  async function verifyFresh(token: string, digest: string, t: number): Promise<PartnerToken> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keySet, { ...verifyOptions, currentDate: new Date(t) }));
    } catch (err) {
      throw new TokenRejected(rejection(err));
    }
    const claims = readClaims(payload);
    // jose refuses from ceil(exp + tolerance) seconds on: the cached entry ends at that same instant.
    cache.set(digest, claims, Math.ceil((payload.exp as number) + CLOCK_SKEW_S) * 1000);
    return partnerToken(claims);
  }

  return function verifyPartnerToken(token) {
    if (token.length > MAX_TOKEN_CHARS) throw new TokenRejected('token too large');
    const digest = createHash('sha256').update(token).digest('base64');
    const t = now();
    const hit = cache.get(digest, t);
    return hit === undefined ? verifyFresh(token, digest, t) : partnerToken(hit);
  };
}

function readClaims(payload: Record<string, unknown>): TokenClaims {
  const { sub, client_id: clientId, scope, routes } = payload;
  const scopeOk = scope === undefined || typeof scope === 'string';
  const routesOk = Array.isArray(routes) && routes.every((r) => typeof r === 'string');
  if (typeof sub !== 'string' || clientId !== sub || !scopeOk || !routesOk)
    throw new TokenRejected('token claims are malformed');
  const scopes = Object.freeze((scope ?? '').split(' ').filter((s) => s !== ''));
  return { sub, scopes, routes: Object.freeze([...(routes as string[])]) };
}

/** A short, stable reason for the client; jose's own messages may quote claim values. */
function rejection(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `token ${err.claim} claim is not accepted`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof errors.JWKSNoMatchingKey) return 'token key is unknown';
  return 'token is malformed';
}
