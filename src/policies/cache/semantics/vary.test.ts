// Vary: which request fields select a stored response, and their key-safe serialization (RFC 9111 §4.1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeFieldValue, varySpec, varyValues } from './vary.js';

describe('varySpec', () => {
  const cases: readonly (readonly [
    vary: string | readonly string[] | undefined,
    declared: readonly string[],
    expected: string[] | '*',
  ])[] = [
    [undefined, [], []],
    ['', [], []],
    ['Accept-Encoding', [], ['accept-encoding']],
    [' Accept-Encoding , accept-language ', [], ['accept-encoding', 'accept-language']],
    ['Accept-Language,ACCEPT-ENCODING,accept-language', [], ['accept-encoding', 'accept-language']],
    [['Origin', 'Accept'], [], ['accept', 'origin']],
    [',, ,', [], []],
    ['Accept', ['X-Tenant', 'accept'], ['accept', 'x-tenant']],
    [undefined, ['X-Tenant'], ['x-tenant']],
    ['*', [], '*'],
    [' * ', [], '*'],
    ['Accept, *', [], '*'],
    [['Accept', '*'], [], '*'],
    ['Accept', ['*'], '*'],
    ['Accept Encoding', [], '*'],
    ['Accept;q=1', [], '*'],
  ];
  for (const [vary, declared, expected] of cases) {
    it(`${JSON.stringify(vary)} + ${JSON.stringify(declared)}`, () => {
      assert.deepEqual(varySpec(vary, declared), expected);
    });
  }
});

describe('varyValues', () => {
  const spec = ['accept-encoding', 'x-tenant'];
  const values = (headers: Readonly<Record<string, string>>) => varyValues(spec, (name) => headers[name]);
  const cases: readonly (readonly [
    name: string,
    headers: Readonly<Record<string, string>>,
    expected: string,
  ])[] = [
    ['both present', { 'accept-encoding': 'gzip', 'x-tenant': 'acme' }, 'accept-encoding=gzip&x-tenant=acme'],
    ['one missing', { 'accept-encoding': 'gzip' }, 'accept-encoding=gzip&x-tenant'],
    ['one empty', { 'accept-encoding': 'gzip', 'x-tenant': '' }, 'accept-encoding=gzip&x-tenant='],
    ['both missing', {}, 'accept-encoding&x-tenant'],
    ['separators escaped', { 'x-tenant': 'a&b=c%d' }, 'accept-encoding&x-tenant=a%26b%3Dc%25d'],
    ['list commas escaped', { 'accept-encoding': 'gzip, br' }, 'accept-encoding=gzip%2Cbr&x-tenant'],
    ['spaces escaped', { 'x-tenant': 'a b' }, 'accept-encoding&x-tenant=a%20b'],
    ['non-Latin-1', { 'x-tenant': '\u20ac' }, 'accept-encoding&x-tenant=%u20AC'],
    ['Latin-1', { 'x-tenant': '\u00e9' }, 'accept-encoding&x-tenant=%E9'],
  ];
  for (const [name, headers, expected] of cases) {
    it(name, () => {
      assert.equal(values(headers), expected);
    });
  }

  it('gives equivalent list spellings one value', () => {
    const spellings = ['gzip,br', 'gzip, br', ' gzip ,br ', 'gzip ,  br', 'gzip,\tbr'];
    const keys = new Set(spellings.map((value) => values({ 'accept-encoding': value })));
    assert.equal(keys.size, 1);
  });

  it('keeps apart what differs: case, order, inner spaces, escapes', () => {
    const distinct = ['gzip', 'GZIP', 'br,gzip', 'gzip,br', 'gzip br', 'gzip%2Cbr', '%26', '&', ''];
    const keys = new Set(distinct.map((value) => values({ 'accept-encoding': value })));
    keys.add(values({}));
    assert.equal(keys.size, distinct.length + 1);
  });

  it('is empty for an empty spec', () => {
    assert.equal(
      varyValues([], () => 'x'),
      '',
    );
  });
});

describe('normalizeFieldValue', () => {
  const cases: readonly (readonly [value: string, expected: string])[] = [
    ['', ''],
    ['  gzip  ', 'gzip'],
    ['gzip , br', 'gzip,br'],
    ['a ,\t, b', 'a,,b'],
    ['text/html;  q=0.5', 'text/html;  q=0.5'],
    ['a; x="p , q", b', 'a; x="p , q",b'],
    ['a; x="p \\" , q" , b', 'a; x="p \\" , q",b'],
    ['a; x="open , ', 'a; x="open , '],
    ['en-US, fr;q=0.5', 'en-US,fr;q=0.5'],
  ];
  for (const [value, expected] of cases) {
    it(`${JSON.stringify(value)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizeFieldValue(value), expected);
    });
  }
});
