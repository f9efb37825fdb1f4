// Turns a JWT config into the one key source it names, checked at load time: exactly one source, readable
// key files, and an algorithm allow-list that fits the key. An HMAC algorithm is only ever paired with
// `secret` and an asymmetric one never is, so HS/RS key confusion cannot be configured.
import { readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { PolicyConfigError } from '../../../pipeline/policy.js';
import type { JwtAlgorithm, JwtConfig } from '../schema.js';
import { selectUsableKeys } from './select-usable-keys.js';

type Algorithms = readonly JwtAlgorithm[];

/** Where a verifier's keys come from, with the algorithms it accepts (never empty, never `none`). */
export type KeySource =
  | { readonly kind: 'secret'; readonly secret: Uint8Array; readonly algorithms: Algorithms }
  | { readonly kind: 'public_key'; readonly key: KeyObject; readonly algorithms: Algorithms }
  | { readonly kind: 'jwks'; readonly jwks: JSONWebKeySet; readonly algorithms: Algorithms }
  | { readonly kind: 'jwks_url'; readonly url: string; readonly algorithms: Algorithms }
  | {
      readonly kind: 'discovery';
      readonly issuer: string;
      readonly url: string;
      readonly algorithms: Algorithms;
    };

const SOURCE_KEYS = [
  'secret',
  'public_key',
  'public_key_file',
  'jwks_file',
  'jwks_url',
  'discovery',
] as const;
const ASYMMETRIC_SOURCES = 'public_key, public_key_file, jwks_file, jwks_url or discovery';
const isHmac = (a: JwtAlgorithm) => a.startsWith('HS');
/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
const HMAC_KEY_BYTES: Partial<Record<JwtAlgorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 };
const RSA_ALGORITHMS: Algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGORITHMS: Readonly<Record<string, JwtAlgorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/** Reads and checks the key source of `config`; every problem is a PolicyConfigError with its path. */
export function resolveKeySource(config: JwtConfig, baseDir: string): KeySource {
  const present = SOURCE_KEYS.filter((k) => config[k] !== undefined && config[k] !== false);
  const [source, second] = present;
  if (source === undefined)
    throw new PolicyConfigError(
      `a JWT config needs exactly one key source: secret, ${ASYMMETRIC_SOURCES} (discovery: true); it has none`,
    );
  if (second !== undefined)
    throw new PolicyConfigError(
      `a JWT config needs exactly one key source, but it sets ${present.join(' and ')}; keep one`,
      [second],
    );
  switch (source) {
    case 'secret':
      return secretSource(config.secret ?? '', config.algorithms);
    case 'public_key':
      return publicKeySource(config.public_key ?? '', 'public_key', config.algorithms);
    case 'public_key_file':
      return publicKeySource(
        readKeyFile(config, 'public_key_file', baseDir),
        'public_key_file',
        config.algorithms,
      );
    case 'jwks_file':
      return jwksFileSource(config, baseDir, asymmetricAlgorithms(config, 'jwks_file'));
    case 'jwks_url':
      return {
        kind: 'jwks_url',
        url: checkUrl(config.jwks_url ?? '', 'jwks_url'),
        algorithms: asymmetricAlgorithms(config, 'jwks_url'),
      };
    case 'discovery':
      return discoverySource(config);
  }
}

function secretSource(secret: string, given: Algorithms | undefined): KeySource {
  const algorithms = given ?? ['HS256'];
  const bytes = new TextEncoder().encode(secret);
  algorithms.forEach((alg, i) => {
    if (!isHmac(alg))
      throw new PolicyConfigError(
        `${alg} is an asymmetric algorithm: it needs a public key (${ASYMMETRIC_SOURCES}), not secret`,
        ['algorithms', i],
      );
    const min = HMAC_KEY_BYTES[alg] ?? 32;
    if (bytes.length < min)
      throw new PolicyConfigError(
        `${alg} needs a secret of at least ${min} bytes; this one has ${bytes.length}`,
        ['secret'],
      );
  });
  return { kind: 'secret', secret: bytes, algorithms };
}

function readKeyFile(config: JwtConfig, key: 'public_key_file' | 'jwks_file', baseDir: string): string {
  const path = resolve(baseDir, config[key] ?? '');
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new PolicyConfigError(`cannot read ${key} ${path}: ${reason}`, [key]);
  }
}

