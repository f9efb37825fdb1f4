// Why a token was refused, in the two outcomes the gateway answers differently: 401 for a bad token, 503
// when no key can be had at all (a client must never be told its token is bad because the IdP is down).

/** `invalid` → 401 with `error_description` = description; `unavailable` → 503. */
export type JwtErrorKind = 'invalid' | 'unavailable';

/**
 * The only error a verifier throws. `description` goes to the client verbatim (RFC 6750 §3
 * `error_description`): short, stable, and free of secrets, key material or token contents.
 */
export class JwtError extends Error {
  constructor(
    readonly kind: JwtErrorKind,
    readonly description: string,
    options?: ErrorOptions,
  ) {
    super(description, options);
    this.name = 'JwtError';
  }
}
