// Pins both path syntaxes, accepted and refused, with the exact message and character the gateway reports
// as a config error, and the refusal of prototype keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileJsonPath, type CompileJsonPathOptions } from './compile-json-path.js';
import { JsonPathError, type JsonPathSegment } from './json-path.js';

const key = (k: string, arrayIndex?: number | 'end'): JsonPathSegment =>
  arrayIndex === undefined ? { kind: 'key', key: k } : { kind: 'key', key: k, arrayIndex };
const index = (i: number): JsonPathSegment => ({ kind: 'index', index: i });
const each: JsonPathSegment = { kind: 'each' };

describe('compileJsonPath: accepted dotted paths', () => {
  const cases: [string, JsonPathSegment[]][] = [
    ['a', [key('a')]],
    ['a.b.c', [key('a'), key('b'), key('c')]],
    ['items[].card.number', [key('items'), each, key('card'), key('number')]],
    ['items[0].id', [key('items'), index(0), key('id')]],
    ['a[][12][]', [key('a'), each, index(12), each]],
    ['a.0', [key('a'), key('0')]],
    ['[]', [each]],
    ['[3].x', [index(3), key('x')]],
    ['["odd key"]', [key('odd key')]],
    ["['x.y'].z", [key('x.y'), key('z')]],
    ['a["b.c"]["d[e]"][\'f"g\']', [key('a'), key('b.c'), key('d[e]'), key('f"g')]],
    ['[""]', [key('')]],
    ['["q\\"uote"]', [key('q"uote')]],
    ["['it\\'s']", [key("it's")]],
    ['["tab\\there\\\\"]', [key('tab\there\\')]],
    ['["\\u00e9t\\u00E9"]', [key('été')]],
    ['["\\uD83D\\uDE00"]', [key('😀')]],
    ['données.prénom', [key('données'), key('prénom')]],
    ['名前.値', [key('名前'), key('値')]],
    ['😀.x', [key('😀'), key('x')]],
    ['$ref.@id.content-type', [key('$ref'), key('@id'), key('content-type')]],
    ['a/b~c', [key('a/b~c')]],
    ['["__proto__x"].protos', [key('__proto__x'), key('protos')]],
    [`a[${2 ** 32 - 2}]`, [key('a'), index(2 ** 32 - 2)]],
  ];
  for (const [expression, segments] of cases) {
    it(JSON.stringify(expression), () => {
      const path = compileJsonPath(expression);
      assert.deepEqual(path.segments, segments);
      assert.equal(path.source, expression);
      assert.equal(path.syntax, 'dotted');
    });
  }
});

describe('compileJsonPath: accepted JSON Pointers (RFC 6901)', () => {
  const cases: [string, JsonPathSegment[]][] = [
    ['', []],
    ['/', [key('')]],
    ['//', [key(''), key('')]],
    ['/a/b/0', [key('a'), key('b'), key('0', 0)]],
    ['/items/12/id', [key('items'), key('12', 12), key('id')]],
    ['/items/-', [key('items'), key('-', 'end')]],
    ['/01', [key('01')]],
    ['/1e3', [key('1e3')]],
    [`/${2 ** 32 - 1}`, [key(String(2 ** 32 - 1))]],
    ['/a~1b/m~0n', [key('a/b'), key('m~n')]],
    ['/~01', [key('~1')]],
    ['/~10', [key('/0')]],
    ['/a b/ü/😀/[]/x.y', [key('a b'), key('ü'), key('😀'), key('[]'), key('x.y')]],
    ['/items[]', [key('items[]')]],
  ];
  for (const [expression, segments] of cases) {
    it(JSON.stringify(expression), () => {
      const path = compileJsonPath(expression);
      assert.deepEqual(path.segments, segments);
      assert.equal(path.syntax, 'pointer');
    });
  }
});

