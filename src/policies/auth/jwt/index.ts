// JWT verification for the auth facade: one verifier per named `auth.jwt` config (key source, algorithm
// allow-list, claims, JWKS cache, verified-token cache), and the identity a verified token stands for.
export { JwtError, type JwtErrorKind } from './jwt-error.js';
export {
  createJwtVerifier,
  type JwtVerifier,
  type JwtVerifierDeps,
  type VerifiedToken,
} from './create-jwt-verifier.js';
export { claimOf, identityFromClaims } from './identity-from-claims.js';
