/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical: codes of equal
 * length are consecutive and ordered by symbol, so the table is stored as its 257 code
 * lengths (symbol 256 is EOS) and the codes are rebuilt at load time. Decoding walks a
 * 4-bit state machine derived from the same code (one table lookup per nibble, at most one
 * symbol per nibble since no code is shorter than 5 bits), as nghttp2 does.
 */
import { H2Error } from './errors.js';

// prettier-ignore
const LENGTHS: readonly number[] = [13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26,30];

export const EOS = 256;
/** CODES[s] is the code of symbol s, right-aligned in LENGTHS[s] bits. */
export const CODES = new Uint32Array(257);
{
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => LENGTHS[a]! - LENGTHS[b]! || a - b);
  let code = 0;
  let prev = LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    if (i > 0) code = (code + 1) * 2 ** (LENGTHS[s]! - prev);
    prev = LENGTHS[s]!;
    CODES[s] = code;
  }
}
export const CODE_LENGTHS = Uint8Array.from(LENGTHS);

/*
 * Decoder state machine. States are the 256 internal nodes of the code tree (0 = root).
 * For state s and nibble n: NEXT[s*16+n] is the state after the 4 bits, EMIT[s*16+n] the
 * symbol completed on the way (-1 none, EOS is flagged as an error: RFC 7541 §5.2 "a string
 * literal that contains the EOS symbol MUST be treated as a decoding error").
 * ACCEPT[s] is 1 when stopping in s is valid padding: the bits since the last symbol are a
 * prefix of EOS (all ones) and fewer than 8 (§5.2).
 */
const NEXT = new Uint8Array(256 * 16);
const EMIT = new Int16Array(256 * 16);
const ACCEPT = new Uint8Array(256);
{
  // Build the tree: internal nodes 0..255 with two children each; a child >= 0 is an internal
  // node, a child < 0 is the leaf of symbol (-child - 1).
  const left = new Int16Array(256).fill(0x7fff);
  const right = new Int16Array(256).fill(0x7fff);
  let nodes = 1;
  for (let s = 0; s < 257; s++) {
    const len = CODE_LENGTHS[s]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(CODES[s]! / 2 ** b) & 1;
      const arr = bit ? right : left;
      if (b === 0) {
        arr[node] = -s - 1;
      } else {
        if (arr[node] === 0x7fff) arr[node] = nodes++;
        node = arr[node]!;
      }
    }
  }
  // ACCEPT: nodes reached from the root by 1..7 one-bits, and the root itself.
  ACCEPT[0] = 1;
  for (let node = 0, d = 1; d <= 7; d++) {
    node = right[node]!;
    ACCEPT[node] = 1;
  }
  for (let s = 0; s < 256; s++) {
    for (let n = 0; n < 16; n++) {
      let node = s;
      let emit = -1;
      for (let b = 3; b >= 0; b--) {
        const child = (n >> b) & 1 ? right[node]! : left[node]!;
        if (child < 0) {
          emit = -child - 1;
          node = 0;
          if (emit === EOS) break;
        } else {
          node = child;
        }
      }
      NEXT[s * 16 + n] = node;
      EMIT[s * 16 + n] = emit;
    }
  }
}

let scratch = Buffer.allocUnsafe(4096);

/** Decodes `src[start..end)` as a Huffman string (RFC 7541 §5.2) into a latin1 string. */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // At most 8 symbols per 5 bits: the output is under 8/5 of the input.
  const need = Math.ceil(((end - start) * 8) / 5) + 1;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  const out = scratch;
  let o = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let k = state * 16 + (byte >> 4);
    let sym = EMIT[k]!;
    if (sym >= 0) {
      if (sym === EOS) throw new H2Error('ERR_H2_COMPRESSION', 'Huffman string contains EOS');
      out[o++] = sym;
    }
    state = NEXT[k]!;
    k = state * 16 + (byte & 15);
    sym = EMIT[k]!;
    if (sym >= 0) {
      if (sym === EOS) throw new H2Error('ERR_H2_COMPRESSION', 'Huffman string contains EOS');
      out[o++] = sym;
    }
    state = NEXT[k]!;
  }
  if (!ACCEPT[state]) throw new H2Error('ERR_H2_COMPRESSION', 'Huffman string has invalid padding');
  return out.toString('latin1', 0, o);
}

/** Octets the Huffman encoding of the latin1 string `s` takes. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >> 3;
}

/** Writes the Huffman encoding of `s` at `dst[off]`, padded with EOS's leading ones; returns the new offset. */
export function huffmanEncode(s: string, dst: Uint8Array, off: number): number {
  // Codes are up to 30 bits and up to 7 bits wait for the next octet: feed codes in pieces of
  // at most 24 bits so the accumulator stays within 31 bits (plain int32 arithmetic).
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const code = CODES[c]!;
    let len = CODE_LENGTHS[c]!;
    while (len > 0) {
      const take = len > 24 ? len - 24 : len;
      len -= take;
      acc = (acc << take) | ((code >>> len) & ((1 << take) - 1));
      bits += take;
      while (bits >= 8) {
        bits -= 8;
        dst[off++] = (acc >>> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) dst[off++] = ((acc << (8 - bits)) | (0xff >> bits)) & 0xff;
  return off;
}