describe('compileJsonPath: rejected, with what was expected where', () => {
  const hintQuote = ' (a key with spaces, quotes or brackets is written ["..."])';
  const hintStar = ' ("[]" means every element; a key named "*" is written ["*"])';
  const cases: [string, number, string][] = [
    ['a.', 3, 'expected a key after "." at character 3'],
    ['abcd.', 6, 'expected a key after "." at character 6'],
    ['a..b', 3, 'expected a key after "." at character 3, found "."'],
    ['.a', 1, 'expected a key or "[" at character 1, found "."'],
    [
      'a.[0]',
      3,
      'expected a key after "." at character 3, found "[" (an index or quoted key follows its parent directly: a[0], not a.[0])',
    ],
    ['a]', 2, `expected "." or "[" at character 2, found "]"${hintQuote}`],
    ['first name', 6, `expected "." or "[" at character 6, found " "${hintQuote}`],
    [' a', 1, `expected a key or "[" at character 1, found " "${hintQuote}`],
    ['a"b"', 2, `expected "." or "[" at character 2, found "\\""${hintQuote}`],
    ['a\tb', 2, `expected "." or "[" at character 2, found "\\t"${hintQuote}`],
    ['a.*', 3, `expected a key after "." at character 3, found "*"${hintStar}`],
    ['a[', 3, 'expected "]", an index or a quoted key after "[" at character 3'],
    ['a[*]', 3, `expected "]", an index or a quoted key after "[" at character 3, found "*"${hintStar}`],
    ['a[-1]', 3, 'expected "]", an index or a quoted key after "[" at character 3, found "-"'],
    ['a[x]', 3, 'expected "]", an index or a quoted key after "[" at character 3, found "x"'],
    ['a[01]', 3, 'expected an index without leading zeros at character 3, found "0"'],
    ['a[1', 4, 'expected "]" after the index at character 4'],
    ['a[1 ]', 4, `expected "]" after the index at character 4, found " "${hintQuote}`],
    [`a[${2 ** 32 - 1}]`, 3, `expected an index of at most ${2 ** 32 - 2} at character 3, found "4"`],
    ['a["b', 5, 'expected a closing " at character 5 (the key\'s opening " is at character 3)'],
    ['[\'x.y"]', 8, "expected a closing ' at character 8 (the key's opening ' is at character 2)"],
    ['a["b"', 6, 'expected "]" after the quoted key at character 6'],
    ['a["b"x]', 6, 'expected "]" after the quoted key at character 6, found "x"'],
    ['a["b\\x"]', 6, 'expected one of " \' \\ / b f n r t u after "\\" at character 6, found "x"'],
    ['a["\\u12"]', 6, 'expected 4 hex digits after "\\u" at character 6, found "1"'],
    ['a[].b.', 7, 'expected a key after "." at character 7'],
    // Positions count code points, as an editor counts columns, not UTF-16 units.
    ['😀.', 3, 'expected a key after "." at character 3'],
    ['prénom..x', 8, 'expected a key after "." at character 8, found "."'],
    ['/a~2', 4, 'expected "0" or "1" after "~" at character 4, found "2"'],
    ['/a~', 4, 'expected "0" or "1" after "~" at character 4'],
    ['/ok/😀~x', 7, 'expected "0" or "1" after "~" at character 7, found "x"'],
  ];
  for (const [expression, position, message] of cases) {
    it(JSON.stringify(expression), () => {
      assert.throws(
        () => compileJsonPath(expression),
        (err: unknown) => {
          assert.ok(err instanceof JsonPathError);
          assert.equal(err.name, 'JsonPathError');
          assert.equal(err.message, message);
          assert.equal(err.position, position);
          assert.equal(err.expression, expression);
          return true;
        },
      );
    });
  }
});

describe('compileJsonPath: prototype keys are refused in every form', () => {
  const cases: [string, number, string][] = [
    ['__proto__', 1, '__proto__'],
    ['a.constructor', 3, 'constructor'],
    ['a.b.prototype.c', 5, 'prototype'],
    ['items[].__proto__', 9, '__proto__'],
    ['a["__proto__"]', 3, '__proto__'],
    ["['constructor']", 2, 'constructor'],
    ['["\\u005f_proto__"]', 2, '__proto__'],
    ['/__proto__', 2, '__proto__'],
    ['/a/constructor/x', 4, 'constructor'],
    ['/prototype', 2, 'prototype'],
  ];
  for (const [expression, position, refused] of cases) {
    it(JSON.stringify(expression), () => {
      assert.throws(() => compileJsonPath(expression), {
        name: 'JsonPathError',
        position,
        message: `expected a key other than "${refused}" at character ${position} (refused: it could pollute object prototypes)`,
      });
    });
  }
});

describe('compileJsonPath: options for what the path is used for', () => {
  const cases: [string, CompileJsonPathOptions, string | undefined][] = [
    ['a.b', { endWithKey: true }, undefined],
    ['/a/0', { endWithKey: true }, undefined],
    ['items[].name', { endWithKey: true }, undefined],
    ['items[]', { endWithKey: true }, 'expected the path to end with an object key at character 6'],
    ['a.items[2]', { endWithKey: true }, 'expected the path to end with an object key at character 8'],
    ['', { endWithKey: true }, 'expected a path below the document root at character 1'],
    ['', { allowRoot: false }, 'expected a path below the document root at character 1'],
    ['', { allowRoot: true }, undefined],
    ['', {}, undefined],
  ];
  for (const [expression, options, message] of cases) {
    it(`${JSON.stringify(expression)} ${JSON.stringify(options)}`, () => {
      if (message === undefined) compileJsonPath(expression, options);
      else assert.throws(() => compileJsonPath(expression, options), { name: 'JsonPathError', message });
    });
  }
});

describe('compileJsonPath: the compiled path', () => {
  it('is frozen, segments included, so it can be shared between requests', () => {
    const path = compileJsonPath('a[].b');
    assert.ok(Object.isFrozen(path));
    assert.ok(Object.isFrozen(path.segments));
    assert.ok(path.segments.every((segment) => Object.isFrozen(segment)));
  });
});
