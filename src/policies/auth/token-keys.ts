// The token endpoint's signing keys: read from the config or a PEM file, checked against their algorithm
// (a bad key is a PolicyConfigError at load time, never a failure per request), and published as JWKs.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { exportJWK, type JWK } from 'jose';
import { PolicyConfigError } from '../../pipeline/policy.js';
import type { TokenEndpointConfig } from './schema.js';

export type SigningKeyConfig = TokenEndpointConfig['keys'][number];
export type SigningAlg = SigningKeyConfig['alg'];

const KEY_TYPES: Record<
  SigningAlg,
  { readonly type: string; readonly curve?: string; readonly label: string }
> = {
  EdDSA: { type: 'ed25519', label: 'an Ed25519 key' },
  ES256: { type: 'ec', curve: 'prime256v1', label: 'a P-256 (prime256v1) key' },
};

export interface LoadedKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly pem: string;
  readonly publicKey: KeyObject;
}

/** Every configured key, checked (the first one signs); paths in errors are relative to token_endpoint. */
export function loadKeys(keys: readonly SigningKeyConfig[], baseDir: string): LoadedKey[] {
  if (keys.length === 0)
    throw new PolicyConfigError('token_endpoint needs at least one signing key', ['keys']);
  const seen = new Set<string>();
  return keys.map((key, i) => {
    if (seen.has(key.kid))
      throw new PolicyConfigError(`signing key kid "${key.kid}" is used twice`, ['keys', i]);
    seen.add(key.kid);
    return loadKey(key, i, baseDir);
  });
}

function loadKey(key: SigningKeyConfig, i: number, baseDir: string): LoadedKey {
  const where = `signing key "${key.kid}"`;
  const pem = keyPem(key, i, baseDir);
  if (!pem.includes('-----BEGIN PRIVATE KEY-----'))
    throw new PolicyConfigError(`${where}: not a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----")`, [
      'keys',
      i,
    ]);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new PolicyConfigError(`${where}: cannot parse the private key: ${message(err)}`, ['keys', i]);
  }
  const expected = KEY_TYPES[key.alg];
  const type = privateKey.asymmetricKeyType;
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (type !== expected.type || curve !== expected.curve)
    throw new PolicyConfigError(
      `${where}: alg ${key.alg} needs ${expected.label}, this is ${curve === undefined ? type : `${type} ${curve}`}`,
      ['keys', i, 'alg'],
    );
  return { kid: key.kid, alg: key.alg, pem, publicKey: createPublicKey(privateKey) };
}

function keyPem(key: SigningKeyConfig, i: number, baseDir: string): string {
  const where = `signing key "${key.kid}"`;
  if (key.private_key !== undefined && key.private_key_file !== undefined)
    throw new PolicyConfigError(`${where}: set private_key or private_key_file, not both`, ['keys', i]);
  if (key.private_key !== undefined) return key.private_key;
  if (key.private_key_file === undefined)
    throw new PolicyConfigError(`${where}: private_key or private_key_file is required`, ['keys', i]);
  const path = isAbsolute(key.private_key_file)
    ? key.private_key_file
    : resolve(baseDir, key.private_key_file);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyConfigError(`${where}: cannot read ${path}: ${message(err)}`, [
      'keys',
      i,
      'private_key_file',
    ]);
  }
}

/** Only the public members: a JWK exported from a public KeyObject has no d, but the list is explicit. */
export async function publicJwk(key: LoadedKey): Promise<JWK> {
  const { kty, crv, x, y } = await exportJWK(key.publicKey);
  return y === undefined
    ? { kty, crv, x, kid: key.kid, alg: key.alg, use: 'sig' }
    : { kty, crv, x, y, kid: key.kid, alg: key.alg, use: 'sig' };
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The auth policy's synchronous check of `auth.token_endpoint.keys` at load (the issuer itself imports them
 * asynchronously); paths in errors are relative to the `auth` section.
 */
export function checkSigningKeys(te: TokenEndpointConfig, baseDir: string): void {
  te.keys.forEach((k, i) => {
    const at = ['token_endpoint', 'keys', i];
    if ((k.private_key === undefined) === (k.private_key_file === undefined))
      throw new PolicyConfigError('give exactly one of private_key or private_key_file', at);
    let pem = k.private_key;
    if (k.private_key_file !== undefined) {
      try {
        pem = readFileSync(resolve(baseDir, k.private_key_file), 'utf8');
      } catch (err) {
        throw new PolicyConfigError(
          `cannot read ${k.private_key_file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
          [...at, 'private_key_file'],
        );
      }
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(pem!);
    } catch {
      throw new PolicyConfigError('not a PEM private key', at);
    }
    const ok =
      k.alg === 'EdDSA'
        ? key.asymmetricKeyType === 'ed25519'
        : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    if (!ok)
      throw new PolicyConfigError(
        `${k.alg} needs ${k.alg === 'EdDSA' ? 'an Ed25519' : 'a P-256 EC'} key, this is ${key.asymmetricKeyType ?? 'unknown'}`,
        [...at, 'alg'],
      );
  });
}
