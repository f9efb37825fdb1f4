// Pins get, set, remove and rename on nested objects and arrays in both syntaxes: what each reaches, and
// what it creates, shifts, reorders or keeps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath } from './compile-json-path.js';
import { getAll, removeAt, renameAt, setValue, type SetValueOptions } from './json-path-operations.js';

/** A fresh document per case, since every operation but get mutates it. */
function fixture(): Record<string, unknown> {
  return {
    user: { name: 'Ada', tags: ['a', 'b', 'c'], address: null },
    items: [
      {
        id: 1,
        card: { number: '4242 4242 4242 4242', cvc: '123' },
        lines: [
          { sku: 'x', qty: 1 },
          { sku: 'y', qty: 2 },
        ],
      },
      { id: 2, card: { number: 5555555555554444 }, lines: [] },
      { id: 3, lines: [{ sku: 'z', qty: 3 }] },
    ],
    'odd key': { 'x.y': 1 },
    'a/b': { 'm~n': 2 },
    prénom: 'Zoë',
    '😀': { 名前: 'emoji' },
    '': 'empty key',
  };
}

const path = compileJsonPath;

describe('getAll', () => {
  const cases: [string, unknown[]][] = [
    ['user.name', ['Ada']],
    ['items[].id', [1, 2, 3]],
    ['items[].lines[].sku', ['x', 'y', 'z']],
    ['items[].card.number', ['4242 4242 4242 4242', 5555555555554444]],
    ['items[1].id', [2]],
    ['items[9].id', []],
    ['user.tags[]', ['a', 'b', 'c']],
    ['user.address', [null]],
    ['user.address.city', []],
    ['user.name[]', []],
    ['missing[].x', []],
    ['items.0', []],
    ['user.tags.length', []],
    ['user.name.length', []],
    ['toString', []],
    ['user.hasOwnProperty', []],
    ['["odd key"]["x.y"]', [1]],
    ['["a/b"]["m~n"]', [2]],
    ['prénom', ['Zoë']],
    ['😀.名前', ['emoji']],
    ['[""]', ['empty key']],
    ['/a~1b/m~0n', [2]],
    ['/items/0/id', [1]],
    ['/items/2/lines/0/sku', ['z']],
    ['/items/01/id', []],
    ['/items/-', []],
    ['/user/tags/length', []],
    ['/odd key/x.y', [1]],
    ['/', ['empty key']],
    ['/😀/名前', ['emoji']],
  ];
  for (const [expression, expected] of cases) {
    it(JSON.stringify(expression), () => assert.deepEqual(getAll(fixture(), path(expression)), expected));
  }

  it('returns the whole document for the root, and nothing when there is no document', () => {
    const doc = fixture();
    assert.deepEqual(getAll(doc, path('')), [doc]);
    assert.deepEqual(getAll(undefined, path('')), []);
    assert.deepEqual(getAll(undefined, path('a')), []);
    assert.deepEqual(getAll(null, path('a')), []);
  });

  it('reads own keys only, never inherited ones', () => {
    const doc = Object.create({ inherited: 'from prototype' }) as Record<string, unknown>;
    assert.deepEqual(getAll(doc, path('inherited')), []);
  });
});

