// The partner token endpoint without a socket: real keys, real Exchanges, real jose. Pins the token's
// claims and every RFC 6749 refusal (error codes, descriptions, status, headers).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { basic, FORM, json, ODD_SECRET, PW, request, SECRET, setup, T0, tokenFor } from './testing.js';

describe('token endpoint: issuing', () => {
  it('client_secret_basic: 200 with an at+jwt Bearer token and no-store headers', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(request('grant_type=client_credentials', basic('acme', SECRET)));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['pragma'], 'no-cache');
    const body = json(res);
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 300);
    assert.equal(body.scope, 'orders:read orders:write');
    const token = body.access_token as string;
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'EdDSA', kid: 'a', typ: 'at+jwt' });
    const claims = decodeJwt(token);
    assert.equal(claims.iss, 'https://api.example.com');
    assert.equal(claims.aud, 'portico');
    assert.equal(claims.sub, 'acme');
    assert.equal(claims.client_id, 'acme');
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + 300);
    assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(claims.scope, 'orders:read orders:write');
    assert.deepEqual(claims.routes, ['orders', 'invoices']);
    assert.notEqual(decodeJwt(await tokenFor(issuer)).jti, claims.jti);
  });

  it('the token verifies: identity from the consumer, scopes and routes from the token', async () => {
    const { issuer } = await setup();
    const result = await issuer.verify(
      await tokenFor(issuer, 'grant_type=client_credentials&scope=orders%3Aread'),
    );
    assert.deepEqual(result, {
      identity: {
        id: 'acme',
        method: 'partner_token',
        configName: 'partner_token',
        tier: 'gold',
        roles: ['partner'],
        scopes: ['orders:read'],
        metadata: { region: 'eu' },
      },
      routes: ['orders', 'invoices'],
    });
  });

  it('client_secret_post with a scrypt secret', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(
      request(`grant_type=client_credentials&client_id=slow&client_secret=${encodeURIComponent(PW)}`),
    );
    assert.equal(res.status, 200);
    const claims = decodeJwt(json(res).access_token as string);
    assert.equal(claims.sub, 'slow');
    assert.deepEqual(claims.routes, ['r']);
  });

  it('Basic credentials are form-urlencoded before base64 (RFC 6749 2.3.1), charset parameter accepted', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(
      request('grant_type=client_credentials', basic('odd.co', ODD_SECRET), `${FORM}; charset=UTF-8`),
    );
    assert.equal(res.status, 200, String(res.body));
    assert.equal(json(res).scope, 'x');
  });

  it('scope narrows the grant; repeated scope tokens count once; none requested grants all', async () => {
    const { issuer } = await setup();
    const cases: readonly (readonly [string, string])[] = [
      ['', 'orders:read orders:write'],
      ['&scope=', 'orders:read orders:write'],
      ['&scope=orders%3Awrite', 'orders:write'],
      ['&scope=orders%3Awrite+orders%3Aread+orders%3Awrite', 'orders:write orders:read'],
    ];
    for (const [extra, granted] of cases) {
      const res = await issuer.handleToken(
        request('grant_type=client_credentials' + extra, basic('acme', SECRET)),
      );
      assert.equal(res.status, 200, extra);
      assert.equal(json(res).scope, granted, extra);
      const verified = await issuer.verify(json(res).access_token as string);
      assert.deepEqual(verified.identity.scopes, granted.split(' '), extra);
    }
  });
});

