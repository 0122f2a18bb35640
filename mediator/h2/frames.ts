/**
 * HTTP/2 framing (RFC 9113 §4, §6): frame types, flags, settings, and the Outbox that our
 * session writes frames into. The Outbox is a bump allocator over large chunks: frames for
 * many requests are laid down back to back and handed to the socket as one write per
 * event-loop turn, with no per-frame Buffer allocation.
 */

/** RFC 9113 §3.4: the client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER = 9;

/** RFC 9113 §6 frame types. */
export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

/** Frame flags (meaning depends on the type). */
export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

/** RFC 9113 §6.5.2 setting identifiers. */
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** RFC 9113 §6.5.2 / §6.9: defaults and bounds. */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 0x7fff_ffff;
export const MIN_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 16_777_215;

const CHUNK = 64 * 1024;
/** Up to this many octets a loop copies a part of a buffer without allocating a view. */
const SMALL_COPY = 512;

export class Outbox {
  private buf: Buffer = Buffer.allocUnsafeSlow(CHUNK);
  /** Start of the bytes not yet handed out, and the write position. */
  private start = 0;
  pos = 0;
  /** Filled regions of earlier chunks, waiting for the next take(). */
  private full: Buffer[] = [];

  get empty(): boolean {
    return this.pos === this.start && this.full.length === 0;
  }

  /** Reserves `n` bytes; returns the buffer to write them into at `this.pos`. */
  reserve(n: number): Buffer {
    if (this.pos + n > this.buf.length) {
      if (this.pos > this.start) this.full.push(this.buf.subarray(this.start, this.pos));
      // Regions already handed to the socket keep the old chunk alive until written.
      this.buf = Buffer.allocUnsafeSlow(Math.max(CHUNK, n));
      this.start = this.pos = 0;
    }
    return this.buf;
  }

  /** Writes a frame header for a payload of `len` bytes the caller writes next (§4.1). */
  header(len: number, type: number, flags: number, streamId: number): Buffer {
    const b = this.reserve(FRAME_HEADER + len);
    let p = this.pos;
    b[p++] = len >>> 16;
    b[p++] = (len >>> 8) & 0xff;
    b[p++] = len & 0xff;
    b[p++] = type;
    b[p++] = flags;
    b.writeUInt32BE(streamId, p);
    this.pos = p + 4;
    return b;
  }

  /** A frame whose payload is copied from `src[off..off+len)`. */
  frame(type: number, flags: number, streamId: number, src: Uint8Array, off: number, len: number): void {
    const b = this.header(len, type, flags, streamId);
    if (len === 0) return;
    let p = this.pos;
    if (len === src.length && off === 0) b.set(src, p);
    else if (len <= SMALL_COPY) {
      // A header block from the scratch buffer: a view for set() would be one object per frame.
      for (let i = off, e = off + len; i < e; i++) b[p++] = src[i]!;
    } else b.set(src.subarray(off, off + len), p);
    this.pos += len;
  }

  raw(src: Buffer): void {
    const b = this.reserve(src.length);
    src.copy(b, this.pos);
    this.pos += src.length;
  }

  /** §6.5: SETTINGS from (id, value) pairs; ACK when `ack`. */
  settings(pairs: ReadonlyArray<readonly [number, number]>, ack = false): void {
    const b = this.header(pairs.length * 6, SETTINGS, ack ? FLAG_ACK : 0, 0);
    for (const [id, v] of pairs) {
      b.writeUInt16BE(id, this.pos);
      b.writeUInt32BE(v, this.pos + 2);
      this.pos += 6;
    }
  }

  /** §6.9 WINDOW_UPDATE. */
  windowUpdate(streamId: number, increment: number): void {
    const b = this.header(4, WINDOW_UPDATE, 0, streamId);
    b.writeUInt32BE(increment, this.pos);
    this.pos += 4;
  }

  /** §6.4 RST_STREAM. */
  rstStream(streamId: number, code: number): void {
    const b = this.header(4, RST_STREAM, 0, streamId);
    b.writeUInt32BE(code, this.pos);
    this.pos += 4;
  }

  /** §6.7 PING (8 opaque octets). */
  ping(payload: Uint8Array, ack: boolean): void {
    this.frame(PING, ack ? FLAG_ACK : 0, 0, payload, 0, 8);
  }

  /** §6.8 GOAWAY with a debug text (never secrets: it goes to the peer). */
  goaway(lastStreamId: number, code: number, debug: string): void {
    const d = Buffer.from(debug.slice(0, 256), 'utf8');
    const b = this.header(8 + d.length, GOAWAY, 0, 0);
    b.writeUInt32BE(lastStreamId, this.pos);
    b.writeUInt32BE(code, this.pos + 4);
    d.copy(b, this.pos + 8);
    this.pos += 8 + d.length;
  }

  /** Everything written since the last take(), as one buffer or a list; undefined when nothing. */
  take(): Buffer | Buffer[] | undefined {
    const tail = this.pos > this.start ? this.buf.subarray(this.start, this.pos) : undefined;
    this.start = this.pos;
    if (this.full.length === 0) return tail;
    const all = this.full;
    this.full = [];
    if (tail) all.push(tail);
    return all;
  }
}

/** One frame as bytes: for tests and raw peers. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId, 5);
  b.set(payload, FRAME_HEADER);
  return b;
}
