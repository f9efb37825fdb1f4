// The normalized path is both what routes match and what goes upstream, so a wrong answer here is a routing bypass (/public/../admin) or a gateway/upstream disagreement.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from './normalize-path.js';

describe('normalizePath', () => {
  const cases: readonly (readonly [input: string, output: string | null, why: string])[] = [
    ['/', '/', 'the root'],
    ['/a/b', '/a/b', 'already normal'],
    ['/a/b/', '/a/b/', 'a trailing slash is kept'],
    ['/a//b', '/a/b', 'duplicate slashes collapse'],
    ['//a///b//', '/a/b/', 'runs of slashes collapse, the trailing one stays'],
    ['/a/./b', '/a/b', 'a "." segment goes'],
    ['/a/.', '/a/', 'a final "." leaves the directory'],
    ['/a/b/../c', '/a/c', '".." removes the segment before it'],
    ['/public/../admin', '/admin', 'no escaping a public prefix by ".."'],
    ['/a/b/..', '/a/', 'a final ".." leaves the parent directory'],
    ['/..', '/', '".." above the root stays at the root'],
    ['/../../etc', '/etc', 'any number of ".." above the root'],
    ['/a/..b/.c', '/a/..b/.c', 'segments that only start with dots are data'],
    ['/%2e%2e/admin', '/admin', 'encoded dots are dots (unreserved, decoded first)'],
    ['/public/%2E%2E/admin', '/admin', 'upper-case encoded dots as well'],
    ['/a/%2E/b', '/a/b', 'an encoded "." segment'],
    ['/.%2e/x', '/x', 'mixed literal and encoded dots'],
    ['/%41%62', '/Ab', 'unreserved letters are decoded'],
    ['/%7e%2D%5f%30', '/~-_0', 'unreserved symbols and digits are decoded'],
    ['/a%2fb', '/a%2Fb', 'an encoded slash is data, never a separator; its hex is upper-cased'],
    ['/a%2Fb/../c', '/c', '"a%2Fb" is one segment, so ".." removes all of it'],
    ['/a%20b', '/a%20b', 'reserved or unsafe characters stay encoded'],
    ['/caf%c3%a9', '/caf%C3%A9', 'non-ASCII bytes stay encoded, upper-cased'],
    ['/%00', null, 'NUL is refused'],
    ['/a%00b', null, 'NUL anywhere is refused'],
    ['/%zz', null, 'a bad escape is refused'],
    ['/%4', null, 'a truncated escape is refused'],
    ['/%', null, 'a lone % is refused'],
    ['relative', null, 'a path must start with "/"'],
    ['', null, 'an empty path is refused'],
    ['*', null, 'asterisk-form is not a path'],
  ];
  for (const [input, output, why] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(output)}: ${why}`, () => {
      assert.equal(normalizePath(input), output);
    });
  }

  it('is idempotent: normalizing a normalized path changes nothing', () => {
    for (const [input, output] of cases) {
      if (output === null) continue;
      assert.equal(normalizePath(output), output, `from ${input}`);
    }
  });
});
