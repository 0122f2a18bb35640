/**
 * Parse-time validation (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475 §3.1.2) over the bytes: the
 * Request-URI, the mandatory headers (Via, From, To, Call-ID, CSeq) and every header whose
 * value the stack relies on (Contact, Route, Record-Route, Max-Forwards, Expires, Retry-After,
 * Date). The scanner calls `checkField` for each such field as soon as it has framed it, so
 * each value is validated in the same pass that finds it; what the stack reads on every message
 * is kept (Via views, From/To views, the offsets of Call-ID and CSeq), Contact, Route and
 * Record-Route are only validated here and get their views when first read. A successfully
 * parsed message never throws from an accessor.
 */
import { SipParseError } from './errors.js';
import { MAX_UINT32, TOKEN as TOKEN_TABLE, skipLws } from './chars.js';

// a module-local alias (see scanner.ts)
const TOKEN = TOKEN_TABLE;
const BYTES = SCAN_BUFFER;
const WORDS = SCRATCH_WORDS;
const VIEW = SCRATCH_VIEW;
const STOP = STOP_CELL;
import { CANONICAL, H } from './header-names.js';
import { lastUriHasSipHeaders, validateUri } from './uri.js';
import { CSEQ_METHOD, numberValue, retryAfterValue, scanCSeq, validDate } from './values.js';
import { STOP as STOP_CELL } from './params.js';
import { lastContactIsStar, nameAddrView, scanContact, scanContactAt, scanNameAddr, scanNameAddrAt, scanNameAddrElement, scanNameAddrLine, type NameAddrView } from './name-addr.js';
import { scanVia, scanViaLine, type ViaView } from './via.js';
import { STRIDE } from './scanner.js';
import { SCRATCH as SCAN_BUFFER, SCRATCH_VIEW, SCRATCH_WORDS, useBytes } from './scratch.js';
import type { Src } from './header-value.js';
import type { SipMessage } from './message.js';
import type { Contact, NameAddr } from './types.js';

function bad(id: number, what: string): never {
  throw new SipParseError('BAD_HEADER_VALUE', `invalid ${what}`, CANONICAL[id]);
}

function once(seen: boolean, id: number): void {
  // §7.3.1 / RFC 4475 §3.1.2.19: a single-valued header field appearing twice is an error
  if (seen) throw new SipParseError('BAD_HEADER', 'header field appears more than once', CANONICAL[id]);
}

/**
 * At most this many elements in the validated list headers of one message (Via, Contact,
 * Route, Record-Route together): each may become a view object, so this bounds what a 64 KiB
 * datagram can make us allocate. A real message has a few dozen at most.
 */
export const MAX_LIST_ELEMENTS = 1024;

/** Bit per validated header id (H.VIA … H.DATE): all of them. */
export const ALL_VALIDATED = 0x7ffffffe;

// The state of the message being validated. Parsing is synchronous and not re-entrant, so
// module variables serve (no object per message).
let src: Src;
let elements = 0;
let via: ViaView[] | undefined;
let from: NameAddrView | undefined;
let to: NameAddrView | undefined;
let callIdAt = -1;
let callIdAscii = true;
let cseqSeq = -1;
let cseqMs = 0;
let cseqMe = 0;
let maxForwards = -1;
let expires = -1;
let contacts = 0;
/** Contact values that are `*` (§20.10: STAR / 1#contact-param, so `*` must be the only one). */
let stars = 0;
let routes = 0;
let recordRoutes = 0;

function countElement(id: number): void {
  if (++elements > MAX_LIST_ELEMENTS) {
    throw new SipParseError('TOO_MANY_HEADERS', `more than ${MAX_LIST_ELEMENTS} Via/Contact/Route/Record-Route elements`, CANONICAL[id]);
  }
}

/** Start of an element of a list value at i (after a ','), or a typed error when empty. */
function elementStart(b: Uint8Array, i: number, e: number, id: number): number {
  i = skipLws(b, i, e);
  if (i >= e || b[i] === 0x2c) bad(id, 'empty list element');
  countElement(id);
  return i;
}

/** Via: every via-parm becomes a view (the transaction layer reads the top one on every message). */
function viaList(s: number, e: number, out: ViaView[]): void {
  let i = s;
  for (;;) {
    i = elementStart(src.b, i, e, H.VIA);
    const v = scanVia(src, i, e, true);
    if (v === null) bad(H.VIA, 'value');
    out.push(v);
    i = STOP[0]!;
    if (i >= e) return;
    i++;
  }
}

