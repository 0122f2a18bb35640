/**
 * JSON text by template on the hot path. `JSON.stringify` of a small object costs more than
 * the strings it joins; the answers and APNs payloads the mediator writes per push are
 * templates whose only variable parts are strings, written here exactly as JSON.stringify
 * would write them (RFC 8259 §7).
 */

/** A JSON string literal, byte for byte what JSON.stringify gives; plain ASCII without it. */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Controls, quote and backslash need escapes; beyond ASCII (lone surrogates) let V8 decide.
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/**
 * JSON text written as UTF-8 straight into one reusable buffer, then copied out once: no
 * intermediate strings (a `+` chain makes one string per step and a flat copy to encode).
 * Plain ASCII is copied byte by byte; anything that needs escaping or is not ASCII goes
 * through JSON.stringify and Buffer#write, so the bytes are those of JSON.stringify.
 * Single-threaded use: `begin()`, the writes, then `end()` before anything else writes.
 *
 * With `slab`, documents are laid one after the other in 64 KiB slabs and `end()` returns a
 * slice, not a copy (a slab lives as long as a slice of it does): the APNs payloads, kept
 * while their push is in flight.
 */
export class JsonWriter {
  private buf: Buffer;
  /** Where the current document starts in `buf` (0 unless `slab`). */
  private start = 0;
  private pos = 0;

  constructor(private readonly slab = false) {
    this.buf = slab ? Buffer.allocUnsafeSlow(SLAB) : Buffer.allocUnsafe(4096);
  }

  begin(): this {
    if (this.slab) {
      if (this.buf.length - this.pos < SLAB / 16) this.replace(Buffer.allocUnsafeSlow(SLAB));
      this.start = this.pos;
      return this;
    }
    this.pos = 0;
    // A huge document (refused later for its size) does not keep a huge buffer alive.
    if (this.buf.length > 65_536) this.replace(Buffer.allocUnsafe(4096));
    return this;
  }

  /** Literal JSON text (keys, punctuation), ASCII only. */
  raw(text: string): this {
    this.room(text.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < text.length; i++) b[p++] = text.charCodeAt(i);
    this.pos = p;
    return this;
  }

  /** A JSON string literal of `s`. */
  str(s: string): this {
    // Room for the worst case: every unit escaped as \uXXXX.
    this.room(6 * s.length + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
        this.pos += this.buf.write(JSON.stringify(s), this.pos, 'utf8');
        return this;
      }
      b[p++] = c;
    }
    b[p++] = 0x22;
    this.pos = p;
    return this;
  }

  /** JSON text that may hold any character (e.g. the output of JSON.stringify). */
  text(json: string): this {
    this.room(3 * json.length);
    this.pos += this.buf.write(json, this.pos, 'utf8');
    return this;
  }

  /**
   * What was written since `begin()`, without a copy: valid until the next `begin()`, for a
   * caller that hands it on synchronously (uWS copies an answer into its send buffer). Views
   * are kept per length, so a steady answer size costs no allocation at all.
   */
  view(): Uint8Array {
    let v = this.views.get(this.pos);
    if (v === undefined) {
      v = this.buf.subarray(0, this.pos);
      if (this.views.size >= 64) this.views.clear();
      this.views.set(this.pos, v);
    }
    return v;
  }
  private readonly views = new Map<number, Uint8Array>();

  /** What was written since `begin()`: a slice of the slab with `slab`, else a copy. */
  end(): Buffer {
    if (this.slab) {
      const out = this.buf.subarray(this.start, this.pos);
      this.start = this.pos;
      return out;
    }
    const n = this.pos;
    const out = Buffer.allocUnsafe(n);
    const b = this.buf;
    // Buffer#copy of a part makes a view object per call; a payload is a few hundred octets.
    if (n <= 1024) for (let i = 0; i < n; i++) out[i] = b[i]!;
    else b.copy(out, 0, 0, n);
    return out;
  }

  /** A new buffer: the views of the old one go with it. */
  private replace(b: Buffer): void {
    this.buf = b;
    this.start = this.pos = 0;
    this.views.clear();
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // The document so far moves to the start of a larger buffer (a new slab).
    const len = this.pos - this.start;
    const size = this.slab ? Math.max(SLAB, len + n) : Math.max(2 * this.buf.length, len + n);
    const bigger = this.slab ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, this.start, this.pos);
    this.replace(bigger);
    this.pos = len;
  }
}

const SLAB = 64 * 1024;
