/**
 * Splits a reassembled SIP byte stream into messages by Content-Length (RFC 3261 18.3: over a
 * stream transport the header is mandatory and tells where the body ends). A capture tool's
 * framer, simple on purpose: the bridge has its own production framer.
 * CRLF keep-alives between messages (RFC 5626 3.5.1) are skipped and counted.
 */

export interface FramerStats {
  keepAlives: number;
  framingErrors: number;
}

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 1024 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

export class SipStreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** set after a framing error: the rest of the stream cannot be trusted to be aligned. */
  private broken = false;
  constructor(readonly stats: FramerStats = { keepAlives: 0, framingErrors: 0 }) {}

  /** bytes held back waiting for the rest of a message. */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.broken) return [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      let start = 0;
      while (start + 1 < this.buf.length && this.buf[start] === 13 && this.buf[start + 1] === 10) {
        start += 2;
        if (start % 4 === 0) this.stats.keepAlives++;
      }
      if (start > 0) this.buf = this.buf.subarray(start);
      if (this.buf.length === 0) break;
      const headEnd = this.buf.indexOf(CRLFCRLF);
      if (headEnd < 0) {
        if (this.buf.length > MAX_HEAD) this.fail();
        break;
      }
      const bodyLen = contentLength(this.buf.subarray(0, headEnd));
      if (bodyLen === undefined || bodyLen > MAX_BODY) {
        this.fail();
        break;
      }
      const total = headEnd + 4 + bodyLen;
      if (this.buf.length < total) break;
      out.push(Buffer.from(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
    return out;
  }

  private fail(): void {
    this.stats.framingErrors++;
    this.broken = true;
    this.buf = Buffer.alloc(0);
  }
}

/** Content-Length (or compact `l`) from a header block; 0 when absent, undefined when invalid. */
export function contentLength(head: Buffer): number | undefined {
  const lines = head.toString('latin1').split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name !== 'content-length' && name !== 'l') continue;
    const value = line.slice(colon + 1).trim();
    if (!/^\d{1,9}$/.test(value)) return undefined;
    return Number(value);
  }
  return 0;
}
