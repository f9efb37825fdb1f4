// Verified JWT claims → the gateway's Identity, by the claim names of the JWT config. Runs per request
// (also on verification-cache hits), so the identity of a cached, frozen claims object is remembered.
import type { Identity, IdentityField } from '../../../pipeline/identity.js';
import type { JwtConfig } from '../schema.js';
import { JwtError } from './jwt-error.js';

type Claims = Readonly<Record<string, unknown>>;

const EMPTY: readonly string[] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
// Roles: spaces and commas; scopes: spaces (RFC 6749 §3.3). Only the space character separates: a tab or
// line break stays inside a value, and the auth policy refuses it there.
const ROLE_SEPARATORS = /[ ,]+/;
const SCOPE_SEPARATORS = / +/;
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

/** Whether a claim value is an object or an array: never what a string claim or a list entry can be. */
const isStructured = (value: unknown): boolean => typeof value === 'object' && value !== null;

/**
 * Strings of a list claim, or of a string claim split at `separators`. Other scalars (numbers, booleans,
 * null) give none, and such list entries are dropped; an object where a string or list is expected, or an
 * object or list inside the list, refuses the token (JwtError naming `claim`).
 */
function stringList(value: unknown, separators: RegExp, claim: string): readonly string[] {
  if (typeof value === 'string') return Object.freeze(value.split(separators).filter((s) => s !== ''));
  if (Array.isArray(value)) {
    const out: string[] = [];
    for (const s of value as unknown[]) {
      if (typeof s === 'string') {
        if (s !== '') out.push(s);
      } else if (isStructured(s)) throw invalidClaim(claim);
    }
    return Object.freeze(out);
  }
  if (isStructured(value)) throw invalidClaim(claim);
  return EMPTY;
}

const invalidClaim = (claim: string) => new JwtError('invalid', `invalid claim ${claim}`);

/** Identities whose scopes came from `scp` (the scope claim was absent): to name the right claim. */
const scopesFromScp = new WeakSet<Identity>();

/**
 * The claim an identity field was read from, for the `error_description` when the auth policy refuses
 * the identity (a value no header can carry).
 */
export function claimOf(config: JwtConfig, identity: Identity, field: IdentityField): string {
  if (field === 'id') return config.consumer_claim;
  if (field === 'roles') return config.roles_claim;
  if (field === 'tier') return config.tier_claim ?? 'tier';
  return scopesFromScp.has(identity) ? 'scp' : config.scope_claim;
}

/**
 * The identity of a verified token: id from `consumer_claim`, roles from `roles_claim` (list, or a string
 * split at spaces and commas), scopes from `scope_claim` (RFC 8693 §4.2: a space-separated string, or a
 * list; `scp` when that claim is absent), tier from `tier_claim`. Throws JwtError when the id is missing or
 * not a string, or when an object or list stands where a string is expected (see stringList; a tier that is
 * a number or boolean is ignored). Whether the strings can become headers is checked by the auth policy
 * for every method alike (identityFault).
 */
export function identityFromClaims(name: string, config: JwtConfig, claims: Claims): Identity {
  const known = remembered.get(claims);
  if (known !== undefined && known.config === config && known.name === name) return known.identity;
  const id = consumerIdOf(config, claims);
  const tier = config.tier_claim === undefined ? undefined : readClaim(claims, config.tier_claim);
  if (isStructured(tier)) throw invalidClaim(config.tier_claim!);
  const scopeClaim = readClaim(claims, config.scope_claim);
  const scopeSource = scopeClaim === undefined || scopeClaim === null ? 'scp' : config.scope_claim;
  const identity: Identity = Object.freeze({
    id,
    method: 'jwt',
    configName: name,
    tier: typeof tier === 'string' && tier !== '' ? tier : undefined,
    roles: stringList(readClaim(claims, config.roles_claim), ROLE_SEPARATORS, config.roles_claim),
    scopes: stringList(scopeClaim ?? claims['scp'], SCOPE_SEPARATORS, scopeSource),
    metadata: NO_METADATA,
  });
  if (scopeSource === 'scp' && identity.scopes.length > 0) scopesFromScp.add(identity);
  // Only a frozen claims object (the verifier's) cannot change under the remembered identity.
  if (Object.isFrozen(claims)) remembered.set(claims, { name, config, identity });
  return identity;
}
