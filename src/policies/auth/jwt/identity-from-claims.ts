// Verified JWT claims → the gateway's Identity, by the claim names of the JWT config. Runs per request
// (also on verification-cache hits), so the identity of a cached, frozen claims object is remembered.
import type { Identity } from '../../../pipeline/identity.js';
import type { JwtConfig } from '../schema.js';
import { JwtError } from './jwt-error.js';

type Claims = Readonly<Record<string, unknown>>;

const EMPTY: readonly string[] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
const remembered = new WeakMap<Claims, { name: string; config: JwtConfig; identity: Identity }>();

/**
 * A claim by name or, when no claim has that exact name, by a dotted path into nested objects
 * (`realm_access.roles`). Exact names win, so namespaced claims such as `https://example.com/roles` work.
 */
export function readClaim(claims: Claims, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  if (!path.includes('.')) return undefined;
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part))
      return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The consumer id (`consumer_claim`, default `sub`): a non-empty string, or the token is refused. */
export function consumerIdOf(config: JwtConfig, claims: Claims): string {
  const id = readClaim(claims, config.consumer_claim);
  if (typeof id === 'string' && id !== '') return id;
  throw new JwtError('invalid', `${id === undefined ? 'missing' : 'invalid'} claim ${config.consumer_claim}`);
}

/** Strings of a list claim, or of a string claim split at `separators`; anything else gives none. */
function stringList(value: unknown, separators: RegExp): readonly string[] {
  if (typeof value === 'string') return Object.freeze(value.split(separators).filter((s) => s !== ''));
  if (Array.isArray(value))
    return Object.freeze(value.filter((s): s is string => typeof s === 'string' && s !== ''));
  return EMPTY;
}

/**
 * The identity of a verified token: id from `consumer_claim`, roles from `roles_claim` (list, or a string
 * split at spaces and commas), scopes from `scope_claim` (RFC 8693 §4.2: a space-separated string, or a
 * list; `scp` when that claim is absent), tier from `tier_claim`. Throws JwtError when the id is missing.
 */
export function identityFromClaims(name: string, config: JwtConfig, claims: Claims): Identity {
  const known = remembered.get(claims);
  if (known !== undefined && known.config === config && known.name === name) return known.identity;
  const tier = config.tier_claim === undefined ? undefined : readClaim(claims, config.tier_claim);
  const identity: Identity = Object.freeze({
    id: consumerIdOf(config, claims),
    method: 'jwt',
    configName: name,
    tier: typeof tier === 'string' && tier !== '' ? tier : undefined,
    roles: stringList(readClaim(claims, config.roles_claim), /[\s,]+/),
    scopes: stringList(readClaim(claims, config.scope_claim) ?? claims['scp'], /\s+/),
    metadata: NO_METADATA,
  });
  // Only a frozen claims object (the verifier's) cannot change under the remembered identity.
  if (Object.isFrozen(claims)) remembered.set(claims, { name, config, identity });
  return identity;
}
