// Keeps the members of a JWKS document the verifier may use: public keys of a type the allow-list
// accepts. Shared by jwks_file (checked at load time) and jwks_url / discovery (checked on every fetch),
// so a bogus or empty document can never replace good keys.
import type { JSONWebKeySet, JWK } from 'jose';
import type { JwtAlgorithm } from '../schema.js';

/** Key type (and curve, for ECDSA) each asymmetric algorithm needs (RFC 7518 §3.1, RFC 8037 §3.1). */
const KEY_TYPES: Readonly<Record<JwtAlgorithm, { readonly kty: string; readonly crv?: string }>> = {
  HS256: { kty: 'oct' },
  HS384: { kty: 'oct' },
  HS512: { kty: 'oct' },
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function fits(jwk: Record<string, unknown>, algorithms: readonly JwtAlgorithm[]): boolean {
  // Private or symmetric material has no place in a published key set; such members are skipped.
  if (jwk['d'] !== undefined || jwk['k'] !== undefined || jwk['priv'] !== undefined) return false;
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return false;
  const alg = jwk['alg'];
  return algorithms.some((a) => {
    const want = KEY_TYPES[a];
    if (want.kty === 'oct' || jwk['kty'] !== want.kty) return false;
    if (want.crv !== undefined && jwk['crv'] !== want.crv) return false;
    return alg === undefined || alg === a;
  });
}

/**
 * The usable members of a parsed JWKS document, as a new key set. Throws an Error saying why when the
 * document is not a key set or holds no key for `algorithms`.
 */
export function selectUsableKeys(doc: unknown, algorithms: readonly JwtAlgorithm[]): JSONWebKeySet {
  if (!isRecord(doc) || !Array.isArray(doc['keys'])) throw new Error('not a JWKS document (no "keys" list)');
  const keys = (doc['keys'] as unknown[]).filter(
    (k): k is Record<string, unknown> => isRecord(k) && fits(k, algorithms),
  );
  if (keys.length === 0)
    throw new Error(`no public key for ${algorithms.join(', ')} among its ${doc['keys'].length} keys`);
  return { keys: keys as JWK[] };
}
