// Load-time checks and per-request behaviour of the header and body field operations.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyConfigError, PolicyConfigErrors } from '../../pipeline/policy.js';
import { testContext, testExchange } from '../../pipeline/testing.js';
import { transform } from './index.js';
import { applyBodyOps, compileBodyOps } from './body-ops.js';
import { applyRequestHeaderOps, applyResponseHeaderOps, compileHeaderOps } from './header-ops.js';

function refuses(f: () => unknown, message: RegExp, path: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof PolicyConfigError, String(err));
    assert.match(err.message, message);
    assert.equal(err.path.join('.'), path);
    return true;
  });
}

describe('header operations', () => {
  it('run remove, rename, set, add on the request, with templates', () => {
    const ops = compileHeaderOps(
      {
        add_headers: { 'X-Client-Type': 'legacy' },
        remove_headers: ['X-Debug'],
        headers: { rename: { 'X-Old': 'X-New' }, add: { 'X-Via': '${method} ${header.x-new}' } },
      },
      'request',
      ['request'],
    )!;
    const ex = testExchange([
      'X-Debug',
      '1',
      'x-old',
      'a',
      'X-Old',
      'b',
      'X-New',
      'gone',
      'X-Client-Type',
      'web',
    ]);
    applyRequestHeaderOps(ops, ex);
    assert.deepEqual(ex.headers.raw, [
      'X-New',
      'a',
      'X-New',
      'b',
      'X-Client-Type',
      'legacy',
      'X-Via',
      'GET a, b',
    ]);
  });

  it('edit response headers by lowercase name', () => {
    const ops = compileHeaderOps(
      { headers: { rename: { 'X-A': 'X-B' }, add: { Vary: 'Accept' }, set: { 'X-Trace': '${trace_id}' } } },
      'response',
      ['response'],
    )!;
    const ex = testExchange([]);
    ex.traceId = 'abc';
    const h: Record<string, string | string[]> = { 'x-a': '1', vary: 'Origin' };
    applyResponseHeaderOps(ops, ex, h);
    assert.deepEqual(h, { 'x-b': '1', vary: ['Origin', 'Accept'], 'x-trace': 'abc' });
  });

  it('refuse headers the gateway manages and bad templates, naming the key', () => {
    refuses(
      () => compileHeaderOps({ add_headers: { Host: 'x' } }, 'request', ['request']),
      /manages "Host"/,
      'request.add_headers.Host',
    );
    refuses(
      () => compileHeaderOps({ headers: { remove: ['Content-Length'] } }, 'response', ['response']),
      /manages "Content-Length"/,
      'response.headers.remove.0',
    );
    refuses(
      () => compileHeaderOps({ headers: { set: { 'X-A': '${nope}' } } }, 'request', ['request']),
      /valid sources/,
      'request.headers.set.X-A',
    );
  });
});

describe('body operations', () => {
  it('run rename, remove, default, set, mask in that order', () => {
    const ops = compileBodyOps(
      {
        rename: { 'a.old': 'new' },
        remove: ['/secret'],
        default: { 'meta.source': 'gateway', n: 1 },
        set: { who: '${consumer.id:-anonymous}', list: [1, { x: 2 }] },
        mask: ['card', { path: 'items[].pin', redact: true }],
      },
      ['request'],
    )!;
    const doc = { a: { old: 1, z: 2 }, secret: 's', n: 0, card: '4242424242424242', items: [{ pin: 1234 }] };
    const out = applyBodyOps(doc, ops, testExchange([]));
    assert.deepEqual(out, {
      a: { new: 1, z: 2 },
      n: 0,
      card: '************4242',
      items: [{ pin: '[REDACTED]' }],
      meta: { source: 'gateway' },
      who: 'anonymous',
      list: [1, { x: 2 }],
    });
    assert.deepEqual(Object.keys((out as { a: object }).a), ['new', 'z'], 'rename keeps the key order');
  });

  it('copy constant objects so one request cannot change the next', () => {
    const ops = compileBodyOps({ set: { list: [1] } }, ['request'])!;
    const first = applyBodyOps({}, ops, testExchange([])) as { list: number[] };
    first.list.push(2);
    assert.deepEqual(applyBodyOps({}, ops, testExchange([])), { list: [1] });
  });

  it('refuse bad paths, refused keys and contradictory masks, naming the key', () => {
    refuses(
      () => compileBodyOps({ remove: ['a..b'] }, ['response']),
      /field path "a\.\.b"/,
      'response.remove.0',
    );
    refuses(
      () => compileBodyOps({ remove: [''] }, ['response']),
      /below the document root|expected/,
      'response.remove.0',
    );
    refuses(
      () => compileBodyOps({ rename: { a: '__proto__' } }, ['response']),
      /cannot be a key/,
      'response.rename.a',
    );
    refuses(
      () => compileBodyOps({ set: { '__proto__.x': 1 } }, ['response']),
      /__proto__/,
      'response.set.__proto__.x',
    );
    refuses(
      () => compileBodyOps({ set: { a: { b: ['x\u0001'] } } }, ['response']),
      /control characters/,
      'response.set.a',
    );
    refuses(
      () => compileBodyOps({ mask: [{ path: 'a', redact: true, keep_last: 2 }] }, ['response']),
      /redact replaces the whole value/,
      'response.mask.0',
    );
    refuses(
      () => compileBodyOps({ mask: [{ path: 'a', replacement: 'x' }] }, ['response']),
      /replacement needs redact/,
      'response.mask.0',
    );
  });
});

describe('transform config errors', () => {
  it('reports every broken part of one transform at once, each with its own path', () => {
    const config = {
      max_body_bytes: 1024,
      on_invalid_body: 'pass' as const,
      request: { path: { pattern: '^/(a)', replace: '/$2' }, headers: { set: { Host: 'x' } } },
      response: { mask: ['a..b'], wrap_json: '__proto__' },
    };
    assert.throws(
      () => transform.create(config, testContext()),
      (err: unknown) => {
        assert.ok(err instanceof PolicyConfigErrors, String(err));
        assert.deepEqual(err.errors.map((e) => e.path.join('.')).sort(), [
          'request.headers.set.Host',
          'request.path.replace',
          'response.mask.0',
          'response.wrap_json',
        ]);
        return true;
      },
    );
  });

  it('a single mistake is a plain PolicyConfigError', () => {
    const config = { max_body_bytes: 1024, on_invalid_body: 'pass' as const, response: { mask: ['a..b'] } };
    assert.throws(() => transform.create(config, testContext()), PolicyConfigError);
  });
});
