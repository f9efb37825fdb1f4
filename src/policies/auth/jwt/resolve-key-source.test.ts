// A JWT config must name exactly one key source and an allow-list that fits it: these pin every refusal
// (with its path) and every inferred algorithm, so HS/RS confusion cannot be configured.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyConfigError } from '../../../pipeline/policy.js';
import { SILENT_LOG } from '../../../pipeline/testing.js';
import { createJwtVerifier } from './index.js';
import { resolveKeySource } from './resolve-key-source.js';
import { jwtConfig, testKey, type TestKey } from './testing.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const pem = (type: 'rsa' | 'ec' | 'ed448', options: Record<string, unknown>) =>
  generateKeyPairSync(type as 'rsa', options as { modulusLength: number }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;

let dir: string;
let rsa: TestKey;
let p384: TestKey;
let ed: TestKey;
before(async () => {
  [rsa, p384, ed] = await Promise.all([testKey('RS256'), testKey('ES384'), testKey('EdDSA')]);
  dir = mkdtempSync(join(tmpdir(), 'jwt-keys-'));
  writeFileSync(join(dir, 'rsa.pem'), rsa.publicPem);
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [rsa.jwk] }));
  writeFileSync(join(dir, 'oct.json'), JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
  writeFileSync(join(dir, 'broken.json'), '{ "keys": [');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
});

function refusal(partial: Record<string, unknown>): PolicyConfigError {
  try {
    resolveKeySource(jwtConfig(partial), dir);
  } catch (err) {
    assert.ok(err instanceof PolicyConfigError, String(err));
    return err;
  }
  assert.fail('the config was accepted');
}

describe('JWT key source: refused configs', () => {
  const cases: readonly (readonly [
    string,
    () => Record<string, unknown>,
    RegExp,
    readonly (string | number)[],
  ])[] = [
    ['no key source', () => ({ issuer: 'https://idp.test' }), /exactly one key source.*none/, []],
    [
      'two key sources',
      () => ({ secret: SECRET, jwks_url: 'https://idp.test/jwks', algorithms: ['RS256'] }),
      /sets secret and jwks_url/,
      ['jwks_url'],
    ],
    [
      'discovery next to a public key',
      () => ({ public_key: rsa.publicPem, discovery: true }),
      /public_key and discovery/,
      ['discovery'],
    ],
    [
      'jwks_url without algorithms',
      () => ({ jwks_url: 'https://idp.test/jwks' }),
      /algorithms is required/,
      ['algorithms'],
    ],
    [
      'jwks_file without algorithms',
      () => ({ jwks_file: 'jwks.json' }),
      /algorithms is required/,
      ['algorithms'],
    ],
    [
      'discovery without issuer',
      () => ({ discovery: true, algorithms: ['RS256'] }),
      /discovery needs issuer/,
      ['issuer'],
    ],
    [
      'discovery without algorithms',
      () => ({ discovery: true, issuer: 'https://idp.test' }),
      /algorithms is required/,
      ['algorithms'],
    ],
    [
      'HS256 with a JWKS URL',
      () => ({ jwks_url: 'https://idp.test/jwks', algorithms: ['RS256', 'HS256'] }),
      /HS256 is an HMAC algorithm/,
      ['algorithms', 1],
    ],
    [
      'HS256 with a PEM key',
      () => ({ public_key: rsa.publicPem, algorithms: ['HS256'] }),
      /HMAC algorithm: it needs secret/,
      ['algorithms', 0],
    ],
    [
      'RS256 with a secret',
      () => ({ secret: SECRET, algorithms: ['RS256'] }),
      /asymmetric algorithm/,
      ['algorithms', 0],
    ],
    [
      'HS512 with a 40-byte secret',
      () => ({ secret: SECRET, algorithms: ['HS512'] }),
      /at least 64 bytes/,
      ['secret'],
    ],
    [
      'ES256 for a P-384 key',
      () => ({ public_key: p384.publicPem, algorithms: ['ES256'] }),
      /does not fit this EC secp384r1 key \(it verifies ES384\)/,
      ['algorithms', 0],
    ],
    [
      'ES256 for an RSA key',
      () => ({ public_key: rsa.publicPem, algorithms: ['RS256', 'ES256'] }),
      /does not fit this RSA key/,
      ['algorithms', 1],
    ],
    [
      'RS256 for an Ed25519 key',
      () => ({ public_key: ed.publicPem, algorithms: ['RS256'] }),
      /verifies EdDSA/,
      ['algorithms', 0],
    ],
    [
      'a 1024-bit RSA key',
      () => ({ public_key: pem('rsa', { modulusLength: 1024 }) }),
      /1024-bit RSA key/,
      ['public_key'],
    ],
    [
      'an unsupported curve',
      () => ({ public_key: pem('ec', { namedCurve: 'secp256k1' }) }),
      /curve secp256k1/,
      ['public_key'],
    ],
    ['an Ed448 key', () => ({ public_key: pem('ed448', {}) }), /ed448 key/, ['public_key']],
    [
      'a PEM that is no key',
      () => ({ public_key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }),
      /not a usable PEM public key/,
      ['public_key'],
    ],
    [
      'a missing public_key_file',
      () => ({ public_key_file: 'nope.pem' }),
      /cannot read public_key_file .*nope\.pem: ENOENT/,
      ['public_key_file'],
    ],
    [
      'a private key file',
      () => ({ public_key_file: 'private.pem' }),
      /holds a private key/,
      ['public_key_file'],
    ],
    [
      'a missing jwks_file',
      () => ({ jwks_file: 'nope.json', algorithms: ['RS256'] }),
      /cannot read jwks_file .*nope\.json: ENOENT/,
      ['jwks_file'],
    ],
    [
      'a jwks_file that is not JSON',
      () => ({ jwks_file: 'broken.json', algorithms: ['RS256'] }),
      /jwks_file .*broken\.json is not usable/,
      ['jwks_file'],
    ],
    [
      'a jwks_file without a key for the algorithms',
      () => ({ jwks_file: 'jwks.json', algorithms: ['ES256'] }),
      /no public key for ES256 among its 1 keys/,
      ['jwks_file'],
    ],
    [
      'a jwks_file holding only a symmetric key',
      () => ({ jwks_file: 'oct.json', algorithms: ['RS256'] }),
      /no public key for RS256/,
      ['jwks_file'],
    ],
  ];
  for (const [why, partial, message, path] of cases) {
    it(`refuses ${why}`, () => {
      const err = refusal(partial());
      assert.match(err.message, message);
      assert.deepEqual(err.path, path);
    });
  }

  it('is thrown by createJwtVerifier, at load time', () => {
    assert.throws(
      () => createJwtVerifier('x', jwtConfig({}), { baseDir: dir, log: SILENT_LOG }),
      PolicyConfigError,
    );
  });
});

