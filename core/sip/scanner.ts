/**
 * The one pass over the bytes: finds the start line and, for every header field, the offsets of
 * its name, value and line (folded continuation lines included), identifies known names while
 * walking them, hands each field the parser validates to `checkField` as soon as it is framed
 * (so its bytes are read while still in cache, and no second loop over the index is needed),
 * and frames the body by Content-Length. Nothing is decoded here except numbers; every loop
 * advances by at least one byte and is bounded by the input, itself bounded by `maxMessageBytes`.
 */
import { Buffer } from 'node:buffer';
import { SipParseError } from './errors.js';
import { TOKEN as TOKEN_TABLE } from './chars.js';
import { CANONICAL, H, knownNameAt } from './header-names.js';
import { SCRATCH as SCAN_BUFFER, SCRATCH_VIEW, loadHeaderBlock } from './scratch.js';
import { beginFields, checkField, checkFieldLine, checkRequestUri } from './validate.js';
import type { Src } from './header-value.js';
import type { ParseLimits } from './types.js';

// Module-local aliases of the chars.ts tables: V8 folds a module's own const into the code
// (a byte index into a 256-entry table then needs no bounds check), while an imported binding
// is re-read through its cell on every access (~30% per byte in these loops, measured).
const TOKEN = TOKEN_TABLE;
const BYTES = SCAN_BUFFER;
const VIEW = SCRATCH_VIEW;

/** Offsets of one message inside its buffer; SipMessage keeps these and decodes on demand. */
export interface MessageIndex {
  start: number;
  isRequest: boolean;
  /** request: end of method, start and end of the Request-URI. */
  methodEnd: number;
  uriStart: number;
  uriEnd: number;
  /** response: status code and reason phrase range. */
  status: number;
  reasonStart: number;
  reasonEnd: number;
  /** end of the start line's text (before CRLF). */
  startLineEnd: number;
  /** 6 numbers per header: lineStart, nameEnd, valueStart, valueEnd, lineEnd, id | folded << 8. */
  h: number[];
  count: number;
  /** -1 when there is no Content-Length header. */
  contentLength: number;
  bodyStart: number;
  bodyEnd: number;
}

/** (a module-local const is folded into the code; an exported one is read from its cell) */
const STEP = 6;
export const STRIDE = STEP;
export const FOLDED = 0x100;

function fail(code: ConstructorParameters<typeof SipParseError>[0], msg: string, header?: string): never {
  throw new SipParseError(code, msg, header);
}

// The limit errors build their text in a function of their own: a template literal in the
// loop was computed on every header (TurboFan merged the two identical ones and scheduled the
// number-to-string conversion before the branch, measured with callgrind).
function tooMany(max: number): never {
  fail('TOO_MANY_HEADERS', `more than ${max} header fields`);
}

function tooLong(max: number, header: string): never {
  fail('HEADER_TOO_LONG', `header field longer than ${max} bytes`, header);
}

/**
 * RFC 3261 §25.1: header values are TEXT-UTF8char and LWS, a reason phrase has no control
 * character either; CR and LF only end lines (and a fold's line). So b[s..e) may hold no control
 * character but HTAB and, in a folded value (`folded`), the CR LF (or bare LF) before each
 * continuation line's whitespace. A lone CR matters most: some stacks end a line there, so a
 * header hidden behind one would be read by the next hop and not by us. Used for the reason
 * phrase and every field framed by the general path (the values no grammar walks, a Retry-After's
 * comment, the whitespace its trims take off); a validated field read in its common shape is left
 * to its grammar, which refuses control characters, in quoted strings too (chars.ts quotedEnd,
 * name-addr.ts quotedEndInLine). Eight bytes a step until a word has a byte below 0x20,
 * (x - 0x20202020) & ~x & 0x80808080, or a DEL (a zero byte of x ^ 0x7f7f7f7f): from there byte
 * by byte (a value with an HTAB or a fold, both rare).
 */
function controlFree(s: number, e: number, folded: boolean): boolean {
  const b = BYTES;
  const view = VIEW;
  let i = s;
  // unaligned words (DataView), two at a time, up to the first pair that may hold one, then
  // byte by byte
  for (; i + 8 <= e; i += 8) {
    const x = view.getInt32(i, true);
    const z = view.getInt32(i + 4, true);
    const y = x ^ 0x7f7f7f7f;
    const w = z ^ 0x7f7f7f7f;
    if ((((x - 0x20202020) & ~x) | ((y - 0x01010101) & ~y) | ((z - 0x20202020) & ~z) | ((w - 0x01010101) & ~w)) & 0x80808080) break;
  }
  for (; i < e; i++) {
    const c = b[i]!;
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) {
      // a fold: CR LF (or a bare LF, which the framing takes for a line end) then SP or HTAB
      if (!folded) return false;
      if (c === 0x0d && b[i + 1] === 0x0a) i++;
      if (b[i] !== 0x0a || i + 1 >= e || (b[i + 1] !== 0x20 && b[i + 1] !== 0x09)) return false;
    }
  }
  return true;
}

