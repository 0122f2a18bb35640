/**
 * Decoding of values from the original bytes, only when asked: `ascii` (latin1) for tokens,
 * hosts and numbers; `text` (UTF-8, RFC 3261 §25 TEXT-UTF8) for display names, reason phrases
 * and whole values, with folds normalised so each CRLF + whitespace run becomes one SP
 * (§7.3.1: equivalent to a single SP).
 */
import { unquote } from './chars.js';

interface FastSlice {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

/** Buffer's unchecked slice decoders (toString(enc, s, e) re-validates its arguments). */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlice).utf8Slice(start, end);
}

export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlice).latin1Slice(start, end);
}

/** UTF-8 text of buf[start..end) with folds normalised. */
export function text(buf: Buffer, start: number, end: number): string {
  const v = utf8(buf, start, end);
  return v.indexOf('\n') < 0 && v.indexOf('\r') < 0 ? v : unfold(v);
}

/** The content of the quoted-string buf[start..end) (quotes included), escapes resolved. */
export function quotedText(buf: Buffer, start: number, end: number): string {
  const v = text(buf, start, end);
  return unquote(v, 0, v.length);
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

/**
 * The bytes a view was read from, with their latin1 text decoded once on the first string
 * read: tokens (Call-ID, branch, tags, hosts) are then substrings of that text instead of one
 * native decode each. latin1 maps each byte to one UTF-16 unit, so offsets are shared.
 */
export class Src {
  constructor(
    readonly b: Buffer,
    /** decode at most up to here (the end of the header block: the body is never needed). */
    public end: number,
    /** the latin1 text of b[0..end) when the caller already has it (a message it wrote). */
    private t: string | undefined = undefined,
  ) {}

  /** latin1 text of b[s..e). */
  ascii(s: number, e: number): string {
    let t = this.t;
    if (t === undefined) t = this.t = latin1(this.b, 0, this.end);
    return e <= this.end ? t.slice(s, e) : latin1(this.b, s, e);
  }

  /** the latin1 text of b[0..end) (what ascii slices). */
  head(): string {
    let t = this.t;
    if (t === undefined) t = this.t = latin1(this.b, 0, this.end);
    return t;
  }
}

/** a Src over a whole buffer (views built from text by parseVia, parseNameAddr, …). */
export function srcOf(b: Buffer): Src {
  return new Src(b, b.length);
}
