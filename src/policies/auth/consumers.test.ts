// The consumers of `consumers:` and `auth.consumers_file` are checked once per config load (the auth
// definition's checkSections): these pin what a schema cannot say — a password or client secret hash that
// could never match, an id declared twice, an API key hash two consumers share — each reported once, at the
// entry that has it (in gateway.yaml or in the consumers file), and what the routes then get. Positions in
// real files: src/compiler/consumers-file.test.ts and test/e2e/config-promises.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SectionCheckContext, SectionPath } from '../../pipeline/policy.js';
import { loadConsumers } from './consumers.js';
import type { Consumer } from './schema.js';

const SCRYPT = 'scrypt$N=16384,r=8,p=1$qn0eeBH-TabtHZXQl11RRg$amLtMbv7wfy7maxy2K5mdqS0sxdOo1ZTg_2M0njrcWw';
const BCRYPT = '$2b$10$' + 'a'.repeat(53);
const KEY_A = 'sha256:' + 'a'.repeat(64);
const KEY_B = 'sha256:' + 'b'.repeat(64);

function consumer(id: string, extra: Partial<Consumer> = {}): Consumer {
  return {
    id,
    roles: [],
    scopes: [],
    metadata: {},
    api_keys: [],
    token_scopes: [],
    token_routes: [],
    ...extra,
  };
}

/** Runs loadConsumers over inline consumers and (optionally) a consumers file's; returns what it reported. */
function check(inline: Consumer[], file?: Consumer[]) {
  const issues: string[] = [];
  const at = (file: string, path: SectionPath, message: string) =>
    issues.push(`${file} ${path.join('.')}: ${message}`);
  const ctx: SectionCheckContext = {
    section: (name) =>
      name === 'auth'
        ? file
          ? { consumers_file: 'consumers.yaml' }
          : {}
        : name === 'consumers'
          ? inline
          : undefined,
    baseDir: '/',
    error: (path, message) => at('gateway.yaml', path, message),
    loadFile: (name, configPath, _schema) => {
      assert.equal(name, 'consumers.yaml');
      assert.deepEqual(configPath, ['auth', 'consumers_file']);
      return {
        file: 'consumers.yaml',
        value: file,
        error: (path, message) => at('consumers.yaml', path, message),
      };
    },
  };
  const consumers = loadConsumers(ctx);
  return { ids: consumers.map((c) => c.id), issues };
}

describe('loadConsumers', () => {
  it('joins the consumers file to `consumers:` and reports nothing for usable hashes', () => {
    const r = check(
      [consumer('a', { password_hash: SCRYPT }), consumer('b', { password_hash: BCRYPT, api_keys: [KEY_A] })],
      [
        consumer('c', { client_secret_hash: SCRYPT, api_keys: [KEY_B] }),
        consumer('d', { client_secret_hash: KEY_A }),
      ],
    );
    assert.deepEqual(r, { ids: ['a', 'b', 'c', 'd'], issues: [] });
  });

  for (const [why, hash, message] of [
    ['an elided scrypt hash (the docs placeholder)', 'scrypt$N=16384,r=8,p=1$…', /not a scrypt hash/],
    ['a scrypt hash without its key', 'scrypt$N=16384,r=8,p=1$abc', /not a scrypt hash/],
    ['scrypt N that is not a power of two', SCRYPT.replace('N=16384', 'N=16000'), /N must be a power of two/],
    ['scrypt needing more than 256 MiB', SCRYPT.replace('N=16384,r=8', 'N=1048576,r=8'), /256 MiB/],
    ['a bcrypt cost beyond the bound', '$2b$31$' + 'a'.repeat(53), /bcrypt cost 31/],
    ['a truncated bcrypt hash', '$2b$10$' + 'a'.repeat(40), /not a bcrypt hash/],
  ] as const)
    it(`reports ${why} where it is written, inline and in the file`, () => {
      const r = check([consumer('a', { password_hash: hash })], [consumer('b', { password_hash: hash })]);
      assert.equal(r.issues.length, 2, r.issues.join('\n'));
      assert.match(
        r.issues[0]!,
        /^gateway\.yaml consumers\.0\.password_hash: a password hash that can never match: /,
      );
      assert.match(r.issues[1]!, /^consumers\.yaml 0\.password_hash: a password hash that can never match: /);
      for (const issue of r.issues) {
        assert.match(issue, message);
        assert.match(issue, /portico hash-password prints one$/);
      }
    });

  it('reports a bcrypt or scrypt client secret hash that can never match (sha256 ones are keys)', () => {
    const r = check([consumer('a', { client_secret_hash: 'scrypt$N=3,r=8,p=1$x$y' })]);
    assert.deepEqual(r.issues, [
      'gateway.yaml consumers.0.client_secret_hash: a secret hash that can never match: scrypt N must be a power of two from 2 to 2^20; portico hash-key prints one',
    ]);
  });

  it('reports an id declared twice at the second, naming the first, and keeps the first', () => {
    const r = check([consumer('dup', { tier: 'one' })], [consumer('ok'), consumer('dup')]);
    assert.deepEqual(r.issues, ['consumers.yaml 1.id: consumer "dup" is declared twice (also consumers[0])']);
    assert.deepEqual(r.ids, ['dup', 'ok']);
  });

  it('reports an API key hash two consumers share, or one consumer lists twice', () => {
    const r = check(
      [consumer('a', { api_keys: [KEY_A] }), consumer('b', { api_keys: [KEY_B, KEY_B] })],
      [consumer('c', { api_keys: [KEY_A] })],
    );
    assert.deepEqual(r.issues, [
      'gateway.yaml consumers.1.api_keys.1: this API key hash is listed twice for consumer "b"',
      'consumers.yaml 0.api_keys.0: consumers "a" (consumers[0]) and "c" share this API key hash',
    ]);
    assert.deepEqual(r.ids, ['a']);
  });
});