describe('setValue', () => {
  const cases: [
    string,
    string,
    unknown,
    SetValueOptions,
    (doc: Record<string, unknown>) => unknown,
    unknown,
  ][] = [
    ['overwrites', 'user.name', 'Grace', {}, (d) => getAll(d, path('user.name')), ['Grace']],
    [
      'keeps existing (default)',
      'user.name',
      'Grace',
      { onlyIfMissing: true },
      (d) => d.user,
      fixture().user,
    ],
    ['keeps null (default)', 'user.address', {}, { onlyIfMissing: true }, (d) => d.user, fixture().user],
    ['overwrites null', 'user.address', 'x', {}, (d) => getAll(d, path('user.address')), ['x']],
    [
      'sets a missing default',
      'user.age',
      36,
      { onlyIfMissing: true },
      (d) => getAll(d, path('user.age')),
      [36],
    ],
    ['creates missing objects', 'meta.trace.id', 'abc', {}, (d) => d.meta, { trace: { id: 'abc' } }],
    [
      'below every element, creating where missing',
      'items[].card.brand',
      'visa',
      {},
      (d) => getAll(d, path('items[].card')),
      [
        { number: '4242 4242 4242 4242', cvc: '123', brand: 'visa' },
        { number: 5555555555554444, brand: 'visa' },
        { brand: 'visa' },
      ],
    ],
    [
      'nested wildcards',
      'items[].lines[].qty',
      0,
      {},
      (d) => getAll(d, path('items[].lines[].qty')),
      [0, 0, 0],
    ],
    ['wildcard over a missing key', 'missing[].x', 1, {}, (d) => d, fixture()],
    ['wildcard over a non-array', 'user.name[].x', 1, {}, (d) => d, fixture()],
    ['nothing half-built before an index', 'meta.list[0]', 1, {}, (d) => d, fixture()],
    ['nothing half-built before a wildcard', 'meta.list[].x', 1, {}, (d) => d, fixture()],
    ['not through a string', 'user.name.first', 'x', {}, (d) => d, fixture()],
    ['not through null', 'user.address.city', 'x', {}, (d) => d, fixture()],
    ['an existing element', 'user.tags[1]', 'B', {}, (d) => getAll(d, path('user.tags[]')), ['a', 'B', 'c']],
    [
      'appends at the length',
      'user.tags[3]',
      'd',
      {},
      (d) => getAll(d, path('user.tags[]')),
      ['a', 'b', 'c', 'd'],
    ],
    ['no holes past the length', 'user.tags[5]', 'f', {}, (d) => d, fixture()],
    [
      'keeps an element (default)',
      'user.tags[0]',
      'A',
      { onlyIfMissing: true },
      (d) => getAll(d, path('user.tags[]')),
      ['a', 'b', 'c'],
    ],
    ['every element', 'user.tags[]', 'z', {}, (d) => getAll(d, path('user.tags[]')), ['z', 'z', 'z']],
    ['pointer index', '/user/tags/0', 'A', {}, (d) => getAll(d, path('user.tags[]')), ['A', 'b', 'c']],
    [
      'pointer "-" appends',
      '/user/tags/-',
      'd',
      {},
      (d) => getAll(d, path('user.tags[]')),
      ['a', 'b', 'c', 'd'],
    ],
    ['pointer escapes', '/a~1b/m~0n', 3, {}, (d) => d['a/b'], { 'm~n': 3 }],
    ['pointer creates objects, keys even if numeric', '/meta/0/x', 1, {}, (d) => d.meta, { 0: { x: 1 } }],
    ['a quoted key', '["new.key"]["a b"]', 1, {}, (d) => d['new.key'], { 'a b': 1 }],
    ['a unicode key', '顧客.名前', 'Ada', {}, (d) => d['顧客'], { 名前: 'Ada' }],
  ];
  for (const [name, expression, value, options, read, expected] of cases) {
    it(`${name}: ${expression}`, () => {
      const doc = fixture();
      assert.equal(setValue(doc, path(expression), value, options), doc, 'returns the same document');
      assert.deepEqual(read(doc), expected);
    });
  }

  it('replaces the root unless it exists and only a default is asked for', () => {
    const doc = fixture();
    assert.deepEqual(setValue(doc, path(''), { a: 1 }), { a: 1 });
    assert.equal(setValue(doc, path(''), { a: 1 }, { onlyIfMissing: true }), doc);
    assert.equal(setValue(undefined, path(''), 'x', { onlyIfMissing: true }), 'x');
  });

  it('copies an object value at every place, so a later edit never changes the config value', () => {
    const value = { brand: 'visa', tags: ['x'] };
    const doc = fixture();
    setValue(doc, path('items[].meta'), value);
    const placed = getAll(doc, path('items[].meta'));
    assert.equal(placed.length, 3);
    assert.notEqual(placed[0], value);
    assert.notEqual(placed[0], placed[1]);
    removeAt(doc, path('items[].meta.tags[0]'));
    assert.deepEqual(value, { brand: 'visa', tags: ['x'] });
  });
});

