// The identity_headers policy is what keeps a client from speaking for the gateway: these pin that every
// client header folding (case, `_` read as `-`) into X-Authenticated-*, X-Consumer-* or a configured name is
// removed, that unrelated underscore names pass untouched, and the cheap first-character pre-check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { identity, identityFirstChars, ownedIdentityHeader } from './index.js';
import { testContext, testExchange } from '../../pipeline/testing.js';
import type { CompileContext, Policy } from '../../pipeline/policy.js';

const DEFAULT_NAMES = {
  user: 'X-Authenticated-User',
  roles: 'X-Authenticated-Roles',
  scopes: 'X-Authenticated-Scopes',
  tier: 'X-Authenticated-Tier',
  consumer: 'X-Consumer-Id',
  strip: [] as string[],
};

function policy(names: Partial<typeof DEFAULT_NAMES> | undefined): Policy {
  const ctx: CompileContext = {
    ...testContext(),
    section: (name: string) =>
      name === 'auth' && names !== undefined
        ? { identity_headers: { ...DEFAULT_NAMES, ...names } }
        : undefined,
  };
  return identity.create({}, ctx);
}

function run(p: Policy, raw: string[]): string[] {
  const ex = testExchange(raw);
  assert.equal(p.onRequest?.(ex), undefined);
  return ex.headers.raw;
}

describe('identity_headers policy', () => {
  it('removes X-Authenticated-* and X-Consumer-* in any case and with _ for -', () => {
    const sent = [
      'X-Authenticated-User',
      'x-authenticated-user',
      'X_Authenticated_User',
      'x_authenticated-user',
      'X-AUTHENTICATED_ROLES',
      'X_Consumer_Id',
      'x-consumer_custom_id',
      'X_Authenticated_Anything_Else',
    ];
    for (const withAuth of [undefined, {}]) {
      const out = run(policy(withAuth), [...sent.flatMap((n) => [n, 'forged']), 'Accept', '*/*']);
      assert.deepEqual(out, ['Accept', '*/*'], `auth section ${withAuth ? 'set' : 'absent'}`);
    }
  });

  it('keeps headers whose folded name is unrelated, with their original name and order', () => {
    const raw = [
      'X_Request_Id',
      'r1',
      'X-Authenticated',
      'no trailing dash',
      'X_Consumer',
      'no trailing dash either',
      'X-Authenticatedx-User',
      'v',
      'My_Header',
      'm',
      'x-forwarded-for',
      '10.0.0.1',
    ];
    assert.deepEqual(run(policy({}), [...raw]), raw);
  });

  it('removes configured names, folded the same way (also names configured with _)', () => {
    const p = policy({
      user: 'Remote-User',
      consumer: 'Auth_Consumer',
      strip: ['X-Internal-Flag', '_Odd-Name'],
    });
    const out = run(p, [
      'remote_user',
      'a',
      'REMOTE-USER',
      'b',
      'auth-consumer',
      'c',
      'Auth_Consumer',
      'd',
      'x_internal_flag',
      'e',
      '-odd_name',
      'f',
      '_ODD_NAME',
      'g',
      'Remote-Users',
      'kept',
      'Host',
      'h',
    ]);
    assert.deepEqual(out, ['Remote-Users', 'kept', 'Host', 'h']);
  });

  it('looks closer only when some header starts with x, X or a configured first letter', () => {
    const scans = (p: Policy, raw: string[]): number => {
      const ex = testExchange(raw);
      let calls = 0;
      const scan = ex.headers.deleteWhere.bind(ex.headers);
      ex.headers.deleteWhere = (test) => (calls++, scan(test));
      p.onRequest?.(ex);
      return calls;
    };
    const plain = ['Accept', '*/*', 'Host', 'h', 'user-agent', 'u', 'Remote_User', 'r'];
    assert.equal(scans(policy(undefined), [...plain]), 0);
    assert.equal(scans(policy({}), [...plain]), 0);
    assert.equal(scans(policy({}), [...plain, 'X_Request_Id', 'i']), 1);
    assert.equal(scans(policy({ strip: ['remote-user'] }), [...plain]), 1);
  });
});

describe('identityFirstChars', () => {
  it('holds x/X, both cases of each configured first letter, and _ for a name folding to -', () => {
    const table = identityFirstChars(['remote-user', '-odd-name']);
    const on = [...table.keys()].filter((c) => table[c] === 1).map((c) => String.fromCharCode(c));
    assert.deepEqual(on.sort(), ['-', 'R', 'X', '_', 'r', 'x'].sort());
  });
});

describe('ownedIdentityHeader', () => {
  const names = new Set(['remote-user']);
  for (const [name, owned] of [
    ['X-Authenticated-User', true],
    ['x_authenticated_scopes', true],
    ['X_CONSUMER_ID', true],
    ['Remote_User', true],
    ['x-authenticated', false],
    ['x_request_id', false],
    ['remote-user-x', false],
  ] as const)
    it(`${name} → ${owned}`, () => assert.equal(ownedIdentityHeader(name, names), owned));
});