function controlCharacter(name: string | undefined): never {
  fail(name === undefined ? 'BAD_START_LINE' : 'BAD_HEADER_VALUE', name === undefined ? 'control character in the reason phrase' : 'control character (or a CR not followed by LF) in the value', name);
}

function nameAt(buf: Uint8Array, s: number, e: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + s, Math.min(e - s, 100)).toString('latin1');
}

/** RFC 3261 §7.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF */
function scanRequestLine(p: number, end: number, ix: MessageIndex): void {
  const buf = BYTES;
  let i = p;
  while (i < end && TOKEN[buf[i]!] === 1) i++;
  if (i === p || i >= end || buf[i] !== 0x20) fail('BAD_START_LINE', 'invalid request line: method');
  ix.methodEnd = i;
  const us = i + 1;
  let last = end - 1;
  while (last > us && buf[last] !== 0x20) last--;
  if (last <= us) fail('BAD_START_LINE', 'invalid request line: expected Method SP Request-URI SP SIP-Version');
  // the version: exactly SIP/2.0 (case-insensitive literal, §7.1)
  const vs = last + 1;
  if (vs >= end) fail('BAD_START_LINE', 'invalid request line: no SIP-Version');
  checkVersion(buf, vs, end);
  // the URI's characters (no whitespace, controls or <>) are checked by scanUri (validate.ts)
  ix.uriStart = us;
  ix.uriEnd = last;
}

/** buf is the scan buffer: "SIP/" and "2.0" are read as DataView words of it. */
function checkVersion(buf: Uint8Array, vs: number, end: number): void {
  // the letters in either case (| 0x20 on their bytes only), the rest exactly
  const ok = end - vs === 7 && (VIEW.getInt32(vs, true) | 0x00202020) === 0x2f706973 && (VIEW.getUint16(vs + 4, true) | (buf[vs + 6]! << 16)) === 0x302e32;
  if (ok) return;
  const looksSip = end - vs > 4 && (buf[vs]! | 0x20) === 0x73 && (buf[vs + 1]! | 0x20) === 0x69 && (buf[vs + 2]! | 0x20) === 0x70 && buf[vs + 3] === 0x2f;
  if (looksSip) fail('BAD_VERSION', `unsupported SIP version ${nameAt(buf, vs, end)}`);
  fail('BAD_START_LINE', 'invalid start line: no SIP-Version');
}

/** RFC 3261 §7.2: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF */
function scanStatusLine(buf: Uint8Array, p: number, end: number, ix: MessageIndex): void {
  let i = p;
  while (i < end && buf[i] !== 0x20) i++;
  checkVersion(buf, p, i);
  if (end - i < 4) fail('BAD_START_LINE', 'invalid status line: no status code');
  const d0 = buf[i + 1]! - 0x30;
  const d1 = buf[i + 2]! - 0x30;
  const d2 = buf[i + 3]! - 0x30;
  if (d0 < 1 || d0 > 6 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || (i + 4 < end && buf[i + 4] !== 0x20)) {
    fail('BAD_START_LINE', 'invalid status line: Status-Code must be three digits 100-699');
  }
  ix.status = d0 * 100 + d1 * 10 + d2;
  ix.reasonStart = Math.min(i + 5, end);
  ix.reasonEnd = end;
  if (!controlFree(ix.reasonStart, end, false)) controlCharacter(undefined);
}

/**
 * The index is written here first, then copied out at its exact size (one allocation per
 * message instead of an array grown by pushes). Packed small integers.
 */
const SCRATCH: number[] = [];
const EMPTY_H: number[] = [];
/** ids of the fields checkField validates (all ≤ H.DATE < 32). */
const CHECKED =
  (1 << H.VIA) | (1 << H.FROM) | (1 << H.TO) | (1 << H.CALL_ID) | (1 << H.CSEQ) | (1 << H.CONTACT) | (1 << H.MAX_FORWARDS) |
  (1 << H.ROUTE) | (1 << H.RECORD_ROUTE) | (1 << H.EXPIRES) | (1 << H.RETRY_AFTER) | (1 << H.DATE);
