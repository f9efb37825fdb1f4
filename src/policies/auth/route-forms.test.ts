// The route keys `auth_required` and `forward_token`, folded into the route's `auth:` by the auth policy:
// which methods `auth_required: true` stands for, the contradictions it reports (at the route's own keys),
// how `forward_token` joins each form of `auth:`, and that a route with nothing to fold is returned as is.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { RouteView, SectionPath } from '../../pipeline/policy.js';
import { auth } from './index.js';
import { authRouteKeys, normalizeAuthRoute } from './route-forms.js';
import type { Consumer } from './schema.js';

const KEY_HASH = `sha256:${'a'.repeat(64)}`;
const PASSWORD_HASH = `$2b$04$${'x'.repeat(53)}`;

function consumer(c: Partial<Consumer> & { id: string }): Consumer {
  return { roles: [], scopes: [], metadata: {}, api_keys: [], token_scopes: [], token_routes: [], ...c };
}

interface Sections {
  readonly auth?: unknown;
  readonly consumers?: readonly Consumer[];
}

/** Runs normalizeAuthRoute on `route` with these sections; returns the result and the errors reported. */
function normalize(
  route: RouteView,
  sections: Sections = {},
): { route: RouteView; errors: [SectionPath, string][] } {
  const errors: [SectionPath, string][] = [];
  const out = normalizeAuthRoute(route, {
    section: (name) => (sections as Record<string, unknown>)[name],
    error: (path, message) => errors.push([path, message]),
  });
  return { route: out, errors };
}

const JWT = { auth: { jwt: { default: { secret: 'x' } } } };
const KEYS = { consumers: [consumer({ id: 'k', api_keys: [KEY_HASH] })] };
const PASSWORDS = { consumers: [consumer({ id: 'p', password_hash: PASSWORD_HASH })] };
const BASE = { name: 'r', path: '/r', upstream: 'http://127.0.0.1:1' };

describe('auth route keys: the definition', () => {
  it('declares auth_required and forward_token as optional booleans, and its normalizeRoute', () => {
    assert.equal(auth.routeKeys, authRouteKeys);
    assert.equal(auth.normalizeRoute, normalizeAuthRoute);
    assert.deepEqual(Object.keys(authRouteKeys), ['auth_required', 'forward_token']);
    for (const schema of Object.values(authRouteKeys)) {
      assert.equal(schema.type, 'boolean');
      assert.equal(typeof schema.description, 'string');
      assert.equal(Value.Check(schema, true), true);
      assert.equal(Value.Check(schema, 'yes'), false);
    }
  });
});

describe('auth_required: true', () => {
  it('stands for jwt when auth.jwt.default is configured', () => {
    const { route, errors } = normalize({ ...BASE, auth_required: true }, JWT);
    assert.deepEqual(errors, []);
    assert.equal(route['auth'], 'jwt');
  });

  it('stands for api_key when a consumer has API keys', () => {
    const { route, errors } = normalize({ ...BASE, auth_required: true }, KEYS);
    assert.deepEqual(errors, []);
    assert.equal(route['auth'], 'api_key');
  });

  it('stands for basic when a consumer has a password', () => {
    const { route, errors } = normalize({ ...BASE, auth_required: true }, PASSWORDS);
    assert.deepEqual(errors, []);
    assert.equal(route['auth'], 'basic');
  });

  it('stands for every configured method, in the order jwt, api_key, basic', () => {
    const sections = { ...JWT, consumers: [...KEYS.consumers, ...PASSWORDS.consumers] };
    const { route, errors } = normalize({ ...BASE, auth_required: true }, sections);
    assert.deepEqual(errors, []);
    assert.deepEqual(route['auth'], ['jwt', 'api_key', 'basic']);
  });

  it('a named JWT config other than default, or consumers without credentials, do not count', () => {
    const sections = {
      auth: { jwt: { partners: { secret: 'x' } } },
      consumers: [consumer({ id: 'c' })],
    };
    const { errors } = normalize({ ...BASE, auth_required: true }, sections);
    assert.equal(errors.length, 1);
  });

  it('with no way to authenticate: an error at auth_required, and the route as it is', () => {
    const input = { ...BASE, auth_required: true };
    for (const sections of [{}, { auth: {}, consumers: [] }]) {
      const { route, errors } = normalize(input, sections);
      assert.equal(route, input);
      assert.deepEqual(errors, [
        [
          ['auth_required'],
          'auth_required needs a way to authenticate: auth.jwt.default, or consumers with api_keys or password_hash',
        ],
      ]);
    }
  });

  it("leaves a route's own auth: alone", () => {
    const input = { ...BASE, auth_required: true, auth: 'basic' };
    const { route, errors } = normalize(input, JWT);
    assert.deepEqual(errors, []);
    assert.equal(route, input);
  });
});

