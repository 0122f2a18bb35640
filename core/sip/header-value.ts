/**
 * Decoding of header-field values from the original bytes: UTF-8 (RFC 3261 §25: TEXT-UTF8 in
 * display names, reason phrases and extension headers), and folded values normalised so each
 * CRLF + whitespace run becomes one SP (§7.3.1: equivalent to a single SP).
 */

interface FastSlice {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

/** Buffer's unchecked slice decoders (the checked toString(enc, s, e) validates its arguments). */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlice).utf8Slice(start, end);
}

export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlice).latin1Slice(start, end);
}

export function unfold(v: string): string {
  let out = '';
  let i = 0;
  let start = 0;
  while (i < v.length) {
    const c = v.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) {
      let j = i;
      while (j > start && (v.charCodeAt(j - 1) === 0x20 || v.charCodeAt(j - 1) === 0x09)) j--;
      out += v.slice(start, j) + ' ';
      i++;
      while (i < v.length) {
        const d = v.charCodeAt(i);
        if (d !== 0x0d && d !== 0x0a && d !== 0x20 && d !== 0x09) break;
        i++;
      }
      start = i;
    } else i++;
  }
  return start === 0 ? v : out + v.slice(start);
}