for (let k = 0; k < 256 * STRIDE; k++) SCRATCH.push(0);
/** H.DATE as a number of this module (H is an object: its property is re-read and its map checked per line). */
const LAST_CHECKED = H.DATE;
const CONTENT_LENGTH = H.CONTENT_LENGTH;

/**
 * Scans and validates a message (see validate.ts; the caller finishes with finishFields);
 * throws SipParseError. `buf` (src.b) must be at most limits.maxMessageBytes long.
 */
export function scanMessage(src: Src, limits: ParseLimits, stream: boolean): MessageIndex {
  const raw = src.b;
  const len = raw.length;
  // the latin1 text of the bytes (the caller decoded it once): its indexOf is a native search
  // with less call overhead than Buffer's, and views slice their strings from it
  const text = src.head();
  let p = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored (and alone they are a keep-alive).
  while (p < len && (raw[p] === 0x0d || raw[p] === 0x0a)) p++;
  if (p === len) fail(len === 0 ? 'EMPTY' : 'KEEPALIVE', len === 0 ? 'empty message' : 'CRLF keep-alive');
  // every byte read below is read from the scan buffer (scratch.ts), at the same offsets
  loadHeaderBlock(raw, text, p);
  const buf = BYTES;
  const ix: MessageIndex = {
    start: p,
    isRequest: true,
    methodEnd: 0,
    uriStart: 0,
    uriEnd: 0,
    status: 0,
    reasonStart: 0,
    reasonEnd: 0,
    startLineEnd: 0,
    h: EMPTY_H,
    count: 0,
    contentLength: -1,
    bodyStart: 0,
    bodyEnd: 0,
  };
  // native memchr for the line end (the start line's bytes are checked by its own scans)
  const e = text.indexOf('\n', p);
  if (e < 0 || e > p + limits.maxHeaderBytes) {
    if (p + limits.maxHeaderBytes < len) fail('HEADER_TOO_LONG', 'start line longer than maxHeaderBytes');
    fail('TRUNCATED', 'no line end after the start line');
  }
  const slEnd = e > p && buf[e - 1] === 0x0d ? e - 1 : e;
  ix.startLineEnd = slEnd;
  if (slEnd - p > 4 && buf[p] === 0x53 && buf[p + 1] === 0x49 && buf[p + 2] === 0x50 && buf[p + 3] === 0x2f) {
    ix.isRequest = false;
    scanStatusLine(buf, p, slEnd, ix);
  } else if (slEnd - p > 4 && (buf[p]! | 0x20) === 0x73 && (buf[p + 1]! | 0x20) === 0x69 && (buf[p + 2]! | 0x20) === 0x70 && buf[p + 3] === 0x2f) {
    ix.isRequest = false;
    scanStatusLine(buf, p, slEnd, ix);
  } else scanRequestLine(p, slEnd, ix);
  p = e + 1;
  beginFields(src);
  if (ix.isRequest) checkRequestUri(raw, ix.uriStart, ix.uriEnd);

  const h = SCRATCH;
  let o = 0;
  // the limits as small integers the loop compares without floating point (Infinity, the
  // unlimited case, and any value no count or length reaches become 2**30 - 1)
  const mh = limits.maxHeaders;
  const maxHeaders = Number.isInteger(mh) && mh >= 0 && mh < 0x3fffffff ? mh | 0 : 0x3fffffff;
  const mhb = limits.maxHeaderBytes;
  const maxHeaderBytes = mhb <= 0 ? 0 : mhb < 0x3fffffff ? Math.ceil(mhb) | 0 : 0x3fffffff;
  let n = 0;
  let cl = -1;
  for (;;) {
    if (p >= len) fail('TRUNCATED', 'no empty line after the header fields');
    let c = buf[p]!;
    if (c === 0x0d && p + 1 < len && buf[p + 1] === 0x0a) {
      p += 2;
      break;
    }
    if (c === 0x0a) {
      p++;
      break;
    }
    if (n === maxHeaders) tooMany(mh);
    const ls = p;
    // a known name is compared in place (header-names.ts); any other is walked as a token
    const known = knownNameAt(buf, ls, len);
    const id = known & 0xff;
    if (known !== 0) p += known >>> 8;
    else {
      while (p < len) {
        c = buf[p]!;
        if (TOKEN[c] === 0) break;
        p++;
      }
    }
    const ne = p;
    if (ne === ls) fail('BAD_HEADER', c === 0x20 || c === 0x09 ? 'continuation line without a header field' : 'invalid header field name');
    let vs: number;
    if (p + 1 < len && VIEW.getUint16(p, true) === 0x203a) {
      // ": " right after the name, as nearly every stack writes it: one load for both bytes
      p++;
      vs = p + 1;
    } else {
      while (p < len && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
      if (p >= len || buf[p] !== 0x3a) fail('BAD_HEADER', 'header field name not followed by a colon', nameAt(buf, ls, ne));
      p++;
      vs = p;
    }
    let folded = 0;
    while (vs < len && (buf[vs] === 0x20 || buf[vs] === 0x09)) vs++;
    // A field the parser validates, in its common shape, is validated and its line end found in
    // one pass (validate.ts checkFieldLine). Otherwise the line is framed here (native memchr:
    // the search is bounded by the input, itself at most maxMessageBytes), then validated.
    const checked = id !== 0 && id <= LAST_CHECKED && ((CHECKED >>> id) & 1) === 1;
    let q = checked ? checkFieldLine(id, n, vs, len) : -1;
    let ve: number;
    if (q >= 0) {
      if (q - ls >= maxHeaderBytes) tooLong(mhb, nameAt(buf, ls, ne));
      ve = buf[q - 1] === 0x0d ? q - 1 : q;
    } else {
      q = p;
      for (;;) {
        q = text.indexOf('\n', q);
        if (q < 0) fail('TRUNCATED', 'header field line not terminated', nameAt(buf, ls, ne));
        if (q - ls >= maxHeaderBytes) tooLong(mhb, nameAt(buf, ls, ne));
        // RFC 3261 §7.3.1: a line starting with SP or HTAB continues the header field (folding)
        if (q + 1 < len && (buf[q + 1] === 0x20 || buf[q + 1] === 0x09)) {
          folded = FOLDED;
          q++;
          continue;
        }
        break;
      }
      // the value without the whitespace around it (a fold right after the colon included)
      while (vs < q && (buf[vs] === 0x20 || buf[vs] === 0x09 || buf[vs] === 0x0d || buf[vs] === 0x0a)) vs++;
      ve = q;
      while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09 || buf[ve - 1] === 0x0d || buf[ve - 1] === 0x0a)) ve--;
      if (id === CONTENT_LENGTH) {
        let v = 0;
        if (ve === vs) fail('BAD_CONTENT_LENGTH', 'empty Content-Length');
        for (let k = vs; k < ve; k++) {
          const d = buf[k]! - 0x30;
          if (d < 0 || d > 9) fail('BAD_CONTENT_LENGTH', 'Content-Length is not a number');
          v = v * 10 + d;
          if (v > 0x7fffffff) fail('BAD_CONTENT_LENGTH', 'Content-Length out of range');
        }
        if (cl >= 0 && cl !== v) fail('BAD_CONTENT_LENGTH', 'conflicting Content-Length header fields');
        cl = v;
      }
      if (checked) checkField(id, n, vs, ve);
      // The values no grammar walks, and what the trims above took off any value: from the
      // name's end to the line's own CR LF, so that no CR before it goes unseen with the
      // whitespace (CR CR LF would end the header block early for some stacks). A validated
      // field in its common shape never gets here: its one-pass scan ends at its CR LF.
      if (!controlFree(ne, buf[q - 1] === 0x0d ? q - 1 : q, folded !== 0)) controlCharacter(nameAt(buf, ls, ne));
    }
    if (o === h.length) for (let k = 0; k < 16 * STEP; k++) h.push(0);
    h[o] = ls;
    h[o + 1] = ne;
    h[o + 2] = vs;
    h[o + 3] = ve;
    h[o + 4] = q + 1;
    h[o + 5] = id | folded;
    o += STEP;
    n++;
    p = q + 1;
  }
  ix.h = h.slice(0, o);
  ix.count = n;
  ix.bodyStart = p;
  ix.contentLength = cl;
  if (cl >= 0) {
    if (cl > len - p) fail('BAD_CONTENT_LENGTH', `Content-Length ${cl} larger than the ${len - p} bytes present`);
    if (cl > limits.maxBodyBytes) fail('BODY_TOO_LARGE', `body of ${cl} bytes exceeds ${limits.maxBodyBytes}`);
    ix.bodyEnd = p + cl;
  } else {
    // RFC 3261 §18.3: over a stream Content-Length is mandatory; in a datagram the body is the rest
    if (stream) fail('MISSING_HEADER', 'Content-Length is required on stream transports', CANONICAL[H.CONTENT_LENGTH]);
    if (len - p > limits.maxBodyBytes) fail('BODY_TOO_LARGE', `body of ${len - p} bytes exceeds ${limits.maxBodyBytes}`);
    ix.bodyEnd = len;
  }
  return ix;
}
