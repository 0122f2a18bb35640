/**
 * Stream framing of SIP over TCP/TLS (RFC 3261 §18.3): a message is its headers up to the
 * empty line, then exactly Content-Length bytes of body, mandatory on streams. Between
 * messages, RFC 5626 §4.4.1 keep-alives: a CRLFCRLF "ping" (answered with a CRLF "pong" by
 * the caller) and a lone CRLF "pong", both ignored as framing.
 *
 * Zero-copy: the framer keeps the chunks as they arrived. A message that lies inside one
 * chunk is handed on as a view of it; only a message that spans chunks is concatenated,
 * once, when it is complete. The search for the end of the headers resumes where it stopped,
 * so a client trickling one byte at a time costs O(bytes), not O(bytes²).
 *
 * Limits: the whole message (headers + body) may not exceed maxMessageBytes; the start line
 * must look like SIP as soon as its first line is complete, so garbage closes the connection
 * at once instead of waiting for the size limit. Slowloris (headers that never complete) is
 * the caller's job: `partialSince` tells since when a message has been incomplete.
 */
import { requestLineVersion } from '../core/transport/bad-request.js';
import { BridgeError } from './errors.js';

const CR = 13;
const LF = 10;
/** A status line of any version (see #checkStartLine; request lines: requestLineVersion). */
const STATUS_LINE = /^SIP\/\d+\.\d+[ \t]/i;

export interface FramerSink {
  message(msg: Buffer): void;
  /** a CRLFCRLF ping arrived: answer with CRLF (RFC 5626 §4.4.1). */
  ping(): void;
}

export class StreamFramer {
  readonly #sink: FramerSink;
  readonly #max: number;
  #chunks: Buffer[] = [];
  /** bytes held in #chunks (the first chunk already trimmed of consumed bytes). */
  #held = 0;
  /** the search for CRLFCRLF resumes at chunk #scanIdx, which starts at message offset #scanBase. */
  #scanIdx = 0;
  #scanBase = 0;
  /** the last (up to 3) bytes already searched, latin1. */
  #tail = '';
  /** end of headers (offset past CRLFCRLF) once found, else -1. */
  #headerEnd = -1;
  /** total message length once known, else -1. */
  #total = -1;
  #startLineChecked = false;
  /**
   * Date.now() when the pending partial message began, 0 when nothing is pending: no bytes, or
   * only the CR/LF of a keep-alive that may still grow into a ping (a lone CRLF pong waits for
   * the next byte to tell, and a phone may send nothing for minutes after it).
   */
  partialSince = 0;
  /** messages handed on so far (push tells by it whether the pending bytes began a new one). */
  #emitted = 0;
  /** the header block of a message refused as too large (ERR_FRAME_MESSAGE_TOO_LARGE). */
  #tooLarge: Buffer | undefined;

  constructor(sink: FramerSink, maxMessageBytes: number) {
    this.#sink = sink;
    this.#max = maxMessageBytes;
  }

  /**
   * After ERR_FRAME_MESSAGE_TOO_LARGE: the refused message's header block, complete (its
   * Content-Length announced too much), so that a request can still be answered 513.
   */
  get tooLargeHeaders(): Buffer | undefined {
    return this.#tooLarge;
  }

  /** Bytes held for an incomplete message. */
  get pending(): number {
    return this.#held;
  }

  /** Feeds one chunk; throws BridgeError (ERR_FRAME_*) on a broken stream. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    const before = this.#emitted;
    this.#drain();
    if (this.#held === 0 || this.#onlyKeepAlive()) this.partialSince = 0;
    // the header timeout runs from the start of the message still incomplete, not from the
    // first of a pipelined run: a message completed in this chunk ends its predecessor's clock
    else if (this.partialSince === 0 || this.#emitted !== before) this.partialSince = Date.now();
  }

  /** What is held is CR and LF only: the start of a keep-alive, not of a message. */
  #onlyKeepAlive(): boolean {
    if (this.#held > 3 || this.#headerEnd >= 0) return false;
    for (let i = 0; i < this.#held; i++) {
      const b = this.#byteAt(i);
      if (b !== CR && b !== LF) return false;
    }
    return true;
  }

