// The token character class (RFC 9110 §5.6.2) against its definition, for every ASCII character.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTchar, isToken, skipOws } from './http-token.js';

describe('isTchar', () => {
  it("is exactly ALPHA, DIGIT and !#$%&'*+-.^_`|~", () => {
    const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (let code = 0; code < 0x110; code++) {
      assert.equal(isTchar(code), tchars.includes(String.fromCharCode(code)), `U+${code.toString(16)}`);
    }
  });
});

describe('isToken', () => {
  const cases: readonly (readonly [text: string, expected: boolean])[] = [
    ['accept-encoding', true],
    ['X-Custom_1', true],
    ['', false],
    ['a b', false],
    ['a,b', false],
    ['"a"', false],
    ['caf\u00e9', false],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => {
      assert.equal(isToken(text), expected);
    });
  }
});

describe('skipOws', () => {
  it('skips spaces and tabs only', () => {
    assert.equal(skipOws(' \t a', 0), 3);
    assert.equal(skipOws('a', 0), 0);
    assert.equal(skipOws('  ', 0), 2);
    assert.equal(skipOws('\n', 0), 0);
  });
});
