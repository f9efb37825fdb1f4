// The key of the verification cache (an ExpiringCache of src/lib): a client repeating its token costs one
// hash and one Map lookup instead of a signature check. Keyed by SHA-256 of the token (the token itself is
// a credential and is not kept as a key).
import * as crypto from 'node:crypto';

/**
 * SHA-256 of a token as a 32-character binary (latin1) string (the cheapest digest encoding to make and to hash as
 * a Map key). crypto.hash (Node ≥ 20.12) skips the Hash object; createHash before that.
 */
export const hashToken: (token: string) => string =
  typeof crypto.hash === 'function'
    ? (token) => crypto.hash('sha256', token, 'binary')
    : (token) => crypto.createHash('sha256').update(token).digest('binary');
