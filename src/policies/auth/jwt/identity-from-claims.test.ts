// Claims → Identity decides who the gateway says the client is: these pin the id, roles (dotted paths,
// lists or strings), scopes (scope or scp) and tier, and that a frozen claims object maps to one identity.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { identityFromClaims, JwtError } from './index.js';
import { claimOf, readClaim } from './identity-from-claims.js';
import { jwtConfig } from './testing.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const base = jwtConfig({ secret: SECRET });

describe('identityFromClaims', () => {
  const cases: readonly (readonly [
    string,
    Record<string, unknown>,
    Record<string, unknown>,
    Record<string, unknown>,
  ])[] = [
    [
      'defaults',
      {},
      { sub: 'alice', roles: ['admin', 'ops'], scope: 'read write' },
      { id: 'alice', roles: ['admin', 'ops'], scopes: ['read', 'write'], tier: undefined },
    ],
    [
      'roles as a space/comma string',
      {},
      { sub: 'a', roles: 'admin, ops  dev' },
      { roles: ['admin', 'ops', 'dev'] },
    ],
    [
      'roles by dotted path',
      { roles_claim: 'realm_access.roles' },
      { sub: 'a', realm_access: { roles: ['x'] } },
      { roles: ['x'] },
    ],
    [
      'a namespaced claim with dots',
      { roles_claim: 'https://example.com/roles' },
      { sub: 'a', 'https://example.com/roles': ['y'] },
      { roles: ['y'] },
    ],
    [
      'a dotted path that leads nowhere',
      { roles_claim: 'realm_access.roles' },
      { sub: 'a', realm_access: 'no' },
      { roles: [] },
    ],
    ['non-string roles dropped', {}, { sub: 'a', roles: ['ok', 1, null, ''] }, { roles: ['ok'] }],
    ['scopes as a list', {}, { sub: 'a', scope: ['read', 'write'] }, { scopes: ['read', 'write'] }],
    ['scp when scope is absent', {}, { sub: 'a', scp: 'read write' }, { scopes: ['read', 'write'] }],
    ['scope wins over scp', {}, { sub: 'a', scope: 'read', scp: ['write'] }, { scopes: ['read'] }],
    [
      'custom scope claim',
      { scope_claim: 'permissions' },
      { sub: 'a', permissions: ['p1'] },
      { scopes: ['p1'] },
    ],
    ['tier', { tier_claim: 'plan' }, { sub: 'a', plan: 'gold' }, { tier: 'gold' }],
    ['non-string tier ignored', { tier_claim: 'plan' }, { sub: 'a', plan: 3 }, { tier: undefined }],
    [
      'custom consumer claim',
      { consumer_claim: 'client_id' },
      { sub: 'a', client_id: 'svc-1' },
      { id: 'svc-1' },
    ],
  ];
  for (const [why, config, claims, expected] of cases) {
    it(why, () => {
      const identity = identityFromClaims('partner', { ...base, ...config }, claims);
      assert.equal(identity.method, 'jwt');
      assert.equal(identity.configName, 'partner');
      assert.deepEqual(identity.metadata, {});
      for (const [k, v] of Object.entries(expected))
        assert.deepEqual(identity[k as keyof typeof identity], v, k);
    });
  }

  it('refuses claims without a string consumer id', () => {
    assert.throws(
      () => identityFromClaims('d', base, { roles: [] }),
      (e) => e instanceof JwtError && e.description === 'missing claim sub',
    );
    assert.throws(() => identityFromClaims('d', base, { sub: '' }), { description: 'invalid claim sub' });
  });

  it('refuses an object or list where a string is expected, naming the claim', () => {
    const refused: readonly (readonly [Record<string, unknown>, Record<string, unknown>, string])[] = [
      [{}, { sub: { a: 1 } }, 'invalid claim sub'],
      [{}, { sub: ['alice'] }, 'invalid claim sub'],
      [{}, { sub: 123 }, 'invalid claim sub'],
      [{}, { sub: 'a', roles: { admin: true } }, 'invalid claim roles'],
      [{}, { sub: 'a', roles: ['ok', { a: 1 }] }, 'invalid claim roles'],
      [{}, { sub: 'a', roles: ['ok', ['nested']] }, 'invalid claim roles'],
      [{}, { sub: 'a', scope: { read: true } }, 'invalid claim scope'],
      [{}, { sub: 'a', scp: [{}] }, 'invalid claim scp'],
      [{ tier_claim: 'plan' }, { sub: 'a', plan: { name: 'gold' } }, 'invalid claim plan'],
      [{ tier_claim: 'plan' }, { sub: 'a', plan: ['gold'] }, 'invalid claim plan'],
      [
        { roles_claim: 'realm_access.roles' },
        { sub: 'a', realm_access: { roles: {} } },
        'invalid claim realm_access.roles',
      ],
    ];
    for (const [config, claims, description] of refused)
      assert.throws(
        () => identityFromClaims('d', { ...base, ...config }, claims),
        (e) => e instanceof JwtError && e.kind === 'invalid' && e.description === description,
        JSON.stringify(claims),
      );
  });

  it('keeps control characters inside the values (only spaces and commas separate), for the auth policy to refuse', () => {
    const identity = identityFromClaims('d', base, {
      sub: 'alice\u0000',
      roles: 'a\r\nX-Evil: 1',
      scope: 'read\twrite',
    });
    assert.equal(identity.id, 'alice\u0000');
    assert.deepEqual(identity.roles, ['a\r\nX-Evil:', '1']);
    assert.deepEqual(identity.scopes, ['read\twrite']);
  });

  it('names the claim a field came from', () => {
    const config = { ...base, tier_claim: 'plan', roles_claim: 'realm_access.roles' };
    const fromScope = identityFromClaims('d', config, { sub: 'a', scope: 'x' });
    const fromScp = identityFromClaims('d', config, { sub: 'a', scp: ['x'] });
    assert.equal(claimOf(config, fromScope, 'scopes'), 'scope');
    assert.equal(claimOf(config, fromScp, 'scopes'), 'scp');
    assert.equal(claimOf(config, fromScp, 'id'), 'sub');
    assert.equal(claimOf(config, fromScp, 'roles'), 'realm_access.roles');
    assert.equal(claimOf(config, fromScp, 'tier'), 'plan');
  });

  it('returns the same identity for the same frozen claims and config', () => {
    const claims = Object.freeze({ sub: 'a', roles: Object.freeze(['x']) });
    const first = identityFromClaims('d', base, claims);
    assert.equal(identityFromClaims('d', base, claims), first);
    assert.notEqual(identityFromClaims('other', base, claims), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.roles));
  });

  it('reads no inherited property through a dotted path', () => {
    assert.equal(readClaim({ a: {} }, 'a.constructor'), undefined);
    assert.equal(readClaim({}, 'toString'), undefined);
  });
});