/** Contact, Route, Record-Route: validated element by element without views; returns the count. */
function nameAddrList(b: Uint8Array, s: number, e: number, id: number): number {
  let i = s;
  let n = 0;
  for (;;) {
    i = elementStart(b, i, e, id);
    const ok = id === H.CONTACT ? scanContactAt(b, i, e) : scanNameAddrAt(b, i, e, true, false);
    if (!ok) bad(id, 'value');
    if (id === H.CONTACT && lastContactIsStar()) stars++;
    n++;
    i = STOP[0]!;
    if (i >= e) return n;
    i++;
  }
}

/** Resets the state for a new message whose views will read from `s`. */
export function beginFields(s: Src): void {
  src = s;
  elements = 0;
  via = undefined;
  from = undefined;
  to = undefined;
  callIdAt = -1;
  callIdAscii = true;
  cseqSeq = -1;
  maxForwards = -1;
  expires = -1;
  contacts = routes = recordRoutes = stars = 0;
}

/** Validates the Request-URI b[s..e) (RFC 3261 §19.1, §19.1.1 table: no escaped headers). */
export function checkRequestUri(b: Uint8Array, s: number, e: number): void {
  if (validateUri(b, s, e) !== e) throw new SipParseError('BAD_URI', 'invalid Request-URI');
  // RFC 4475 §3.1.2.9
  if (lastUriHasSipHeaders()) throw new SipParseError('BAD_URI', 'Request-URI contains escaped headers');
}

/** Validates field number i (a header id in H.VIA … H.DATE) with value b[s..e). */
export function checkField(id: number, i: number, s: number, e: number): void {
  const b = src.b;
  switch (id) {
    case H.VIA:
      viaList(s, e, (via ??= []));
      break;
    case H.FROM:
      once(from !== undefined, id);
      from = scanNameAddr(src, s, e) ?? bad(id, 'name-addr');
      break;
    case H.TO:
      once(to !== undefined, id);
      to = scanNameAddr(src, s, e) ?? bad(id, 'name-addr');
      break;
    case H.CALL_ID: {
      once(callIdAt >= 0, id);
      // callid = word [ "@" word ] (§25.1): non-empty, no whitespace or control character inside
      if (s === e) bad(id, 'Call-ID');
      let hi = 0;
      for (let k = s; k < e; k++) {
        const c = b[k]!;
        if (c <= 0x20 || c === 0x7f) bad(id, 'Call-ID');
        hi |= c;
      }
      callIdAt = i;
      callIdAscii = hi < 0x80;
      break;
    }
    case H.CSEQ:
      once(cseqSeq >= 0, id);
      cseqSeq = scanCSeq(b, s, e);
      if (cseqSeq < 0) bad(id, 'CSeq');
      cseqMs = CSEQ_METHOD[0]!;
      cseqMe = CSEQ_METHOD[1]!;
      break;
    case H.CONTACT:
      contacts += nameAddrList(b, s, e, id);
      break;
    case H.ROUTE:
      routes += nameAddrList(b, s, e, id);
      break;
    case H.RECORD_ROUTE:
      recordRoutes += nameAddrList(b, s, e, id);
      break;
    case H.MAX_FORWARDS:
      once(maxForwards >= 0, id);
      maxForwards = numberValue(b, s, e, 255);
      if (maxForwards < 0) bad(id, 'Max-Forwards (0-255)');
      break;
    case H.EXPIRES:
      once(expires >= 0, id);
      expires = numberValue(b, s, e, MAX_UINT32);
      if (expires < 0) bad(id, 'Expires (delta-seconds)');
      break;
    case H.RETRY_AFTER:
      if (retryAfterValue(b, s, e) < 0) bad(id, 'Retry-After (delta-seconds)');
      break;
    case H.DATE:
      if (!validDate(b, s, e)) bad(id, 'Date (rfc1123-date in GMT)');
      break;
  }
}

/**
 * The line end after a value that stopped at b[i]: the LF of a CR LF (or of a bare LF) that is
 * not followed by a continuation line; -1 otherwise (the general path then frames the field).
 */
