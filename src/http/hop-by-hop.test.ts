// Response header parsing: hop-by-hop headers and the ones Connection names never reach the client;
// repeated headers become lists; the map stays a plain object.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { connectionTokens, parseResponseHeaders } from './hop-by-hop.js';

const raw = (...pairs: string[]) => pairs.map((p) => Buffer.from(p, 'latin1'));

it('drops hop-by-hop headers and every header named in Connection', () => {
  const h = parseResponseHeaders(
    raw(
      'Content-Type',
      'text/plain',
      'Connection',
      'keep-alive, X-Secret',
      'Keep-Alive',
      'timeout=5',
      'X-Secret',
      '1',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'h2c',
      'X-Kept',
      'yes',
    ),
  );
  assert.deepEqual(h, { 'content-type': 'text/plain', 'x-kept': 'yes' });
});

it('keeps repeated headers as a list in order, and ignores a __proto__ header', () => {
  const h = parseResponseHeaders(
    raw('Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'SET-COOKIE', 'c=3', '__proto__', 'x'),
  );
  assert.deepEqual(h, { 'set-cookie': ['a=1', 'b=2', 'c=3'] });
  assert.equal(Object.getPrototypeOf(h), Object.prototype);
});

it('reads Connection tokens, ignoring close and keep-alive', () => {
  assert.deepEqual(connectionTokens('close'), []);
  assert.deepEqual(connectionTokens('Keep-Alive, X-A ,x-b'), ['x-a', 'x-b']);
});
