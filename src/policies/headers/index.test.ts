// Header edits are how a route adds, replaces or hides headers on both sides; these pin the remove → set → add order, case-insensitivity and the refusal to touch headers the gateway itself manages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayResponse, type ResponseHeaders } from '../../pipeline/gateway-response.js';
import { type Policy, PolicyConfigError } from '../../pipeline/policy.js';
import { headers, type HeadersConfig } from './index.js';
import { testContext, testExchange } from '../../pipeline/testing.js';

const ctx = testContext();

const exchange = testExchange;

function create(config: HeadersConfig): Policy {
  return headers.create(config, ctx);
}

describe('headers policy: request edits', () => {
  it('removes, then sets, then adds, matching names in any case', () => {
    const policy = create({
      request: {
        remove: ['x-remove', 'X-Both'],
        set: { 'X-Both': 'set', 'x-set': 'new' },
        add: { 'X-Both': 'added', Via: 'portico' },
      },
    });
    const ex = exchange([
      'X-Remove',
      'a',
      'x-both',
      'client',
      'X-Set',
      'old',
      'X-SET',
      'older',
      'Via',
      '1.1 proxy',
      'Keep',
      'k',
    ]);
    assert.equal(policy.onRequest?.(ex), undefined, 'continues the request');
    const h = ex.headers;
    assert.equal(h.get('x-remove'), undefined);
    assert.deepEqual(h.getAll('x-both'), ['set', 'added'], 'set after remove, add after set');
    assert.deepEqual(h.getAll('x-set'), ['new'], 'set replaces every value, whatever its case');
    assert.deepEqual(h.getAll('via'), ['1.1 proxy', 'portico'], 'add keeps what the client sent');
    assert.equal(h.get('keep'), 'k');
  });

  it('does not touch the response when only the request is edited', () => {
    const policy = create({ request: { set: { 'X-A': 'a' } } });
    assert.equal(typeof policy.onRequest, 'function');
    assert.equal(policy.onResponse, undefined);
  });

  it('has no hooks at all when there is nothing to do', () => {
    for (const config of [
      {},
      { request: {} },
      { request: { set: {}, add: {}, remove: [] } },
      { response: { remove: [] } },
    ]) {
      const policy = create(config);
      assert.equal(policy.onRequest, undefined, JSON.stringify(config));
      assert.equal(policy.onResponse, undefined, JSON.stringify(config));
    }
  });
});

describe('headers policy: response edits', () => {
  it('removes, then sets, then adds on the lower-case response header map', () => {
    const policy = create({
      response: {
        remove: ['X-Powered-By', 'X-Both'],
        set: { 'X-Frame-Options': 'DENY', 'X-Both': 'set' },
        add: { Vary: 'Accept-Encoding', 'X-Both': 'added', 'Set-Cookie': 'b=2', 'X-New': 'n' },
      },
    });
    assert.equal(policy.onRequest, undefined);
    const responseHeaders: ResponseHeaders = {
      'x-powered-by': 'express',
      'x-both': 'upstream',
      vary: 'Accept',
      'set-cookie': ['a=1'],
      'content-type': 'text/plain',
    };
    const res = gatewayResponse(200, responseHeaders, null);
    assert.equal(policy.onResponse?.(exchange([]), res), undefined, 'edits in place');
    assert.deepEqual(res.headers, {
      'x-both': ['set', 'added'],
      vary: ['Accept', 'Accept-Encoding'],
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'text/plain',
      'x-frame-options': 'DENY',
      'x-new': 'n',
    });
  });
});

describe('headers policy: headers the gateway manages', () => {
  const requestProtected = [
    'Host',
    'content-length',
    'Transfer-Encoding',
    'Connection',
    'Keep-Alive',
    'Upgrade',
    'TE',
    'Trailer',
    'Expect',
  ];
  const responseProtected = [
    'Content-Length',
    'transfer-encoding',
    'Connection',
    'Keep-Alive',
    'Upgrade',
    'Trailer',
  ];
  const cases: [HeadersConfig, readonly (string | number)[], string][] = [
    ...requestProtected.map((n): [HeadersConfig, (string | number)[], string] => [
      { request: { set: { [n]: 'x' } } },
      ['request', 'set', n],
      n,
    ]),
    ...requestProtected.map((n): [HeadersConfig, (string | number)[], string] => [
      { request: { add: { [n]: 'x' } } },
      ['request', 'add', n],
      n,
    ]),
    ...requestProtected.map((n): [HeadersConfig, (string | number)[], string] => [
      { request: { remove: ['X-Ok', n] } },
      ['request', 'remove', 1],
      n,
    ]),
    ...responseProtected.map((n): [HeadersConfig, (string | number)[], string] => [
      { response: { set: { [n]: 'x' } } },
      ['response', 'set', n],
      n,
    ]),
    ...responseProtected.map((n): [HeadersConfig, (string | number)[], string] => [
      { response: { remove: [n] } },
      ['response', 'remove', 0],
      n,
    ]),
  ];
  for (const [config, path, name] of cases) {
    it(`refuses ${JSON.stringify(config)} at ${path.join('.')}`, () => {
      assert.throws(
        () => create(config),
        (err: unknown) =>
          err instanceof PolicyConfigError &&
          err.message === `the gateway manages "${name}"; it cannot be edited here` &&
          JSON.stringify(err.path) === JSON.stringify(path),
      );
    });
  }

  it('allows response headers that only the request side protects', () => {
    const policy = create({ response: { set: { Host: 'x', Expect: 'y', TE: 'z' } } });
    const res = gatewayResponse(200, {}, null);
    policy.onResponse?.(exchange([]), res);
    assert.deepEqual(res.headers, { host: 'x', expect: 'y', te: 'z' });
  });
});