function lineEnd(i: number, limit: number): number {
  // the scan buffer, a constant here (checkFieldLine reads nothing else)
  const b = BYTES;
  // CR LF (one load for both) and a next line that does not continue the field
  if (i + 2 < limit && VIEW.getUint16(i, true) === 0x0a0d) {
    const c = b[i + 2];
    return c === 0x20 || c === 0x09 ? -1 : i + 1;
  }
  let lf = i;
  if (b[i] === 0x0d) lf = i + 1;
  if (lf >= limit || b[lf] !== 0x0a) return -1;
  // RFC 3261 §7.3.1: a line starting with SP or HTAB continues the field
  if (lf + 1 < limit && (b[lf + 1] === 0x20 || b[lf + 1] === 0x09)) return -1;
  return lf;
}

/**
 * The first byte <= 0x20 or DEL at or after s (limit when none), with CALL_ID_HIGH the OR of the bytes
 * before it (>= 0x80 when one of them is not ASCII). Four bytes per step once aligned: a word
 * with no byte below 0x21 has (x - 0x21212121) & ~x & 0x80808080 === 0 (the usual "has a byte
 * less than n" test, exact for n <= 0x80; bytes >= 0x80 never count as less); the word that
 * has one is then read byte by byte. A 46-byte Call-ID: ~12 steps instead of 46.
 */
