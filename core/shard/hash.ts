/**
 * The hash functions sipis and the bridge must agree on. They are part of the shard contract:
 * changing them moves every account to another shard, so they are written out here in full
 * (no dependency whose output could change with a version bump) and pinned by test vectors.
 *
 * - `fnv1a32(text)`: FNV-1a over the UTF-8 bytes of the key (ASCII fast path, no allocation).
 * - `fmix32(h)`: MurmurHash3's finaliser, a bijection with full avalanche; it turns the
 *   weakly mixed FNV state into bits good enough for rendezvous scores.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return fnv1a32Bytes(Buffer.from(text, 'utf8'));
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return h >>> 0;
}

export function fnv1a32Bytes(bytes: Uint8Array): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h >>> 0;
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_POW_32 = 4294967296;

/**
 * A uniform number in the open interval (0, 1) from a key hash and a backend seed:
 * 52 bits from two rounds of fmix32, offset by half a step so neither 0 nor 1 occurs
 * (the rendezvous score takes its logarithm).
 */
export function unitScore(keyHash: number, seed: number): number {
  const hi = fmix32((keyHash ^ seed) >>> 0);
  const lo = fmix32((hi ^ Math.imul(seed, 0x9e3779b1)) >>> 0) >>> 12; // 20 bits
  return (hi * 1048576 + lo + 0.5) / (TWO_POW_32 * 1048576);
}