describe('auth_required: false', () => {
  it("contradicts the route's auth: (an error at auth_required)", () => {
    for (const value of [
      'jwt',
      ['jwt', 'api_key'],
      { methods: ['jwt'], optional: true, forward_token: false },
    ]) {
      const input = { ...BASE, auth_required: false, auth: value };
      const { route, errors } = normalize(input, JWT);
      assert.equal(route, input);
      assert.deepEqual(errors, [[['auth_required'], "auth_required: false contradicts the route's auth:"]]);
    }
  });

  it('agrees with no auth: or auth: false', () => {
    for (const input of [
      { ...BASE, auth_required: false },
      { ...BASE, auth_required: false, auth: false },
    ]) {
      const { route, errors } = normalize(input, JWT);
      assert.deepEqual(errors, []);
      assert.equal(route, input);
    }
  });
});

describe('forward_token: true', () => {
  it('turns a method into the object form', () => {
    const { route, errors } = normalize({ ...BASE, forward_token: true, auth: 'jwt' }, JWT);
    assert.deepEqual(errors, []);
    assert.deepEqual(route['auth'], { methods: ['jwt'], optional: false, forward_token: true });
  });

  it('turns a list into the object form', () => {
    const { route } = normalize({ ...BASE, forward_token: true, auth: ['jwt', 'basic'] }, JWT);
    assert.deepEqual(route['auth'], { methods: ['jwt', 'basic'], optional: false, forward_token: true });
  });

  it('joins the object form, keeping its other settings', () => {
    const value = { methods: ['api_key'], optional: true, forward_token: false };
    const { route, errors } = normalize({ ...BASE, forward_token: true, auth: value }, KEYS);
    assert.deepEqual(errors, []);
    assert.deepEqual(route['auth'], { methods: ['api_key'], optional: true, forward_token: true });
    assert.deepEqual(value.forward_token, false, 'the config object is not changed');
  });

  it('joins the auth: that auth_required: true stands for', () => {
    const { route, errors } = normalize({ ...BASE, auth_required: true, forward_token: true }, JWT);
    assert.deepEqual(errors, []);
    assert.deepEqual(route['auth'], { methods: ['jwt'], optional: false, forward_token: true });
  });

  it('without auth: (or with auth: false) is an error at forward_token, and the route as it is', () => {
    for (const input of [
      { ...BASE, forward_token: true },
      { ...BASE, forward_token: true, auth: false },
    ]) {
      const { route, errors } = normalize(input, JWT);
      assert.equal(route, input);
      assert.deepEqual(errors, [[['forward_token'], 'forward_token needs auth: on the route']]);
    }
  });

  it('when auth_required: true has nothing to stand for, only auth_required is reported', () => {
    const input = { ...BASE, auth_required: true, forward_token: true };
    const { route, errors } = normalize(input);
    assert.equal(route, input);
    assert.deepEqual(
      errors.map(([path]) => path),
      [['auth_required']],
    );
  });
});

describe('routes with nothing to fold', () => {
  it('are returned as they are (the same object)', () => {
    for (const input of [
      { ...BASE },
      { ...BASE, auth: 'jwt' },
      { ...BASE, forward_token: false, auth: ['jwt'] },
      { ...BASE, auth_required: false, forward_token: false },
    ]) {
      const { route, errors } = normalize(input, JWT);
      assert.deepEqual(errors, []);
      assert.equal(route, input);
    }
  });

  it('a new route object keeps every other key', () => {
    const input = { ...BASE, auth_required: true, headers: { request: { set: { a: 'b' } } } };
    const { route } = normalize(input, JWT);
    assert.notEqual(route, input);
    assert.deepEqual(route, { ...input, auth: 'jwt' });
  });
});
