// Signature and claims checks by jose against the configured key source: one HMAC or public key, a JWKS
// file, or a remote key set that is refetched (within its cooldown) when a token names an unknown kid.
import { webcrypto } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { PolicyLog } from '../../../pipeline/policy.js';
import type { JwtConfig } from '../schema.js';
import type { KeySource } from './resolve-key-source.js';
import { createRemoteKeySet, type KeySet } from './remote-key-set.js';

export interface SignatureCheck {
  /** jose's verdict on the token: its payload, or jose's error (mapped to JwtError by the caller). */
  verify(token: string, options: JWTVerifyOptions): Promise<JWTPayload>;
  close(): void;
}

export interface SignatureCheckOptions {
  readonly name: string;
  readonly settings: JwtConfig['jwks'];
  readonly log: PolicyLog;
  readonly now: () => number;
  /** The remote key set changed. */
  readonly onKeysChange: () => void;
}

const noop = (): void => {};

export function createSignatureCheck(source: KeySource, o: SignatureCheckOptions): SignatureCheck {
  switch (source.kind) {
    case 'secret': {
      // One CryptoKey per HMAC algorithm, imported on first use: jose would import raw bytes on every call.
      const keys = new Map<string, Promise<webcrypto.CryptoKey>>();
      const hmacKey = ({ alg = '' }: { alg?: string }) => {
        let key = keys.get(alg);
        if (key === undefined) {
          const hash = { name: 'HMAC', hash: `SHA-${alg.slice(2)}` };
          key = webcrypto.subtle.importKey('raw', source.secret, hash, false, ['verify']);
          keys.set(alg, key);
        }
        return key;
      };
      return {
        verify: async (token, options) => (await jwtVerify(token, hmacKey, options)).payload,
        close: noop,
      };
    }
    case 'public_key':
      // jose converts the KeyObject to a CryptoKey once per algorithm and remembers it.
      return {
        verify: async (token, options) => (await jwtVerify(token, source.key, options)).payload,
        close: noop,
      };
    case 'jwks': {
      const set = createLocalJWKSet(source.jwks);
      return { verify: (token, options) => verifyWithSet(token, set, options), close: noop };
    }
    case 'jwks_url':
    case 'discovery': {
      const remote = createRemoteKeySet({
        name: o.name,
        source,
        settings: o.settings,
        log: o.log,
        now: o.now,
        onChange: o.onKeysChange,
      });
      return {
        async verify(token, options) {
          const set = await remote.current();
          try {
            return await verifyWithSet(token, set, options);
          } catch (err) {
            // A kid we do not know may be a key the IdP has just rotated in.
            if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
            const newer = await remote.refreshForUnknownKey(set);
            if (newer === undefined) throw err;
            return verifyWithSet(token, newer, options);
          }
        },
        close: () => remote.close(),
      };
    }
  }
}

async function verifyWithSet(token: string, set: KeySet, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, set, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    // Several keys fit a header without kid: jose hands them over to be tried in turn.
    for await (const key of err) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}
