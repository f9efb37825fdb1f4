// The verifier of one named JWT config: size and algorithm checks before any crypto, jose for signature
// and claims, and a cache of verified tokens so that a repeated token is answered without a signature check.
import { decodeProtectedHeader, errors } from 'jose';
import type { PolicyLog } from '../../../pipeline/policy.js';
import { ExpiringCache } from '../../../lib/expiring-cache.js';
import type { JwtConfig } from '../schema.js';
import { createSignatureCheck } from './check-signature.js';
import { consumerIdOf } from './identity-from-claims.js';
import { JwtError } from './jwt-error.js';
import { resolveKeySource } from './resolve-key-source.js';
import { hashToken } from './verification-cache.js';

/** A token that passed every check. Shared between requests: frozen. */
export interface VerifiedToken {
  readonly claims: Readonly<Record<string, unknown>>;
  /** The token's `exp` in epoch ms (always finite: `exp` is required). */
  readonly expiresAt: number;
}

export interface JwtVerifier {
  /**
   * Synchronous result on a verification-cache hit; a Promise otherwise. Throws JwtError synchronously for
   * what needs no crypto (too large, malformed header, algorithm not allowed); otherwise rejects JwtError.
   */
  verify(token: string): VerifiedToken | Promise<VerifiedToken>;
  /** Stops background refresh timers (snapshot retired). */
  close(): void;
}

export interface JwtVerifierDeps {
  /** Directory relative key and JWKS file paths start from. */
  readonly baseDir: string;
  readonly log: PolicyLog;
  /** Clock in epoch ms (tests). */
  readonly now?: () => number;
}

/** Longest a verification is remembered, however distant its exp: bounds how long a revoked key is trusted. */
const MAX_CACHE_AGE_MS = 5 * 60_000;

/** Builds the verifier; a config it cannot serve is a PolicyConfigError (thrown here, at load time). */
export function createJwtVerifier(name: string, config: JwtConfig, deps: JwtVerifierDeps): JwtVerifier {
  const source = resolveKeySource(config, deps.baseDir);
  const now = deps.now ?? Date.now;
  const allowed: ReadonlySet<string> = new Set(source.algorithms);
  const maxLength = config.max_token_bytes;
  const skewS = config.clock_skew_s;
  const cache = config.cache_size > 0 ? new ExpiringCache<VerifiedToken>(config.cache_size) : undefined;
  const check = createSignatureCheck(source, {
    name,
    settings: config.jwks,
    log: deps.log,
    now,
    onKeysChange: () => cache?.clear(),
  });
  const algorithms = [...source.algorithms];
  const { issuer, audience } = config;
  // Every token must expire: one without exp would be valid forever once leaked.
  const requiredClaims = [...new Set(['exp', ...config.required_claims])];

  async function verifyFresh(token: string, digest: string): Promise<VerifiedToken> {
    const t = now();
    try {
      const payload = await check.verify(token, {
        algorithms,
        issuer,
        audience,
        clockTolerance: skewS,
        requiredClaims,
        currentDate: new Date(t),
      });
      consumerIdOf(config, payload);
      const exp = payload.exp as number; // required and type-checked by jose
      const result: VerifiedToken = Object.freeze({ claims: deepFreeze(payload), expiresAt: exp * 1000 });
      // jose rejects once floor(now / 1000) >= exp + tolerance, that is from ceil(exp + tolerance) seconds
      // on: a cached token stops being accepted at that same instant.
      cache?.set(digest, result, Math.min(Math.ceil(exp + skewS) * 1000, t + MAX_CACHE_AGE_MS));
      return result;
    } catch (err) {
      throw toJwtError(err);
    }
  }

  return {
    verify(token) {
      // A compact JWT is ASCII: its length in characters is its size in bytes.
      if (token.length > maxLength) throw new JwtError('invalid', 'token too large');
      let digest = '';
      if (cache !== undefined) {
        digest = hashToken(token);
        const hit = cache.get(digest, now());
        if (hit !== undefined) return hit;
      }
      checkAlgorithm(token, allowed);
      return verifyFresh(token, digest);
    },
    close() {
      check.close();
      cache?.clear();
    },
  };
}

/** RFC 8725 §3.1: the algorithm must be on the allow-list before anything else ("none" is on no list). */
function checkAlgorithm(token: string, allowed: ReadonlySet<string>): void {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (err) {
    throw new JwtError('invalid', 'malformed token', { cause: err });
  }
  if (typeof alg !== 'string' || !allowed.has(alg)) throw new JwtError('invalid', 'algorithm not allowed');
}

function toJwtError(err: unknown): JwtError {
  return err instanceof JwtError ? err : new JwtError('invalid', describeRejection(err), { cause: err });
}

/** jose's reason, as the short error_description a client may see. */
function describeRejection(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return `missing claim ${err.claim}`;
    if (err.claim === 'iss') return 'issuer mismatch';
    if (err.claim === 'aud') return 'audience mismatch';
    if (err.claim === 'nbf' && err.reason === 'check_failed') return 'token not yet valid';
    return `invalid claim ${err.claim}`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature invalid';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown key id';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed token';
  if (err instanceof errors.JOSENotSupported) return 'unsupported token';
  return 'token cannot be verified';
}

/** Freezes parsed JSON in place, iteratively (a deeply nested claim must not overflow the stack). */
function deepFreeze<T extends object>(root: T): T {
  const pending: object[] = [root];
  for (let o = pending.pop(); o !== undefined; o = pending.pop()) {
    Object.freeze(o);
    for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) pending.push(v as object);
  }
  return root;
}