describe('token endpoint: refusals (RFC 6749 5.2)', () => {
  const GRANT = 'grant_type=client_credentials';
  const cases: readonly {
    readonly name: string;
    readonly body: string;
    readonly headers?: string[];
    readonly contentType?: string | null;
    readonly status: number;
    readonly error: string;
  }[] = [
    {
      name: 'JSON content type',
      body: '{}',
      contentType: 'application/json',
      status: 400,
      error: 'invalid_request',
    },
    { name: 'no content type', body: GRANT, contentType: null, status: 400, error: 'invalid_request' },
    {
      name: 'grant_type missing',
      body: 'scope=x',
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'grant_type empty',
      body: 'grant_type=',
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'grant_type repeated',
      body: `${GRANT}&${GRANT}`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'scope repeated',
      body: `${GRANT}&scope=a&scope=b`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'both credential forms',
      body: `${GRANT}&client_id=acme&client_secret=${SECRET}`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'client_secret without client_id',
      body: `${GRANT}&client_secret=x`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'malformed Basic credentials',
      body: GRANT,
      headers: ['Authorization', 'Basic ' + Buffer.from('no-colon').toString('base64')],
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'two Authorization headers',
      body: GRANT,
      headers: [...basic('acme', SECRET), ...basic('acme', SECRET)],
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'password grant',
      body: 'grant_type=password&username=u&password=p',
      headers: basic('acme', SECRET),
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      name: 'unknown client',
      body: GRANT,
      headers: basic('nobody', SECRET),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'client without client_secret_hash',
      body: GRANT,
      headers: basic('nosecret', SECRET),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'wrong secret (Basic)',
      body: GRANT,
      headers: basic('acme', SECRET + 'x'),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'wrong secret (body, scrypt)',
      body: `${GRANT}&client_id=slow&client_secret=wrong`,
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'client_id without secret',
      body: `${GRANT}&client_id=acme`,
      status: 401,
      error: 'invalid_client',
    },
    { name: 'no client authentication', body: GRANT, status: 401, error: 'invalid_client' },
    {
      name: 'Bearer instead of Basic',
      body: GRANT,
      headers: ['Authorization', 'Bearer abc'],
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'scope not grantable',
      body: `${GRANT}&scope=orders%3Aread+admin`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'malformed scope token',
      body: `${GRANT}&scope=${encodeURIComponent('orders"read')}`,
      headers: basic('acme', SECRET),
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'body over 8 KiB',
      body: `${GRANT}&pad=${'x'.repeat(8_200)}`,
      headers: basic('acme', SECRET),
      status: 413,
      error: 'invalid_request',
    },
    {
      name: 'Content-Length over 8 KiB (not read)',
      body: GRANT,
      headers: ['Content-Length', '9000', ...basic('acme', SECRET)],
      status: 413,
      error: 'invalid_request',
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.error}`, async () => {
      const { issuer } = await setup();
      const res = await issuer.handleToken(
        request(c.body, c.headers ?? [], c.contentType === undefined ? FORM : c.contentType),
      );
      assert.equal(res.status, c.status);
      const body = json(res);
      assert.equal(body.error, c.error);
      assert.equal(typeof body.error_description, 'string');
      // RFC 6749 5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
      assert.match(body.error_description as string, /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.problem, 'token-' + c.error.replace(/_/g, '-'));
      const challenge = c.status === 401 ? 'Basic realm="portico"' : undefined;
      assert.equal(res.headers['www-authenticate'], challenge);
    });
  }

  it('a body stream that fails → 400 invalid_request', async () => {
    const { issuer } = await setup();
    const ex = request('', basic('acme', SECRET));
    ex.requestBody = new Readable({
      read() {
        this.destroy(new Error('client went away'));
      },
    });
    const res = await issuer.handleToken(ex);
    assert.equal(res.status, 400);
    assert.equal(json(res).error, 'invalid_request');
  });

  it('an oversized body is drained, not left paused', async () => {
    const { issuer } = await setup();
    const ex = request('', basic('acme', SECRET));
    const stream = Readable.from(
      (function* () {
        for (let i = 0; i < 20; i++) yield Buffer.alloc(1024, 'x');
      })(),
    );
    ex.requestBody = stream;
    const res = await issuer.handleToken(ex);
    assert.equal(res.status, 413);
    if (!stream.readableEnded) await new Promise<void>((done) => stream.once('end', done));
    assert.equal(stream.readableEnded, true);
  });

  it('non-POST → 405 with Allow: POST', async () => {
    const { issuer } = await setup();
    const res = await issuer.handleToken(request('', [], FORM, 'GET'));
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'POST');
  });
});
