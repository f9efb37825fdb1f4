// How a request names its version, in each form a client writes it, and the URL of the same request with
// another version (for successor links and redirects).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testExchange } from '../../pipeline/testing.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { versionSelector } from './select.js';

function ex(headers: string[] = [], path = '/', query = '', params: Record<string, string> = {}): Exchange {
  const e = testExchange(headers);
  e.path = path;
  e.query = query;
  e.params = params;
  return e;
}

describe('version selector', () => {
  it('header: the value, trimmed; empty is none', () => {
    const s = versionSelector({ from: 'header', header: 'X-Api-Version' }, ['1', '2']);
    assert.equal(s.read(ex(['X-Api-Version', ' 2 '])), '2');
    assert.equal(s.read(ex(['X-Api-Version', ''])), undefined);
    assert.equal(s.read(ex()), undefined);
    assert.equal(s.describe, 'the X-Api-Version header');
  });

  it('media type: application/vnd.<vendor>.v2+json, without v or suffix, or ; version=2 — the first range naming the vendor', () => {
    const s = versionSelector({ from: 'media_type', vendor: 'acme' }, ['1', '2', 'v9']);
    const read = (accept: string) => s.read(ex(['Accept', accept]));
    assert.equal(read('application/vnd.acme.v2+json'), '2');
    assert.equal(read('application/vnd.acme.2'), '2');
    assert.equal(read('Application/Vnd.Acme.V1+JSON'), '1');
    assert.equal(read('text/html;q=0.9, application/vnd.acme+json; version="2"'), '2');
    assert.equal(read('application/vnd.acme.v9+json'), 'v9', 'a version really named v9 keeps its v');
    assert.equal(read('application/vnd.acmecorp.v1+json'), undefined);
    assert.equal(read('application/json'), undefined);
    assert.equal(read('application/vnd.acme.v1+json, application/vnd.acme.v2+json'), '1');
  });

  it('query: the first parameter of that name, percent-decoded; swap replaces or adds it', () => {
    const s = versionSelector({ from: 'query', query: 'api-version' }, ['2024-06']);
    assert.equal(s.read(ex([], '/s', 'q=a&api-version=2024%2D06&api-version=1')), '2024-06');
    assert.equal(s.read(ex([], '/s', 'api-version=')), undefined);
    assert.equal(s.read(ex([], '/s', 'api-versions=1')), undefined);
    assert.equal(s.swap!(ex([], '/s', 'q=a&api-version=1'), '2'), '/s?q=a&api-version=2');
    assert.equal(s.swap!(ex([], '/s', 'q=a'), '2'), '/s?q=a&api-version=2');
  });

  it('path: the route parameter; swap replaces that segment and keeps the query', () => {
    const s = versionSelector({ from: 'path' }, ['v1', 'v2']);
    const e = ex([], '/v1/items/v1', 'x=1', { version: 'v1' });
    assert.equal(s.read(e), 'v1');
    assert.equal(s.swap!(e, 'v2'), '/v2/items/v1?x=1');
    assert.equal(s.read(ex([], '/items')), undefined);
  });
});