function callIdEnd(s: number, limit: number): number {
  const b = BYTES;
  const w = WORDS;
  let hi = 0;
  let k = s;
  while (k < limit && (k & 3) !== 0) {
    const c = b[k]!;
    if (c <= 0x20 || c === 0x7f) {
      CALL_ID_HIGH = hi;
      return k;
    }
    hi |= c;
    k++;
  }
  let words = 0;
  while (k + 4 <= limit) {
    const x = w[k >> 2]!;
    // a byte below 0x21, or a DEL (a zero byte of x ^ 0x7f7f7f7f): the bytes loop finds which
    const y = x ^ 0x7f7f7f7f;
    if ((((x - 0x21212121) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) break;
    words |= x;
    k += 4;
  }
  if ((words & 0x80808080) !== 0) hi |= 0x80;
  for (; k < limit; k++) {
    const c = b[k]!;
    if (c <= 0x20 || c === 0x7f) break;
    hi |= c;
  }
  CALL_ID_HIGH = hi;
  return k;
}
let CALL_ID_HIGH = 0;

/**
 * The digits at b[s..), at most max, with NUMBER_END set to the first byte after them; -1 when
 * there is none, the value is over max, or nothing follows them before limit.
 */
function leadingNumber(s: number, limit: number, max: number): number {
  const b = BYTES;
  let n = 0;
  let k = s;
  for (; k < limit; k++) {
    const d = b[k]! - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
    if (n > max) return -1;
  }
  if (k === s || k >= limit) return -1;
  NUMBER_END = k;
  return n;
}
let NUMBER_END = 0;

/** digits at b[s..) up to the line end (CR or LF right after them), at most max; -1 otherwise. */
function numberLine(s: number, limit: number, max: number): number {
  const b = BYTES;
  const n = leadingNumber(s, limit, max);
  if (n < 0 || (b[NUMBER_END] !== 0x0d && b[NUMBER_END] !== 0x0a)) return -1;
  return n;
}

/**
 * Field number i (a header id the parser validates) whose value starts at b[s] and whose line
 * end is not known yet: when the value has the common shape (one element, no whitespace where
 * none is usual, no fold) it is validated here, in the same pass that finds where its line ends,
 * and its results are kept as checkField would keep them. Returns the index of the LF that ends
 * the line, or -1 when the field takes the general path (framed by the scanner, then
 * checkField), which alone reports errors: -1 leaves the state untouched.
 */
export function checkFieldLine(id: number, i: number, s: number, limit: number): number {
  // the scanner loaded the header block (scratch.ts): this function's own loops read the
  // scan buffer; the grammar functions get the message's Buffer (they check it is loaded)
  const b = BYTES;
  const raw = src.b;
  let lf = -1;
  switch (id) {
    case H.VIA: {
      const v = scanViaLine(src, s, limit);
      if (v === null) return -1;
      lf = lineEnd(STOP[0]!, limit);
      if (lf < 0 || elements >= MAX_LIST_ELEMENTS) return -1;
      elements++;
      // a literal of one (the usual single Via) instead of an empty array grown by push
      if (via === undefined) via = [v];
      else via.push(v);
      return lf;
    }
    case H.FROM:
    case H.TO: {
      if ((id === H.FROM ? from : to) !== undefined || !scanNameAddrLine(raw, s, limit, false)) return -1;
      lf = lineEnd(STOP[0]!, limit);
      if (lf < 0) return -1;
      if (id === H.FROM) from = nameAddrView(src);
      else to = nameAddrView(src);
      return lf;
    }
    case H.CONTACT:
    case H.ROUTE:
    case H.RECORD_ROUTE: {
      // one element, or several separated by ',' and SP/HTAB (a Record-Route of two proxies)
      let n = 0;
      let k = s;
      for (;;) {
        if (!scanNameAddrLine(raw, k, limit, id === H.CONTACT)) return -1;
        n++;
        k = STOP[0]!;
        if (b[k] !== 0x2c) break;
        k++;
        while (k < limit && (b[k] === 0x20 || b[k] === 0x09)) k++;
      }
      lf = lineEnd(k, limit);
      if (lf < 0 || elements + n > MAX_LIST_ELEMENTS) return -1;
      elements += n;
      if (id === H.CONTACT) contacts += n;
      else if (id === H.ROUTE) routes += n;
      else recordRoutes += n;
      return lf;
    }
    case H.CALL_ID: {
      if (callIdAt >= 0) return -1;
      // callid = word [ "@" word ]: up to the first whitespace, which must end the line
      const k = callIdEnd(s, limit);
      const hi = CALL_ID_HIGH;
      if (k === s || k >= limit) return -1;
      lf = lineEnd(k, limit);
      if (lf < 0) return -1;
      callIdAt = i;
      callIdAscii = hi < 0x80;
      return lf;
    }
    case H.CSEQ: {
      // CSeq = 1*DIGIT LWS Method: "102 INVITE"
      if (cseqSeq >= 0) return -1;
      const n = leadingNumber(s, limit, MAX_UINT32);
      if (n < 0 || b[NUMBER_END] !== 0x20) return -1;
      const ms = NUMBER_END + 1;
      let k = ms;
      while (k < limit && TOKEN[b[k]!] === 1) k++;
      if (k === ms) return -1;
      lf = lineEnd(k, limit);
      if (lf < 0) return -1;
      cseqSeq = n;
      cseqMs = ms;
      cseqMe = k;
      return lf;
    }
    case H.MAX_FORWARDS:
    case H.EXPIRES: {
      if ((id === H.MAX_FORWARDS ? maxForwards : expires) >= 0) return -1;
      const n = numberLine(s, limit, id === H.MAX_FORWARDS ? 255 : MAX_UINT32);
      if (n < 0) return -1;
      lf = lineEnd(NUMBER_END, limit);
      if (lf < 0) return -1;
      if (id === H.MAX_FORWARDS) maxForwards = n;
      else expires = n;
      return lf;
    }
  }
  return -1;
}

/**
 * Checks what needs the whole message (the mandatory headers, the CSeq method) and stores the
 * results in m: all of them, or with `mask` only those of the headers it names (a mutation
 * re-validates what it changed and keeps the views of the rest, see serialize.ts).
 */
export function finishFields(m: SipMessage, mask: number): void {
  // §8.1.1: To, From, CSeq, Call-ID and Via are mandatory (Max-Forwards is optional here)
  if (via === undefined && has(mask, H.VIA)) missing(H.VIA);
  if (from === undefined && has(mask, H.FROM)) missing(H.FROM);
  if (to === undefined && has(mask, H.TO)) missing(H.TO);
  if (callIdAt < 0) missing(H.CALL_ID);
  if (cseqSeq < 0) missing(H.CSEQ);
  if (stars > 0 && contacts > 1) bad(H.CONTACT, "Contact: '*' with other values (§20.10)");
  const ix = m._ix;
  // RFC 4475 §3.1.2.16-17: the CSeq method must equal the request method (case-sensitive)
  if (ix.isRequest) {
    const raw = m.raw;
    const ms = ix.start;
    const len = ix.methodEnd - ms;
    let same = cseqMe - cseqMs === len;
    // compared in the scan buffer (a constant to the compiler; after a parse it holds the
    // message already, else useBytes copies the two ranges), the message's Buffer otherwise
    if (same && useBytes(raw, ms, ix.methodEnd) && useBytes(raw, cseqMs, cseqMe)) {
      const b = BYTES;
      for (let k = 0; k < len; k++) {
        if (b[ms + k] !== b[cseqMs + k]) {
          same = false;
          break;
        }
      }
    } else for (let k = 0; same && k < len; k++) same = raw[ms + k] === raw[cseqMs + k];
    if (!same) throw new SipParseError('BAD_HEADER_VALUE', 'CSeq method does not match the request method', 'CSeq');
  }
  m._callIdAt = callIdAt;
  m._callIdAscii = callIdAscii;
  m._cseqSeq = cseqSeq;
  m._cseqMs = cseqMs;
  m._cseqMe = cseqMe;
  m._callId = undefined;
  m._cseq = undefined;
  if (mask === ALL_VALIDATED) {
    m._via = via;
    m._from = from;
    m._to = to;
    m._contact = contacts === 0 ? undefined : null;
    m._route = routes === 0 ? undefined : null;
    m._recordRoute = recordRoutes === 0 ? undefined : null;
    m._maxForwards = maxForwards;
    m._expires = expires;
    return;
  }
  if (has(mask, H.VIA)) m._via = via;
  if (has(mask, H.FROM)) m._from = from;
  if (has(mask, H.TO)) m._to = to;
  if (has(mask, H.CONTACT)) m._contact = contacts === 0 ? undefined : null;
  if (has(mask, H.ROUTE)) m._route = routes === 0 ? undefined : null;
  if (has(mask, H.RECORD_ROUTE)) m._recordRoute = recordRoutes === 0 ? undefined : null;
  if (has(mask, H.MAX_FORWARDS)) m._maxForwards = maxForwards;
  if (has(mask, H.EXPIRES)) m._expires = expires;
}

/**
 * Validates an indexed message and fills its caches (a mutation's result, or a message
 * assembled by createResponse). With `mask` (bits of header ids), only those headers are
 * checked and cached and the start line is taken as already valid. Call-ID and CSeq are
 * always included by callers (their caches hold offsets).
 */
export function validateMessage(m: SipMessage, mask = ALL_VALIDATED): void {
  const ix = m._ix;
  beginFields(m._src);
  if (ix.isRequest && mask === ALL_VALIDATED) checkRequestUri(m.raw, ix.uriStart, ix.uriEnd);
  const h = ix.h;
  for (let i = 0, o = 0; i < ix.count; i++, o += STRIDE) {
    const id = h[o + 5]! & 0xff;
    if (id === 0 || id > H.DATE || ((mask >>> id) & 1) === 0) continue;
    checkField(id, i, h[o + 2]!, h[o + 3]!);
  }
  finishFields(m, mask);
}

/** The views of every element of the (validated) Contact fields, made when first read. */
export function contactViews(m: SipMessage): Contact[] {
  return elementViews(m, H.CONTACT, scanContact);
}

/** The views of every element of the (validated) Route or Record-Route fields. */
export function routeViews(m: SipMessage, id: number): NameAddr[] {
  return elementViews(m, id, scanNameAddrElement);
}

/** Every element of the fields `id` as a view; the fields were validated, so `scan` succeeds. */
function elementViews<T>(m: SipMessage, id: number, scan: (src: Src, start: number, end: number) => T | null): T[] {
  const out: T[] = [];
  eachValue(m, id, (s, e) => {
    let i = s;
    for (;;) {
      i = skipLws(m.raw, i, e);
      out.push(scan(m._src, i, e)!);
      i = STOP[0]!;
      if (i >= e) return;
      i++;
    }
  });
  return out;
}

function eachValue(m: SipMessage, id: number, f: (s: number, e: number) => void): void {
  const h = m._ix.h;
  for (let i = 0, o = 0; i < m._ix.count; i++, o += STRIDE) if ((h[o + 5]! & 0xff) === id) f(h[o + 2]!, h[o + 3]!);
}

function has(mask: number, id: number): boolean {
  return ((mask >>> id) & 1) === 1;
}

function missing(id: number): never {
  throw new SipParseError('MISSING_HEADER', 'mandatory header field missing', CANONICAL[id]);
}

/**
 * Checks one field value of a header the parser validates (grammar only, not the
 * once-per-message rules); throws SipParseError like parseMessage would. For values this
 * process adds to a message it builds without re-parsing (createResponse).
 */
export function checkHeaderValue(id: number, s0: Src, s: number, e: number): void {
  if (id === H.CONTENT_LENGTH) throw new SipParseError('BAD_CONTENT_LENGTH', 'Content-Length is computed, not given');
  if (id === 0 || id > H.DATE) return;
  const saved = src;
  beginFields(s0);
  try {
    checkField(id, 0, s, e);
  } finally {
    src = saved;
  }
}
