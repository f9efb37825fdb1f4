// A fast, well-spread 32-bit hash (the consistent-hash ring, canary splits): FNV-1a for the bytes, murmur3's fmix32 to
// spread them (plain FNV-1a leaves similar keys close on the ring). Not for anything an attacker may probe.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a state after `s`'s UTF-16 code units, continuing from `h` (byte-wise FNV-1a for ASCII text). */
export function fnv1aString(s: string, h: number = FNV_OFFSET): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** FNV-1a state after the four little-endian bytes of `n`, continuing from `h`. */
export function fnv1aUint32(n: number, h: number): number {
  h = Math.imul(h ^ (n & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((n >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((n >>> 16) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ (n >>> 24), FNV_PRIME);
  return h >>> 0;
}

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The ring position of a string key; allocates nothing. */
export function hash32(s: string): number {
  return fmix32(fnv1aString(s));
}
