// Idempotency and order keys from headers and JSON body fields; absent values give no key; the body is
// parsed only when a template reads it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileKeyTemplate, type KeySource } from './key-template.js';

function source(headers: Record<string, string>, body: unknown): KeySource & { parsed: number } {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const s = {
    parsed: 0,
    header: (n: string) => lower.get(n),
    json: () => {
      s.parsed++;
      return body;
    },
  };
  return s;
}

describe('webhook key templates', () => {
  it('reads a header (any case) and text around it, without parsing the body', () => {
    const t = compileKeyTemplate('shop-${header.X-Shop-Id}');
    const s = source({ 'x-shop-id': '42' }, { a: 1 });
    assert.equal(t.read(s), 'shop-42');
    assert.equal(t.readsBody, false);
    assert.equal(s.parsed, 0);
  });

  it('reads nested body fields, strings and numbers, and gives none for absent, empty or other values', () => {
    const t = compileKeyTemplate('${body.data.object.id}:${body.type}');
    assert.equal(t.read(source({}, { type: 'charge', data: { object: { id: 7 } } })), '7:charge');
    assert.equal(t.read(source({}, { type: 'charge', data: {} })), undefined);
    assert.equal(t.read(source({}, { type: '', data: { object: { id: 7 } } })), undefined);
    assert.equal(t.read(source({}, { type: { x: 1 }, data: { object: { id: 7 } } })), undefined);
    assert.equal(t.read(source({}, 'not an object')), undefined);
    assert.equal(t.read(source({}, { type: 'x', data: { object: { id: [1] } } })), undefined);
    assert.equal(t.readsBody, true);
  });

  it('does not read inherited properties, and cuts very long keys', () => {
    assert.equal(compileKeyTemplate('${body.constructor}').read(source({}, {})), undefined);
    const long = compileKeyTemplate('${header.X-Id}').read(source({ 'x-id': 'a'.repeat(2000) }, null));
    assert.equal(long?.length, 512);
  });

  it('refuses a template without a slot', () => {
    assert.throws(() => compileKeyTemplate('constant'), /no \$\{header/);
  });
});
