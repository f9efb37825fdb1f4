// Pins content codings: header parsing, round trips per coding and chained, the raw-deflate fallback,
// corrupt and truncated input as ContentCodingError, and decompression bombs stopped at the limit quickly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import {
  ContentCodingError,
  DecodedTooLargeError,
  decodeBody,
  encodeBody,
  parseContentCoding,
} from './content-coding.js';

const MB = 1024 * 1024;
const text = Buffer.from('{"message":"hello, world","n":[1,2,3]}'.repeat(200));

describe('parseContentCoding', () => {
  const cases: [string, string | string[] | undefined, string[] | null][] = [
    ['no header', undefined, []],
    ['empty header', '', []],
    ['only commas and spaces', ' , ,', []],
    ['identity', 'identity', []],
    ['single coding', 'gzip', ['gzip']],
    ['order applied', 'gzip, br', ['gzip', 'br']],
    ['case-insensitive', 'GZip, BR', ['gzip', 'br']],
    ['spaces and tabs', ' \tdeflate\t ,  br ', ['deflate', 'br']],
    ['x-gzip kept as written', 'x-gzip', ['x-gzip']],
    ['identity dropped from a list', 'identity, gzip, Identity', ['gzip']],
    ['empty elements dropped', 'gzip,,br,', ['gzip', 'br']],
    ['unknown coding', 'zstd', null],
    ['unknown coding in a list', 'gzip, zstd', null],
    ['compress is not supported', 'compress', null],
    ['parameters are not a coding', 'gzip;q=1', null],
    ['array header', ['gzip', 'br'], ['gzip', 'br']],
    ['array with list elements', ['gzip, deflate', ' BR'], ['gzip', 'deflate', 'br']],
    ['empty array', [], []],
    ['array with an unknown coding', ['gzip', 'zstd'], null],
  ];
  for (const [name, header, expected] of cases) {
    it(name, () => assert.deepEqual(parseContentCoding(header), expected));
  }
});

describe('encodeBody and decodeBody', () => {
  const chains: string[][] = [
    [],
    ['gzip'],
    ['x-gzip'],
    ['deflate'],
    ['br'],
    ['gzip', 'br'],
    ['br', 'deflate', 'gzip'],
    ['identity', 'gzip'],
  ];
  for (const codings of chains) {
    it(`round trip [${codings.join(', ')}]`, async () => {
      const encoded = await encodeBody(text, codings);
      if (codings.length > 0 && codings.some((c) => c !== 'identity'))
        assert.ok(encoded.length < text.length);
      assert.deepEqual(await decodeBody(encoded, codings, MB), text);
    });
  }

  it('round trips incompressible data', async () => {
    const data = randomBytes(64 * 1024);
    assert.deepEqual(await decodeBody(await encodeBody(data, ['gzip', 'br']), ['gzip', 'br'], MB), data);
  });

  it('round trips an empty body', async () => {
    for (const codings of [['gzip'], ['deflate'], ['br'], ['gzip', 'br']]) {
      const encoded = await encodeBody(Buffer.alloc(0), codings);
      assert.equal((await decodeBody(encoded, codings, MB)).length, 0);
    }
  });

  it('encodes in the order listed', async () => {
    const encoded = await encodeBody(text, ['gzip', 'br']);
    const gzipped = zlib.brotliDecompressSync(encoded);
    assert.deepEqual(zlib.gunzipSync(gzipped), text);
  });

  it('encodes deflate zlib-wrapped (RFC 9110 §8.4.1.2)', async () => {
    const encoded = await encodeBody(text, ['deflate']);
    assert.deepEqual(zlib.inflateSync(encoded), text);
  });

  it('decodes what other encoders produce', async () => {
    assert.deepEqual(await decodeBody(zlib.gzipSync(text, { level: 9 }), ['gzip'], MB), text);
    assert.deepEqual(await decodeBody(zlib.brotliCompressSync(text), ['br'], MB), text);
    assert.deepEqual(await decodeBody(zlib.deflateSync(text, { level: 1 }), ['deflate'], MB), text);
  });

  it('decodes raw deflate sent as "deflate"', async () => {
    for (const level of [0, 1, 6, 9]) {
      const raw = zlib.deflateRawSync(text, { level });
      assert.deepEqual(await decodeBody(raw, ['deflate'], MB), text, `level ${level}`);
    }
    assert.deepEqual(
      await decodeBody(zlib.deflateRawSync(Buffer.alloc(0)), ['deflate'], MB),
      Buffer.alloc(0),
    );
  });

  it('decodes raw deflate inside a chain', async () => {
    const body = await encodeBody(zlib.deflateRawSync(text), ['br']);
    assert.deepEqual(await decodeBody(body, ['deflate', 'br'], MB), text);
  });

  it('leaves a body with no codings as it is', async () => {
    assert.equal(await decodeBody(text, [], MB), text);
    assert.equal(await encodeBody(text, []), text);
  });
});

