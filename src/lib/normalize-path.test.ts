// The normalized path is both what routes match and what goes upstream, so a wrong answer here is a routing bypass (/public/../admin) or a gateway/upstream disagreement.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSeparators, hasEscapedSeparator, isPathRefusal, normalizePath } from './normalize-path.js';

/** The canonical path, or null when it is refused. */
function canonical(path: string): string | null {
  const r = normalizePath(path);
  return isPathRefusal(r) ? null : r;
}

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
    ['/a%2fb', '/a%2Fb', 'an encoded slash is kept visible (the route decides), its hex upper-cased'],
    ['/a%2Fb/../c', '/c', '"a%2Fb" is one segment, so ".." removes all of it'],
    ['/a%5cb', '/a%5Cb', 'an encoded backslash is kept visible too'],
    ['/a\\b', '/a%5Cb', 'a raw backslash becomes %5C (then judged like an encoded one)'],
    ['/a"b<c>d`e{f|g}h^i', '/a%22b%3Cc%3Ed%60e%7Bf%7Cg%7Dh%5Ei', 'characters a URI may not hold are encoded'],
    ['/caf\u00e9', '/caf%E9', 'a raw byte above 0x7E is encoded'],
    ['/a;b/c;d=1', '/a;b/c;d=1', '";" parameters on ordinary segments are data'],
    ['/a/..;/admin', null, '".." with ";" parameters is refused (Tomcat reads it as "..")'],
    ['/a/.;x/b', null, '"." with ";" parameters is refused'],
    ['/a/%2e%2e;jsessionid=1/b', null, 'encoded dots with parameters are refused'],
    ['/a/..%3Bx/b', null, 'dots with an encoded ";" are refused'],
    ['/a/...;x', '/a/...;x', 'three dots are not a dot segment'],
    ['/a#frag', null, 'a fragment is refused'],
    ['/a/%252e%252e/b', null, 'double-encoded dots are refused'],
    ['/a/%25252F/b', null, 'triple-encoded slashes are refused'],
    ['/a/%2500', null, 'a double-encoded NUL is refused'],
    ['/a/%2541', '/a/%2541', 'a double-encoded letter is data'],
    ['/a b', null, 'a space is refused'],
    ['/a\tb', null, 'a control character is refused'],
    ['/a\u007fb', null, 'DEL is refused'],
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
      assert.equal(canonical(input), output);
    });
  }

  it('is idempotent: normalizing a normalized path changes nothing', () => {
    for (const [input, output] of cases) {
      if (output === null) continue;
      assert.equal(normalizePath(output), output, `from ${input}`);
    }
  });

  it('hasEscapedSeparator finds %2F and %5C in canonical paths only', () => {
    assert.equal(hasEscapedSeparator('/a%2Fb'), true);
    assert.equal(hasEscapedSeparator('/a%5Cb'), true);
    assert.equal(hasEscapedSeparator('/a%20b'), false);
    assert.equal(hasEscapedSeparator('/a/b'), false);
  });

  it('decodeSeparators reads %2F and %5C as "/" and resolves dot segments again', () => {
    assert.equal(decodeSeparators('/files/a%2Fb'), '/files/a/b');
    assert.equal(decodeSeparators('/files/a%5Cb'), '/files/a/b');
    assert.equal(decodeSeparators('/files/x%2F..%2F..%2Fadmin'), '/admin');
    assert.equal(decodeSeparators('/files/x%2F..%2Fy'), '/files/y');
    assert.ok(isPathRefusal(decodeSeparators('/files/x%2F..;%2Fy')));
  });
});