function publicKeySource(
  pem: string,
  key: 'public_key' | 'public_key_file',
  given: Algorithms | undefined,
): KeySource {
  if (pem.includes('PRIVATE KEY'))
    throw new PolicyConfigError(`${key} holds a private key; give the public key only`, [key]);
  let publicKey: KeyObject;
  try {
    if (!pem.includes('PUBLIC KEY-----')) throw new Error('no "-----BEGIN PUBLIC KEY-----" block');
    publicKey = createPublicKey(pem);
  } catch (err) {
    throw new PolicyConfigError(`${key} is not a usable PEM public key: ${(err as Error).message}`, [key]);
  }
  const fitting = algorithmsForKey(publicKey, key);
  const algorithms = given ?? [fitting[0] ?? 'RS256'];
  algorithms.forEach((alg, i) => {
    if (isHmac(alg))
      throw new PolicyConfigError(`${alg} is an HMAC algorithm: it needs secret, not a public key`, [
        'algorithms',
        i,
      ]);
    if (!fitting.includes(alg))
      throw new PolicyConfigError(
        `${alg} does not fit this ${describeKey(publicKey)} key (it verifies ${fitting.join(', ')})`,
        ['algorithms', i],
      );
  });
  return { kind: 'public_key', key: publicKey, algorithms };
}

/** Algorithms a public key can verify, the default first. */
function algorithmsForKey(key: KeyObject, path: string): Algorithms {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = details?.modulusLength ?? 0;
      // RFC 7518 §3.3; jose refuses smaller keys on every verify, so refuse them once, here.
      if (bits < 2048)
        throw new PolicyConfigError(`${path} is a ${bits}-bit RSA key; at least 2048 bits are needed`, [
          path,
        ]);
      return RSA_ALGORITHMS;
    }
    case 'ec': {
      const alg = EC_ALGORITHMS[details?.namedCurve ?? ''];
      if (alg === undefined)
        throw new PolicyConfigError(
          `${path} uses curve ${details?.namedCurve}; supported: P-256, P-384, P-521`,
          [path],
        );
      return [alg];
    }
    case 'ed25519':
      return ['EdDSA'];
    default:
      throw new PolicyConfigError(
        `${path} is a ${key.asymmetricKeyType} key; supported: RSA, EC (P-256/384/521), Ed25519`,
        [path],
      );
  }
}

const describeKey = (key: KeyObject) =>
  key.asymmetricKeyType === 'ec'
    ? `EC ${key.asymmetricKeyDetails?.namedCurve}`
    : `${key.asymmetricKeyType?.toUpperCase()}`;

/** Key sets may hold any key type, so the allow-list cannot be guessed: it must be given, and be asymmetric. */
function asymmetricAlgorithms(config: JwtConfig, source: string): Algorithms {
  const given = config.algorithms;
  if (given === undefined)
    throw new PolicyConfigError(`algorithms is required with ${source} (e.g. [RS256])`, ['algorithms']);
  given.forEach((alg, i) => {
    if (isHmac(alg))
      throw new PolicyConfigError(`${alg} is an HMAC algorithm: it needs secret, not ${source}`, [
        'algorithms',
        i,
      ]);
  });
  return given;
}

function jwksFileSource(config: JwtConfig, baseDir: string, algorithms: Algorithms): KeySource {
  const text = readKeyFile(config, 'jwks_file', baseDir);
  const path = resolve(baseDir, config.jwks_file ?? '');
  try {
    return { kind: 'jwks', jwks: selectUsableKeys(JSON.parse(text), algorithms), algorithms };
  } catch (err) {
    throw new PolicyConfigError(`jwks_file ${path} is not usable: ${(err as Error).message}`, ['jwks_file']);
  }
}

function checkUrl(value: string, key: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value;
  } catch {
    // reported below
  }
  throw new PolicyConfigError(`${key} must be an http(s) URL, not ${JSON.stringify(value)}`, [key]);
}

function discoverySource(config: JwtConfig): KeySource {
  if (config.issuer === undefined)
    throw new PolicyConfigError(
      'discovery needs issuer (its URL is where the IdP publishes its configuration)',
      ['issuer'],
    );
  const issuer = checkUrl(config.issuer, 'issuer');
  const algorithms = asymmetricAlgorithms(config, 'discovery');
  // OpenID Connect Discovery 1.0 §4: the issuer with any trailing "/" removed, then the well-known path.
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  return { kind: 'discovery', issuer, url, algorithms };
}
