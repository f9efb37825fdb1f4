import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyConfigError } from '../../pipeline/policy.js';
import { compilePathRewrite, rewritePath } from './path-rewrite.js';

const compile = (pattern: string, replace: string) => compilePathRewrite({ pattern, replace }, ['path'])!;

describe('path rewrite', () => {
  it('rewrites with numbered and named captures, and leaves non-matching paths alone', () => {
    const r = compile('^/v1/orders/(\\d+)$', '/legacy/order.php/$1');
    assert.equal(rewritePath(r, '/v1/orders/42'), '/legacy/order.php/42');
    assert.equal(rewritePath(r, '/v1/orders/42/x'), undefined);
    const named = compile('^/u/(?<id>[^/]+)/(?<rest>.*)$', '/users/$<id>/$<rest>');
    assert.equal(rewritePath(named, '/u/7/posts/1'), '/users/7/posts/1');
  });

  it('replaces only the matched part and keeps a leading slash', () => {
    assert.equal(rewritePath(compile('^/api', '/internal'), '/api/orders'), '/internal/orders');
    assert.equal(rewritePath(compile('^/api/', ''), '/api/orders'), '/orders');
    assert.equal(rewritePath(compile('^/a(.*)$', '$$1$1'), '/a/b'), '/$1/b');
  });

  for (const [pattern, replace, message, key] of [
    ['((', '/x', /invalid regular expression/, 'pattern'],
    ['^/(a)', '/$2', /\$2: the pattern has 1 capture group$/, 'replace'],
    ['^/a', '/$1', /\$1: the pattern has 0 capture groups$/, 'replace'],
    ['^/(?<id>a)', '/$<nope>', /no group named "nope"/, 'replace'],
    ['^/(a)', '/$&', /\$& is not supported/, 'replace'],
    ['^/(a)', '/x?y=$1', /must be a path/, 'replace'],
    ['^/(a)', '/x#$1', /must be a path/, 'replace'],
    ['^/(a)', '/x $1', /must be a path/, 'replace'],
  ] as const) {
    it(`refuses ${JSON.stringify(pattern)} → ${JSON.stringify(replace)} at load`, () => {
      assert.throws(
        () => compile(pattern, replace),
        (err: unknown) =>
          err instanceof PolicyConfigError &&
          message.test(err.message) &&
          err.path.join('.') === `path.${key}`,
      );
    });
  }
});