describe('decodeBody failures', () => {
  const gzipped = zlib.gzipSync(text);
  const brotli = zlib.brotliCompressSync(text);
  const deflated = zlib.deflateSync(text);
  const corrupt = (data: Buffer, at: number) => {
    const copy = Buffer.from(data);
    for (let i = at; i < Math.min(at + 16, copy.length); i++) copy[i] = (copy[i] as number) ^ 0x5a;
    return copy;
  };
  const cases: [string, Buffer, string[], string][] = [
    ['not gzip at all', Buffer.from('plain text, not gzip'), ['gzip'], 'gzip'],
    ['truncated gzip', gzipped.subarray(0, gzipped.length - 10), ['gzip'], 'gzip'],
    ['corrupt gzip data', corrupt(gzipped, 20), ['gzip'], 'gzip'],
    ['gzip checksum mismatch', corrupt(gzipped, gzipped.length - 8), ['gzip'], 'gzip'],
    ['corrupt x-gzip', Buffer.from('nope'), ['x-gzip'], 'x-gzip'],
    ['truncated brotli', brotli.subarray(0, brotli.length - 4), ['br'], 'br'],
    ['not brotli', Buffer.from('hello world, not brotli'), ['br'], 'br'],
    ['truncated zlib deflate', deflated.subarray(0, deflated.length - 6), ['deflate'], 'deflate'],
    ['corrupt zlib deflate', corrupt(deflated, 10), ['deflate'], 'deflate'],
    [
      'zlib deflate needing a dictionary',
      zlib.deflateSync(text, { dictionary: text }),
      ['deflate'],
      'deflate',
    ],
    ['empty gzip body', Buffer.alloc(0), ['gzip'], 'gzip'],
    ['empty deflate body', Buffer.alloc(0), ['deflate'], 'deflate'],
    ['empty brotli body', Buffer.alloc(0), ['br'], 'br'],
    ['outer layer of a chain', Buffer.from('garbage'), ['gzip', 'br'], 'br'],
    ['inner layer of a chain', zlib.brotliCompressSync(Buffer.from('garbage')), ['gzip', 'br'], 'gzip'],
    ['unsupported coding', text, ['zstd'], 'zstd'],
  ];
  for (const [name, body, codings, failing] of cases) {
    it(name, async () => {
      await assert.rejects(decodeBody(body, codings, MB), (error: unknown) => {
        assert.ok(error instanceof ContentCodingError, String(error));
        assert.equal(error.name, 'ContentCodingError');
        assert.equal(error.coding, failing);
        assert.match(error.message, new RegExp(`^content coding "${failing}" `));
        assert.ok(!error.message.includes('\n'), 'no stack in the message');
        assert.ok(error.message.length < 200);
        return true;
      });
    });
  }

  it('rejects an unsupported coding when encoding', async () => {
    await assert.rejects(encodeBody(text, ['compress']), { name: 'ContentCodingError', coding: 'compress' });
  });

  it('rejects a negative or NaN limit', async () => {
    await assert.rejects(decodeBody(gzipped, ['gzip'], -1), RangeError);
    await assert.rejects(decodeBody(gzipped, ['gzip'], Number.NaN), RangeError);
  });
});

describe('decodeBody size limit', () => {
  const zeros = Buffer.alloc(10 * MB);

  const isTooLarge = (limit: number) => (error: unknown) => {
    assert.ok(error instanceof DecodedTooLargeError, String(error));
    assert.equal(error.limit, limit);
    assert.equal(error.name, 'DecodedTooLargeError');
    return true;
  };

  for (const codings of [['gzip'], ['deflate'], ['br'], ['gzip', 'br']]) {
    it(`stops a ${codings.join(', ')} bomb of 10 MB at 1 MB quickly`, async () => {
      const bomb = await encodeBody(zeros, codings);
      assert.ok(bomb.length < 64 * 1024, `bomb is ${bomb.length} bytes`);
      const started = performance.now();
      await assert.rejects(decodeBody(bomb, codings, MB), isTooLarge(MB));
      // Inflating all 10 MB takes longer; stopping at the limit is a few milliseconds.
      assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
    });
  }

  it('stops a raw-deflate bomb', async () => {
    await assert.rejects(decodeBody(zlib.deflateRawSync(zeros), ['deflate'], MB), isTooLarge(MB));
  });

  it('accepts exactly maxBytes and refuses one more', async () => {
    const body = Buffer.alloc(1000, 'a');
    for (const coding of ['gzip', 'deflate', 'br']) {
      const encoded = await encodeBody(body, [coding]);
      assert.equal((await decodeBody(encoded, [coding], 1000)).length, 1000);
      await assert.rejects(decodeBody(encoded, [coding], 999), isTooLarge(999));
    }
  });

  it('limits intermediate steps of a chain', async () => {
    // Incompressible data: the gzip layer inside the br layer is as large as the body itself.
    const data = randomBytes(2 * MB);
    const encoded = await encodeBody(data, ['gzip', 'br']);
    await assert.rejects(decodeBody(encoded, ['gzip', 'br'], MB), isTooLarge(MB));
  });

  it('holds a body with no codings to the limit', async () => {
    await assert.rejects(decodeBody(Buffer.alloc(11), [], 10), isTooLarge(10));
    assert.equal((await decodeBody(Buffer.alloc(10), [], 10)).length, 10);
  });

  it('a limit of 0 allows only an empty result', async () => {
    assert.equal((await decodeBody(await encodeBody(Buffer.alloc(0), ['gzip']), ['gzip'], 0)).length, 0);
    await assert.rejects(
      decodeBody(await encodeBody(Buffer.from('x'), ['gzip']), ['gzip'], 0),
      isTooLarge(0),
    );
  });

  it('an unbounded limit decodes everything', async () => {
    const bomb = await encodeBody(zeros, ['gzip']);
    assert.equal((await decodeBody(bomb, ['gzip'], Number.POSITIVE_INFINITY)).length, zeros.length);
  });
});
