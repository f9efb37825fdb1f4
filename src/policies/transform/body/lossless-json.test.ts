// Pins lossless JSON: integers beyond 2^53 survive parse → stringify byte for byte, strings and floats are
// untouched, the marker avoids every escape in the text, invalid JSON throws as JSON.parse does, and large
// or deeply nested documents stay fast and stack-safe.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMarked, parseJson, plainNumbers, stringifyJson, type JsonDocument } from './lossless-json.js';

const roundTrip = (text: string) => stringifyJson(parseJson(text));

/** JSON.parse's own error message for `text`, or undefined when it parses. */
function jsonParseError(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('parseJson and stringifyJson round trip', () => {
  const identical: [string, string][] = [
    ['the 64-bit id example', '{"id":12345678901234567890,"n":[1,-98765432109876543210]}'],
    ['a bare unsafe integer', '12345678901234567890'],
    ['a bare negative unsafe integer', '-9007199254740993'],
    ['MAX_SAFE_INTEGER + 1', '[9007199254740992,-9007199254740992]'],
    ['16 digits above the limit', '[9999999999999999]'],
    ['a very long integer', `[${'9'.repeat(400)}]`],
    ['next to strings with escaped quotes', '{"a\\"1234567890123456789":"x\\"","b":12345678901234567890}'],
    ['after a string ending in a backslash', '["\\\\",12345678901234567890,"\\\\\\"",12345678901234567891]'],
    ['digits inside a string', '{"card":"4111111111111111111","id":12345678901234567890}'],
    ['as object member and array element', '{"a":{"b":[[12345678901234567890]]},"c":-12345678901234567890}'],
    ['beside safe numbers and floats', '[1,2.5,-0.1,1e+300,12345678901234567890,9007199254740991]'],
    ['beside literals', '[true,false,null,12345678901234567890,{}]'],
    ['with an escaped \\u0001 in the text', '{"s":"\\u0001x","id":12345678901234567890}'],
    ['with a literal backslash-u in a string', '{"s":"\\\\u0001","id":12345678901234567890}'],
    ['with short escapes', '{"s":"\\b\\t\\n\\f\\r","id":12345678901234567890}'],
  ];
  for (const [name, text] of identical) {
    it(name, () => assert.equal(roundTrip(text), text));
  }

  it('drops whitespace as JSON.stringify does, keeping the digits', () => {
    const text = '{ "id" : 12345678901234567890 ,\n\t"x" : [ -12345678901234567890 ]\r\n}';
    assert.equal(roundTrip(text), '{"id":12345678901234567890,"x":[-12345678901234567890]}');
  });

  it('writes unicode, emoji and lone surrogates as JSON.stringify would', () => {
    const text =
      '{"e":"😀","u":"\\u00e9\\ud83d\\ude00","lone":"\\ud800","tail":"\\udfff!","id":12345678901234567890}';
    assert.equal(
      roundTrip(text),
      '{"e":"😀","u":"é😀","lone":"\\ud800","tail":"\\udfff!","id":12345678901234567890}',
    );
  });

  it('leaves floats and exponents to JSON.parse', () => {
    const text =
      '[1.2345678901234567890e5,12345678901234567890.5,12345678901234567890e2,1E400,-0.12345678901234567890]';
    const doc = parseJson(text);
    assert.equal(doc.marker, null);
    assert.deepEqual(doc.value, JSON.parse(text));
    assert.equal(stringifyJson(doc), JSON.stringify(JSON.parse(text)));
  });

  it('keeps digits inside strings as strings', () => {
    const doc = parseJson('{"card":"4111111111111111111","q":"\\"12345678901234567890\\""}');
    assert.equal(doc.marker, null);
    assert.deepEqual(doc.value, { card: '4111111111111111111', q: '"12345678901234567890"' });
  });

  it('finds unsafe integers after every token that can precede a number, whitespace and minus between', () => {
    for (const text of [
      '12345678901234567890',
      ' \n-12345678901234567890',
      '[12345678901234567890]',
      '[1,\t12345678901234567890]',
      '{"a": \r\n -12345678901234567890}',
      '{"s":"4242424242424242","a":[ "x", 12345678901234567890 ]}',
    ]) {
      const doc = parseJson(text);
      assert.notEqual(doc.marker, null, text);
      assert.equal(stringifyJson(doc), text.replace(/\s+/g, ''), text);
    }
  });

  it('leaves long digit runs inside strings alone, even after a colon inside the string', () => {
    const text = '{"cards":["4242424242424242","x1234567890123456789"],"k":"a:1234567890123456789"}';
    const doc = parseJson(text);
    assert.equal(doc.marker, null);
    assert.deepEqual(doc.value, JSON.parse(text));
  });

  it('takes the fast path for safe numbers', () => {
    const text = '{"a":123456789012345,"b":[9007199254740991,-9007199254740991,1000000000000000]}';
    const doc = parseJson(text);
    assert.equal(doc.marker, null);
    assert.deepEqual(doc.value, JSON.parse(text));
  });

  it('marks unsafe integers with a control character', () => {
    const doc = parseJson('{"id":12345678901234567890,"n":-98765432109876543210,"s":"12345678901234567890"}');
    assert.equal(doc.marker, '\u0001');
    assert.deepEqual(doc.value, {
      id: '\u000112345678901234567890',
      n: '\u0001-98765432109876543210',
      s: '12345678901234567890',
    });
  });

  it('picks a marker whose escape is not in the text', () => {
    const escaped = '"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u000B"';
    const text = `{"s":${escaped},"id":12345678901234567890}`;
    const doc = parseJson(text);
    assert.equal(doc.marker, '\u000e');
    assert.equal(stringifyJson(doc), text.replace('\\u000B', '\\u000b'));
  });

  it('never picks a character that has a short escape', () => {
    const doc = parseJson(
      '{"s":"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007","id":12345678901234567890}',
    );
    assert.equal(doc.marker, '\u000b');
  });

  it('falls back to JSON.parse when every candidate marker is escaped in the text', () => {
    let escapes = '';
    for (let code = 1; code < 0x20; code++) escapes += `\\u00${code.toString(16).padStart(2, '0')}`;
    const text = `{"s":"${escapes}","id":12345678901234567890}`;
    const doc = parseJson(text);
    assert.equal(doc.marker, null);
    assert.deepEqual(doc.value, JSON.parse(text));
  });
});

describe('parseJson on invalid JSON', () => {
  const invalid: [string, string][] = [
    ['leading zero', '{"a":01234567890123456789}'],
    ['negative leading zero', '[-01234567890123456789]'],
    ['letters after the digits', '[12345678901234567890abc]'],
    ['letters before the digits', '[abc12345678901234567890]'],
    ['an unsafe integer as a key', '{12345678901234567890:1}'],
    ['an unsafe integer as a key before whitespace', '{12345678901234567890 : 1}'],
    ['an unsafe integer as a key without a value', '{"a":1,12345678901234567890}'],
    ['a trailing point', '[12345678901234567890.]'],
    ['an empty exponent', '[12345678901234567890e]'],
    ['a plus sign', '[+12345678901234567890]'],
    ['a double minus', '[--12345678901234567890]'],
    ['a minus after digits', '[1-12345678901234567890]'],
    ['two top-level values', '12345678901234567890 12345678901234567890'],
    ['right after a string', '["a"12345678901234567890]'],
    ['a missing comma', '[1 12345678901234567890]'],
    ['a trailing comma', '[12345678901234567890,]'],
    ['unterminated array', '[12345678901234567890'],
    ['unterminated string', '["12345678901234567890'],
    ['a non-breaking space', '[\u00a012345678901234567890]'],
    ['a raw control character in a string', '["\u0001",12345678901234567890]'],
    ['empty text with a long digit run nowhere', ''],
    ['garbage', 'nope 12345678901234567890'],
  ];
  for (const [name, text] of invalid) {
    it(name, () => {
      const expected = jsonParseError(text);
      assert.notEqual(expected, undefined, 'the case must be invalid JSON');
      assert.throws(
        () => parseJson(text),
        (error: unknown) => error instanceof SyntaxError && error.message === expected,
      );
    });
  }
});

describe('stringifyJson', () => {
  const marker = '\u0001';
  const cases: [string, unknown, string][] = [
    ['a marked integer', { id: `${marker}12345678901234567890` }, '{"id":12345678901234567890}'],
    ['a marked negative integer', [`${marker}-12345678901234567890`], '[-12345678901234567890]'],
    ['a marked root', `${marker}12345678901234567890`, '12345678901234567890'],
    ['a masked value stays a string', { id: '*****67890' }, '{"id":"*****67890"}'],
    ['marker and non-digits stay a string', [`${marker}123abc`], '["\\u0001123abc"]'],
    ['marker and a leading zero stay a string', [`${marker}0123`], '["\\u00010123"]'],
    ['marker alone stays a string', [marker], '["\\u0001"]'],
    ['a marked key stays a key', { [`${marker}123`]: 1 }, '{"\\u0001123":1}'],
    ['marker after a quote inside a string', [`x"${marker}123`], '["x\\"\\u0001123"]'],
    ['marker in the middle of a string', [`a${marker}123`], '["a\\u0001123"]'],
    ['another control character', ['\u0002123'], '["\\u0002123"]'],
  ];
  for (const [name, value, expected] of cases) {
    it(name, () => assert.equal(stringifyJson({ value, marker }), expected));
  }

  it('is JSON.stringify without a marker', () => {
    const value = { s: '\u0001123', n: 1, a: [null, true] };
    assert.equal(stringifyJson({ value, marker: null }), JSON.stringify(value));
  });

  it('writes integers a transform added with the same marker', () => {
    const doc = parseJson('{"id":12345678901234567890}');
    (doc.value as Record<string, unknown>).copy = `${doc.marker}99999999999999999999`;
    assert.equal(stringifyJson(doc), '{"id":12345678901234567890,"copy":99999999999999999999}');
  });

  it('keeps a masked unsafe integer a string', () => {
    const doc = parseJson('{"id":12345678901234567890}');
    (doc.value as Record<string, unknown>).id = '***************67890';
    assert.equal(stringifyJson(doc), '{"id":"***************67890"}');
  });

  it('rejects a value with no JSON form', () => {
    assert.throws(() => stringifyJson({ value: undefined, marker: null }), TypeError);
  });

  it('rejects a marker parseJson would not choose', () => {
    for (const bad of ['\t', 'x', '\u0001\u0002', '']) {
      assert.throws(() => stringifyJson({ value: 1, marker: bad }), RangeError, JSON.stringify(bad));
    }
  });
});

describe('isMarked', () => {
  const m = '\u0001';
  const cases: [string, unknown, string | null, boolean][] = [
    ['marked integer', `${m}12345678901234567890`, m, true],
    ['marked negative', `${m}-12345678901234567890`, m, true],
    ['marked zero', `${m}0`, m, true],
    ['no marker', `${m}123`, null, false],
    ['other marker', `${m}123`, '\u0002', false],
    ['plain digits', '12345678901234567890', m, false],
    ['marker alone', m, m, false],
    ['marker and minus', `${m}-`, m, false],
    ['leading zero', `${m}0123`, m, false],
    ['fraction', `${m}1.5`, m, false],
    ['trailing text', `${m}123 `, m, false],
    ['a number', 123, m, false],
    ['null', null, m, false],
  ];
  for (const [name, value, marker, expected] of cases) {
    it(name, () => assert.equal(isMarked(value, marker), expected));
  }
});

describe('plainNumbers', () => {
  it('replaces marked strings with their digits in place', () => {
    const doc = parseJson(
      '{"id":12345678901234567890,"n":[1,-98765432109876543210,{"x":99999999999999999}],"s":"x"}',
    );
    const root = doc.value;
    assert.equal(plainNumbers(doc.value, doc.marker), root);
    assert.deepEqual(root, {
      id: '12345678901234567890',
      n: [1, '-98765432109876543210', { x: '99999999999999999' }],
      s: 'x',
    });
  });

  it('returns the digits of a marked root', () => {
    const doc = parseJson('-12345678901234567890');
    assert.equal(plainNumbers(doc.value, doc.marker), '-12345678901234567890');
  });

  it('leaves everything alone without a marker', () => {
    const value = { s: '\u0001123', n: 1 };
    assert.equal(plainNumbers(value, null), value);
    assert.deepEqual(value, { s: '\u0001123', n: 1 });
    assert.equal(plainNumbers('x', '\u0001'), 'x');
    assert.equal(plainNumbers(null, '\u0001'), null);
  });

  it('handles 100,000 levels of nesting without recursion', () => {
    const depth = 100_000;
    const marker = '\u0001';
    const innermost: unknown[] = [`${marker}12345678901234567890`];
    let root: unknown = innermost;
    for (let i = 0; i < depth; i++) root = i % 2 === 0 ? { a: root } : [root];
    plainNumbers(root, marker);
    assert.deepEqual(innermost, ['12345678901234567890']);
  });

  it('handles text nested as deep as JSON.parse accepts', () => {
    const depth = 100_000;
    const doc = parseJson(`${'['.repeat(depth)}12345678901234567890${']'.repeat(depth)}`);
    assert.equal(doc.marker, '\u0001');
    let node = plainNumbers(doc.value, doc.marker);
    for (let i = 0; i < depth; i++) node = (node as unknown[])[0];
    assert.equal(node, '12345678901234567890');
  });

  it('visits shared and cyclic subtrees once', () => {
    const marker = '\u0001';
    const shared: Record<string, unknown> = { id: `${marker}12345678901234567890` };
    const root: Record<string, unknown> = { a: shared, b: [shared] };
    shared.self = root;
    plainNumbers(root, marker);
    assert.equal(shared.id, '12345678901234567890');
  });
});

describe('lossless JSON at scale', () => {
  // CPU time, not wall time: on a busy machine the wall clock also counts the time other processes had the
  // CPU (with stress-ng --cpu 2 beside the suite on a 2-core machine, wall time grows several times over).
  const cpuMsSince = (start: NodeJS.CpuUsage): number => {
    const { user, system } = process.cpuUsage(start);
    return (user + system) / 1000;
  };

  it('parses and writes 100,000 unsafe integers quickly', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `${12345678901234567890n + BigInt(i)}`);
    const text = `[${ids.join(',')}]`;
    const started = process.cpuUsage();
    const doc: JsonDocument = parseJson(text);
    const written = stringifyJson(doc);
    const elapsed = cpuMsSince(started);
    assert.equal(written, text);
    assert.equal((doc.value as unknown[]).length, 100_000);
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  });

  it('parses 100,000 records with long digit strings but no unsafe integer quickly', () => {
    const records = Array.from({ length: 100_000 }, (_, i) => `{"i":${i},"card":"4111111111111111${i}"}`);
    const text = `[${records.join(',')}]`;
    const started = process.cpuUsage();
    const doc = parseJson(text);
    const elapsed = cpuMsSince(started);
    assert.equal(doc.marker, null);
    assert.equal(stringifyJson(doc), text);
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  });
});
