// The ring hash: published FNV-1a and murmur3 vectors, and the avalanche that keeps similar keys apart.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fmix32, fnv1aString, fnv1aUint32, hash32 } from './hash32.js';

const fnvVectors: ReadonlyArray<[string, number]> = [
  ['', 0x811c9dc5],
  ['a', 0xe40c292c],
  ['foobar', 0xbf9cf968],
];
for (const [input, expected] of fnvVectors)
  it(`FNV-1a of ${JSON.stringify(input)} is ${expected.toString(16)}`, () => {
    assert.equal(fnv1aString(input), expected);
  });

// MurmurHash3_x86_32 of the empty input is fmix32(seed).
const fmixVectors: ReadonlyArray<[number, number]> = [
  [0, 0],
  [1, 0x514e28b7],
  [0xffffffff, 0x81f16f39],
];
for (const [input, expected] of fmixVectors)
  it(`fmix32(${input.toString(16)}) is ${expected.toString(16)}`, () =>
    assert.equal(fmix32(input), expected));

it('hashes a uint32 as its four little-endian bytes', () => {
  assert.equal(fnv1aUint32(0x64636261, fnv1aString('')), fnv1aString('abcd'));
  assert.equal(fnv1aUint32(7, fnv1aString('id#')), fnv1aString('id#\x07\0\0\0'));
});

it('flips about half of the bits when one character changes', () => {
  let flipped = 0;
  const samples = 2_000;
  for (let i = 0; i < samples; i++) {
    const x = hash32(`user-${i}`) ^ hash32(`user-${i + 1}`);
    for (let bits = x >>> 0; bits !== 0; bits &= bits - 1) flipped++;
  }
  const mean = flipped / samples;
  assert.ok(mean > 15 && mean < 17, `mean bits flipped ${mean}`);
});
