/**
 * Writes a message's bytes into one buffer and records the scanner's index for each header
 * field as it goes (copied lines keep their offsets, shifted; consecutive copied lines are
 * copied in one call), so a message built from validated parts needs no second scan.
 */
import { Buffer } from 'node:buffer';
import type { SipMessage } from './message.js';
import { STRIDE } from './scanner.js';

export class Assembler {
  buf: Buffer;
  pos = 0;
  readonly h: number[] = [];
  count = 0;
  /** a pending run of consecutive source lines, copied in one call when the run ends. */
  private src: Buffer | undefined = undefined;
  private runS = 0;
  private runE = 0;
  constructor(bound: number) {
    this.buf = Buffer.allocUnsafe(bound);
  }
  /** writes the pending run of copied bytes. */
  flush(): void {
    // `| 0`: Buffer#copy may return its count as a heap number; offsets stay small integers
    // (an index holding doubles would make every scanner function deoptimize to float code)
    if (this.src !== undefined && this.runE > this.runS) this.pos += this.src.copy(this.buf, this.pos, this.runS, this.runE) | 0;
    this.src = undefined;
    this.runS = this.runE = 0;
  }
  /**
   * A short ASCII string in a JS loop (a native call costs more for a name or a CRLF); a longer
   * one, or any UTF-8, natively: the loop costs ~50 instructions a char on a Buffer that is not
   * a constant to the compiler (callgrind: 5,000 for a 100-char Via).
   */
  text(s: string): void {
    this.flush();
    const buf = this.buf;
    if (s.length > 16) {
      this.pos += buf.write(s, this.pos, 'utf8') | 0;
      return;
    }
    let pos = this.pos;
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80) {
        this.pos = pos + (buf.write(s.slice(k), pos, 'utf8') | 0);
        return;
      }
      buf[pos++] = c;
    }
    this.pos = pos;
  }
  /** copies src[s..e) (a start line, the empty line): joins a run of copied bytes when it can. */
  bytes(src: Buffer, s: number, e: number): void {
    if (this.src !== src || s !== this.runE) {
      this.flush();
      this.src = src;
      this.runS = this.runE = s;
    }
    this.runE = e;
  }

  /** copies header field i of `from` (its whole line, folds included), shifting its offsets. */
  copyField(from: SipMessage, i: number): void {
    const h = from._ix.h;
    const o = i * STRIDE;
    const ls = h[o]!;
    const le = h[o + 4]!;
    if (this.src !== from.raw || ls !== this.runE) {
      this.flush();
      this.src = from.raw;
      this.runS = this.runE = ls;
    }
    const delta = this.pos + (ls - this.runS) - ls;
    this.runE = le;
    this.h.push(ls + delta, h[o + 1]! + delta, h[o + 2]! + delta, h[o + 3]! + delta, le + delta, h[o + 5]!);
    this.count++;
  }
  /** copies field i up to the end of its value, appends `extra` to the value, ends the line. */
  copyFieldAppending(from: SipMessage, i: number, extra: string): void {
    this.flush();
    const h = from._ix.h;
    const o = i * STRIDE;
    const ls = h[o]!;
    const delta = this.pos - ls;
    this.pos += from.raw.copy(this.buf, this.pos, ls, h[o + 3]!) | 0;
    this.text(extra);
    const ve = this.pos;
    this.text('\r\n');
    this.h.push(ls + delta, h[o + 1]! + delta, h[o + 2]! + delta, ve, this.pos, h[o + 5]!);
    this.count++;
  }
  field(name: string, value: string, id: number): void {
    this.flush();
    const ls = this.pos;
    this.text(name);
    const ne = this.pos;
    this.text(': ');
    const vs = this.pos;
    this.text(value);
    const ve = this.pos;
    this.text('\r\n');
    this.h.push(ls, ne, vs, ve, this.pos, id);
    this.count++;
  }
  /** appends bytes (the body) and returns the buffer of what was written. */
  finish(body: Buffer): Buffer {
    this.flush();
    if (body.length > 0) this.pos += body.copy(this.buf, this.pos) | 0;
    return this.buf.subarray(0, this.pos);
  }
}

