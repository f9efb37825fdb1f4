// The decoder is the second wall against entity attacks and the reason numeric references decode at all:
// these pin what it expands and everything it refuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { strictEntityDecoder } from './strict-entity-decoder.js';

describe('strictEntityDecoder.decode', () => {
  const decoded: readonly (readonly [string, string])[] = [
    ['plain text', 'plain text'],
    ['&lt;&gt;&amp;&apos;&quot;', `<>&'"`],
    ['&amp;lt;', '&lt;'],
    ['&#65;&#x41;&#x6a;', 'AAj'],
    ['&#233;&#x1F600;', 'é😀'],
    ['&#9;&#10;&#13;', '\t\n\r'],
    ['a &lt; b', 'a < b'],
  ];
  for (const [text, expected] of decoded) {
    it(`${JSON.stringify(text)} → ${JSON.stringify(expected)}`, () =>
      assert.equal(strictEntityDecoder.decode(text), expected));
  }

  const refused: readonly (readonly [string, RegExp])[] = [
    ['&foo;', /not defined/],
    ['&constructor;', /not defined/],
    ['&nbsp;', /not defined/],
    ['a & b', /ending in ";"/],
    ['&amp', /ending in ";"/],
    ['&;', /not defined/],
    ['&#0;', /not a reference to an XML character/],
    ['&#1;', /not a reference to an XML character/],
    ['&#xD800;', /not a reference to an XML character/],
    ['&#xFFFE;', /not a reference to an XML character/],
    ['&#x110000;', /not a reference to an XML character/],
    ['&#x;', /not a reference to an XML character/],
    ['&#12a;', /not a reference to an XML character/],
  ];
  for (const [text, message] of refused) {
    it(`refuses ${JSON.stringify(text)}`, () =>
      assert.throws(() => strictEntityDecoder.decode(text), { name: 'SyntaxError', message }));
  }
});

describe('strictEntityDecoder declarations', () => {
  it('refuses entities declared by a DOCTYPE or supplied as external', () => {
    assert.throws(() => strictEntityDecoder.addInputEntities({ lol: 'lol' }), SyntaxError);
    assert.throws(() => strictEntityDecoder.setExternalEntities({ xxe: 'secret' }), SyntaxError);
  });

  it('accepts an empty declaration set (a DOCTYPE without entities) and keeps no state', () => {
    strictEntityDecoder.addInputEntities({});
    strictEntityDecoder.setExternalEntities({});
    strictEntityDecoder.reset();
    strictEntityDecoder.setXmlVersion(1.1);
    assert.equal(strictEntityDecoder.decode('&amp;'), '&');
    assert.ok(Object.isFrozen(strictEntityDecoder));
  });
});