  #drain(): void {
    for (;;) {
      if (this.#held === 0) return;
      if (this.#headerEnd < 0) {
        if (!this.#skipKeepAlives()) return;
        if (this.#held === 0) return;
        if (!this.#startLineChecked && !this.#checkStartLine()) return;
        const end = this.#findHeaderEnd();
        if (end < 0) {
          if (this.#held > this.#max) throw new BridgeError('ERR_FRAME_HEADERS_TOO_LARGE', `headers exceed ${this.#max} bytes`);
          return;
        }
        this.#headerEnd = end;
        const cl = this.#contentLength(this.#bytes(end));
        if (end + cl > this.#max) {
          this.#tooLarge = this.#bytes(end);
          throw new BridgeError('ERR_FRAME_MESSAGE_TOO_LARGE', `message of ${end + cl} bytes exceeds ${this.#max}`);
        }
        this.#total = end + cl;
      }
      if (this.#held < this.#total) return;
      const msg = this.#bytes(this.#total);
      this.#consume(this.#total);
      this.#headerEnd = -1;
      this.#total = -1;
      this.#resetScan();
      this.#startLineChecked = false;
      this.#emitted++;
      this.#sink.message(msg);
    }
  }

  /** Drops leading CRLFs, reporting CRLFCRLF pings; false when more bytes are needed to tell. */
  #skipKeepAlives(): boolean {
    while (this.#held > 0) {
      const b0 = this.#byteAt(0);
      if (b0 !== CR && b0 !== LF) return true;
      if (this.#held < 2) return false;
      if (b0 === CR && this.#byteAt(1) === LF) {
        if (this.#held < 4) {
          // "\r\n" then something: a pong if the next byte is not CR; else wait for the rest
          if (this.#held === 3 && this.#byteAt(2) !== CR) {
            this.#consume(2);
            continue;
          }
          return false;
        }
        if (this.#byteAt(2) === CR && this.#byteAt(3) === LF) {
          this.#consume(4);
          this.#sink.ping();
        } else this.#consume(2);
      } else this.#consume(1); // a stray LF (RFC 3261 §7.5: ignore empty lines before the start line)
    }
    return true;
  }

  /**
   * Checks the start line once it is complete: it must read as a SIP status line (`SIP/x.y …`)
   * or request line (`METHOD … SIP/x.y`). A malformed one (extra spaces, trailing whitespace,
   * another version) is still framed: the relay answers it 400 or 505 as RFC 4475 §3.1.2.8-10
   * and §3.1.2.16 ask, and the phone keeps its connection. What is no SIP at all (HTTP, a TLS
   * record on the TCP port, binary) closes the connection at once.
   */
  #checkStartLine(): boolean {
    const lf = this.#indexOfLf(Math.min(this.#held, 1024));
    if (lf < 0) {
      if (this.#held >= 1024) throw new BridgeError('ERR_FRAME_BAD_START_LINE', 'start line longer than 1024 bytes');
      // fail early on bytes that cannot begin a start line (a token character or "SIP/")
      const b = this.#byteAt(0);
      if (b < 0x21 || b > 0x7e) throw new BridgeError('ERR_FRAME_BAD_START_LINE', 'start line begins with a non-token byte');
      return false;
    }
    const line = this.#bytes(lf).toString('latin1').replace(/\r$/, '');
    if (!STATUS_LINE.test(line) && requestLineVersion(line) === undefined) {
      throw new BridgeError('ERR_FRAME_BAD_START_LINE', `not a SIP start line: ${JSON.stringify(line.slice(0, 60))}`);
    }
    this.#startLineChecked = true;
    return true;
  }

  /**
   * Offset past the CRLFCRLF ending the headers, or -1. Resumes at the first chunk not yet
   * searched; the last 3 bytes searched are kept so a CRLFCRLF split over chunks is found.
   */
  #findHeaderEnd(): number {
    for (let i = this.#scanIdx; i < this.#chunks.length; i++) {
      const c = this.#chunks[i]!;
      const base = this.#scanBase;
      if (base > 0) {
        const probe = this.#tail + c.toString('latin1', 0, Math.min(3, c.length));
        const k = probe.indexOf('\r\n\r\n');
        if (k >= 0) return base - this.#tail.length + k + 4;
      }
      const local = c.indexOf('\r\n\r\n', 0, 'latin1');
      if (local >= 0) return base + local + 4;
      this.#tail = (this.#tail + c.toString('latin1', Math.max(0, c.length - 3))).slice(-3);
      this.#scanBase = base + c.length;
      this.#scanIdx = i + 1;
    }
    return -1;
  }

  #resetScan(): void {
    this.#scanIdx = 0;
    this.#scanBase = 0;
    this.#tail = '';
  }

  /** Content-Length from the header block (full or compact `l`), RFC 3261 §20.14. */
  #contentLength(head: Buffer): number {
    let pos = head.indexOf(LF) + 1;
    let found = -1;
    while (pos > 0 && pos < head.length) {
      const nl = head.indexOf(LF, pos);
      if (nl < 0) break;
      const c = head[pos]! | 0x20;
      if (c === 0x63 /* c */ || c === 0x6c /* l */) {
        const colon = head.indexOf(0x3a, pos);
        if (colon > 0 && colon < nl) {
          const name = head.toString('latin1', pos, colon).trim().toLowerCase();
          if (name === 'content-length' || name === 'l') {
            const text = head.toString('latin1', colon + 1, nl).trim();
            if (!/^\d{1,10}$/.test(text)) throw new BridgeError('ERR_FRAME_BAD_CONTENT_LENGTH', `bad Content-Length ${JSON.stringify(text.slice(0, 20))}`);
            const v = Number(text);
            if (found >= 0 && v !== found) throw new BridgeError('ERR_FRAME_BAD_CONTENT_LENGTH', 'conflicting Content-Length headers');
            found = v;
          }
        }
      }
      pos = nl + 1;
    }
    if (found < 0) throw new BridgeError('ERR_FRAME_MISSING_CONTENT_LENGTH', 'Content-Length is mandatory on stream transports (RFC 3261 §18.3)');
    return found;
  }

  #byteAt(off: number): number {
    for (const c of this.#chunks) {
      if (off < c.length) return c[off]!;
      off -= c.length;
    }
    return -1;
  }

  #indexOfLf(limit: number): number {
    let base = 0;
    for (const c of this.#chunks) {
      if (base >= limit) break;
      const i = c.indexOf(LF);
      if (i >= 0 && base + i < limit) return base + i;
      base += c.length;
    }
    return -1;
  }

  /** The first n held bytes: a view when they lie in the first chunk, else one concatenation. */
  #bytes(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (n <= first.length) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    for (const c of this.#chunks) {
      const take = Math.min(c.length, n - off);
      c.copy(out, off, 0, take);
      off += take;
      if (off === n) break;
    }
    // keep the joined bytes as one chunk so later look-ups do not walk the pieces again
    this.#replacePrefix(out, n);
    return out;
  }

  #replacePrefix(joined: Buffer, n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0]!;
      if (c.length <= left) {
        left -= c.length;
        this.#chunks.shift();
      } else {
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.#chunks.unshift(joined);
    this.#resetScan();
  }

  #consume(n: number): void {
    this.#held -= n;
    this.#resetScan();
    while (n > 0) {
      const c = this.#chunks[0]!;
      if (c.length <= n) {
        n -= c.length;
        this.#chunks.shift();
      } else {
        this.#chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }
}
