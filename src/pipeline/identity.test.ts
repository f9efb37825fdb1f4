// identityFault is the last check before an identity becomes upstream headers: these pin which values pass
// (visible ASCII, space, Latin-1) and which refuse the identity (control characters, DEL, non-Latin-1, wrong
// types, an empty id), and which field is named.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { identityFault, isHeaderSafe, type Identity } from './identity.js';

const good: Identity = Object.freeze({
  id: 'alice',
  method: 'jwt',
  configName: 'default',
  tier: 'gold',
  roles: ['admin', 'ops team'],
  scopes: ['orders:read'],
  metadata: {},
});

describe('isHeaderSafe', () => {
  for (const v of ['alice', 'a b', 'José', 'ü\u00ff', '!#$%&*+-.^_`|~', 'x:y=z,"q"'])
    it(`accepts ${JSON.stringify(v)}`, () => assert.equal(isHeaderSafe(v), true));
  for (const v of [
    'a\r\nX-Evil: 1',
    'a\n',
    'a\r',
    'a\u0000',
    '\u0001',
    'a\tb',
    '\u001f',
    'del\u007f',
    'Łukasz',
    '日本',
    '😀',
  ])
    it(`refuses ${JSON.stringify(v)}`, () => assert.equal(isHeaderSafe(v), false));
  for (const v of [1, null, undefined, {}, ['a'], true])
    it(`refuses the non-string ${JSON.stringify(v)}`, () => assert.equal(isHeaderSafe(v), false));
});

describe('identityFault', () => {
  it('passes an identity whose every value can be a header', () => {
    assert.equal(identityFault(good), undefined);
    assert.equal(identityFault({ ...good, tier: undefined, roles: [], scopes: [] }), undefined);
  });
  const cases: readonly [string, Partial<Record<keyof Identity, unknown>>, string][] = [
    ['an id with CR LF', { id: 'alice\r\nX-Evil: 1' }, 'id'],
    ['an id with NUL', { id: 'alice\u0000' }, 'id'],
    ['an empty id', { id: '' }, 'id'],
    ['a number id', { id: 123 }, 'id'],
    ['an object id', { id: { a: 1 } }, 'id'],
    ['a tier with DEL', { tier: 'gold\u007f' }, 'tier'],
    ['an object tier', { tier: {} }, 'tier'],
    ['a role with CR LF', { roles: ['ok', 'a\r\nX-Evil: 1'] }, 'roles'],
    ['a non-string role', { roles: [['nested']] }, 'roles'],
    ['a scope with a tab', { scopes: ['read\twrite'] }, 'scopes'],
    ['a scope beyond Latin-1', { scopes: ['読む'] }, 'scopes'],
    ['the id first when several are bad', { id: 'a\n', roles: ['b\n'] }, 'id'],
  ];
  for (const [why, change, field] of cases)
    it(`names ${field} for ${why}`, () =>
      assert.equal(identityFault({ ...good, ...change } as unknown as Identity), field));
});