describe('removeAt', () => {
  const cases: [string, number, (doc: Record<string, unknown>) => unknown, unknown][] = [
    ['user.name', 1, (d) => d.user, { tags: ['a', 'b', 'c'], address: null }],
    ['user.address', 1, (d) => Object.keys(d.user as object), ['name', 'tags']],
    ['user.tags[0]', 1, (d) => getAll(d, path('user.tags[]')), ['b', 'c']],
    ['/user/tags/1', 1, (d) => getAll(d, path('user.tags[]')), ['a', 'c']],
    ['user.tags[3]', 0, (d) => getAll(d, path('user.tags[]')), ['a', 'b', 'c']],
    ['user.tags[]', 3, (d) => getAll(d, path('user.tags')), [[]]],
    ['items[1]', 1, (d) => getAll(d, path('items[].id')), [1, 3]],
    ['items[].lines[0]', 2, (d) => getAll(d, path('items[].lines[].sku')), ['y']],
    [
      'items[].lines[].qty',
      3,
      (d) => getAll(d, path('items[].lines[]')),
      [{ sku: 'x' }, { sku: 'y' }, { sku: 'z' }],
    ],
    ['items[].card', 2, (d) => getAll(d, path('items[].card')), []],
    ['/a~1b/m~0n', 1, (d) => d['a/b'], {}],
    ['["odd key"]["x.y"]', 1, (d) => d['odd key'], {}],
    ['😀.名前', 1, (d) => d['😀'], {}],
    ['missing.x', 0, (d) => d, fixture()],
    ['user.name[]', 0, (d) => d, fixture()],
    ['missing[]', 0, (d) => d, fixture()],
    ['toString', 0, (d) => d, fixture()],
    ['/items/-', 0, (d) => d, fixture()],
    ['', 0, (d) => d, fixture()],
  ];
  for (const [expression, count, read, expected] of cases) {
    it(JSON.stringify(expression), () => {
      const doc = fixture();
      assert.equal(removeAt(doc, path(expression)), count);
      assert.deepEqual(read(doc), expected);
    });
  }
});

describe('renameAt', () => {
  const cases: [string, string, number, (doc: Record<string, unknown>) => unknown, unknown][] = [
    ['user.name', 'fullName', 1, (d) => Object.entries(d.user as object)[0], ['fullName', 'Ada']],
    ['user.name', 'fullName', 1, (d) => Object.keys(d.user as object), ['fullName', 'tags', 'address']],
    ['user.tags', 'labels', 1, (d) => Object.keys(d.user as object), ['name', 'labels', 'address']],
    ['user.address', 'name', 1, (d) => d.user, { tags: ['a', 'b', 'c'], name: null }],
    [
      'user.name',
      'address',
      1,
      (d) => Object.entries(d.user as object),
      [
        ['address', 'Ada'],
        ['tags', ['a', 'b', 'c']],
      ],
    ],
    ['user.name', 'name', 1, (d) => d, fixture()],
    [
      'items[].card.number',
      'pan',
      2,
      (d) => getAll(d, path('items[].card')),
      [{ pan: '4242 4242 4242 4242', cvc: '123' }, { pan: 5555555555554444 }],
    ],
    ['items[].lines[].sku', 'code', 3, (d) => getAll(d, path('items[].lines[].code')), ['x', 'y', 'z']],
    ['/a~1b/m~0n', 'mn', 1, (d) => d['a/b'], { mn: 2 }],
    ['😀.名前', 'name', 1, (d) => d['😀'], { name: 'emoji' }],
    ['user.missing', 'x', 0, (d) => d, fixture()],
    ['user.tags[0]', 'x', 0, (d) => d, fixture()],
    ['/user/tags/0', 'x', 0, (d) => d, fixture()],
    ['user.tags[]', 'x', 0, (d) => d, fixture()],
    ['missing[].x', 'y', 0, (d) => d, fixture()],
    ['', 'x', 0, (d) => d, fixture()],
  ];
  for (const [expression, newKey, count, read, expected] of cases) {
    it(`${expression} → ${newKey}`, () => {
      const doc = fixture();
      assert.equal(renameAt(doc, path(expression), newKey), count);
      assert.deepEqual(read(doc), expected);
    });
  }
});