describe('JWT key source: accepted configs', () => {
  const inferred: readonly (readonly [string, () => Record<string, unknown>, string, readonly string[]])[] = [
    ['a secret', () => ({ secret: SECRET }), 'secret', ['HS256']],
    ['a secret with HS384', () => ({ secret: SECRET + SECRET, algorithms: ['HS384'] }), 'secret', ['HS384']],
    ['an RSA PEM', () => ({ public_key: rsa.publicPem }), 'public_key', ['RS256']],
    [
      'an RSA PEM with PS256 too',
      () => ({ public_key: rsa.publicPem, algorithms: ['RS256', 'PS256'] }),
      'public_key',
      ['RS256', 'PS256'],
    ],
    ['a P-384 PEM', () => ({ public_key: p384.publicPem }), 'public_key', ['ES384']],
    ['an Ed25519 PEM', () => ({ public_key: ed.publicPem }), 'public_key', ['EdDSA']],
    ['a PEM file relative to baseDir', () => ({ public_key_file: 'rsa.pem' }), 'public_key', ['RS256']],
    ['a JWKS file', () => ({ jwks_file: 'jwks.json', algorithms: ['RS256'] }), 'jwks', ['RS256']],
    [
      'a JWKS URL',
      () => ({ jwks_url: 'https://idp.test/jwks', algorithms: ['ES256'] }),
      'jwks_url',
      ['ES256'],
    ],
    [
      'discovery',
      () => ({ discovery: true, issuer: 'https://idp.test/', algorithms: ['RS256'] }),
      'discovery',
      ['RS256'],
    ],
    ['discovery: false next to a secret', () => ({ discovery: false, secret: SECRET }), 'secret', ['HS256']],
  ];
  for (const [why, partial, kind, algorithms] of inferred) {
    it(`takes ${why} (${algorithms.join(', ')})`, () => {
      const source = resolveKeySource(jwtConfig(partial()), dir);
      assert.equal(source.kind, kind);
      assert.deepEqual(source.algorithms, algorithms);
    });
  }

  it('builds the discovery URL from the issuer without its trailing slash', () => {
    const source = resolveKeySource(
      jwtConfig({ discovery: true, issuer: 'https://idp.test/realms/a/', algorithms: ['RS256'] }),
      dir,
    );
    assert.equal(
      source.kind === 'discovery' && source.url,
      'https://idp.test/realms/a/.well-known/openid-configuration',
    );
  });
});
