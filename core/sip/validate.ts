/**
 * Parse-time validation (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475 §3.1.2) over the bytes: the
 * Request-URI, the mandatory headers (Via, From, To, Call-ID, CSeq) and every header whose
 * value the stack relies on (Contact, Route, Record-Route, Max-Forwards, Expires, Retry-After,
 * Date). The scans record offsets in small views cached on the message (no strings, no Maps),
 * so a successfully parsed message never throws from an accessor and pays for decoding only
 * what is read.
 */
import { SipParseError } from './errors.js';
import { MAX_UINT32, skipLws } from './chars.js';
import { CANONICAL, H } from './header-names.js';
import { lastUriHasSipHeaders, validateUri } from './uri.js';
import { numberValue, retryAfterValue, scanCSeq, validDate } from './values.js';
import { STOP } from './params.js';
import { scanContact, scanNameAddr, scanNameAddrElement, type ContactView, type NameAddrView } from './name-addr.js';
import { scanVia, type ViaView } from './via.js';
import { STRIDE } from './scanner.js';
import type { SipMessage } from './message.js';

function bad(id: number, what: string): never {
  throw new SipParseError('BAD_HEADER_VALUE', `invalid ${what}`, CANONICAL[id]);
}

function once(seen: boolean, id: number): void {
  // §7.3.1 / RFC 4475 §3.1.2.19: a single-valued header field appearing twice is an error
  if (seen) throw new SipParseError('BAD_HEADER', 'header field appears more than once', CANONICAL[id]);
}

/**
 * At most this many elements in the validated list headers of one message (Via, Contact,
 * Route, Record-Route together): each becomes a view object, so this bounds what a 64 KiB
 * datagram can make us allocate. A real message has a few dozen at most.
 */
export const MAX_LIST_ELEMENTS = 1024;
let elements = 0;

/** Parses a list value element by element in one pass: each scan stops at the ',' that ends it. */
function eachElement<T>(b: Buffer, s: number, e: number, id: number, scan: (b: Buffer, s: number, e: number, list: boolean) => T | null, out: T[]): void {
  let i = s;
  for (;;) {
    i = skipLws(b, i, e);
    if (i >= e || b[i] === 0x2c) bad(id, 'empty list element');
    if (++elements > MAX_LIST_ELEMENTS) {
      throw new SipParseError('TOO_MANY_HEADERS', `more than ${MAX_LIST_ELEMENTS} Via/Contact/Route/Record-Route elements`, CANONICAL[id]);
    }
    const x = scan(b, i, e, true);
    if (x === null) bad(id, 'value');
    out.push(x);
    i = STOP[0]!;
    if (i >= e) return;
    i++;
  }
}

/** Bit per validated header id (H.VIA … H.DATE): all of them. */
export const ALL_VALIDATED = 0x7ffffffe;

/**
 * Validates the message and fills its caches. With `mask` (bits of header ids), only those
 * headers are checked and cached and the start line is taken as already valid: a mutation
 * re-validates what it changed and keeps the views of the rest (see serialize.ts).
 * Call-ID and CSeq are always included by callers (their caches hold offsets).
 */
export function validateMessage(m: SipMessage, mask = ALL_VALIDATED): void {
  const ix = m._ix;
  const b = m.raw;
  const full = mask === ALL_VALIDATED;
  elements = 0;
  if (ix.isRequest && full) {
    // the view is made when requestUri is read
    if (validateUri(b, ix.uriStart, ix.uriEnd) !== ix.uriEnd) throw new SipParseError('BAD_URI', 'invalid Request-URI');
    // §19.1.1 table: headers are not allowed in a SIP Request-URI (RFC 4475 §3.1.2.9)
    if (lastUriHasSipHeaders()) throw new SipParseError('BAD_URI', 'Request-URI contains escaped headers');
  }
  const h = ix.h;
  let via: ViaView[] | undefined;
  let contact: ContactView[] | undefined;
  let route: NameAddrView[] | undefined;
  let recordRoute: NameAddrView[] | undefined;
  let from: NameAddrView | undefined;
  let to: NameAddrView | undefined;
  let callIdAt = -1;
  let cseq: [number, number, number] | null | undefined;
  let maxForwards = -1;
  let expires = -1;
  for (let i = 0, o = 0; i < ix.count; i++, o += STRIDE) {
    const id = h[o + 5]! & 0xff;
    if (id === 0 || id > H.DATE || ((mask >>> id) & 1) === 0) continue;
    const s = h[o + 2]!;
    const e = h[o + 3]!;
    switch (id) {
      case H.VIA:
        eachElement(b, s, e, id, scanVia, (via ??= []));
        break;
      case H.FROM:
        once(from !== undefined, id);
        from = scanNameAddr(b, s, e) ?? bad(id, 'name-addr');
        break;
      case H.TO:
        once(to !== undefined, id);
        to = scanNameAddr(b, s, e) ?? bad(id, 'name-addr');
        break;
      case H.CALL_ID: {
        once(callIdAt >= 0, id);
        // callid = word [ "@" word ] (§25.1): non-empty, no whitespace inside
        if (s === e) bad(id, 'Call-ID');
        for (let k = s; k < e; k++) {
          const c = b[k]!;
          if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) bad(id, 'Call-ID');
        }
        callIdAt = i;
        break;
      }
      case H.CSEQ:
        once(cseq !== undefined, id);
        cseq = scanCSeq(b, s, e) ?? bad(id, 'CSeq');
        break;
      case H.CONTACT:
        eachElement(b, s, e, id, scanContact, (contact ??= []));
        break;
      case H.ROUTE:
        eachElement(b, s, e, id, scanNameAddrElement, (route ??= []));
        break;
      case H.RECORD_ROUTE:
        eachElement(b, s, e, id, scanNameAddrElement, (recordRoute ??= []));
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
  // §8.1.1: To, From, CSeq, Call-ID and Via are mandatory (Max-Forwards is optional here)
  if (via === undefined && has(mask, H.VIA)) missing(H.VIA);
  if (from === undefined && has(mask, H.FROM)) missing(H.FROM);
  if (to === undefined && has(mask, H.TO)) missing(H.TO);
  if (callIdAt < 0) missing(H.CALL_ID);
  if (cseq === undefined || cseq === null) missing(H.CSEQ);
  // RFC 4475 §3.1.2.16-17: the CSeq method must equal the request method (case-sensitive)
  if (ix.isRequest) {
    const ms = ix.start;
    const len = ix.methodEnd - ms;
    let same = cseq[2] - cseq[1] === len;
    for (let k = 0; same && k < len; k++) same = b[ms + k] === b[cseq[1] + k];
    if (!same) throw new SipParseError('BAD_HEADER_VALUE', 'CSeq method does not match the request method', 'CSeq');
  }
  m._callIdAt = callIdAt;
  m._cseqAt = cseq;
  m._callId = undefined;
  m._cseq = undefined;
  if (full) {
    m._via = via;
    m._from = from;
    m._to = to;
    m._contact = contact;
    m._route = route;
    m._recordRoute = recordRoute;
    m._maxForwards = maxForwards;
    m._expires = expires;
    return;
  }
  if (has(mask, H.VIA)) m._via = via;
  if (has(mask, H.FROM)) m._from = from;
  if (has(mask, H.TO)) m._to = to;
  if (has(mask, H.CONTACT)) m._contact = contact;
  if (has(mask, H.ROUTE)) m._route = route;
  if (has(mask, H.RECORD_ROUTE)) m._recordRoute = recordRoute;
  if (has(mask, H.MAX_FORWARDS)) m._maxForwards = maxForwards;
  if (has(mask, H.EXPIRES)) m._expires = expires;
}

function has(mask: number, id: number): boolean {
  return ((mask >>> id) & 1) === 1;
}

function missing(id: number): never {
  throw new SipParseError('MISSING_HEADER', 'mandatory header field missing', CANONICAL[id]);
}

const sink: unknown[] = [];

/**
 * Checks one field value of a header the parser validates (grammar only, not the
 * once-per-message rules); throws SipParseError like parseMessage would. For values this
 * process adds to a message it builds without re-parsing (createResponse).
 */
export function checkHeaderValue(id: number, b: Buffer, s: number, e: number): void {
  sink.length = 0;
  elements = 0;
  switch (id) {
    case H.VIA:
      eachElement(b, s, e, id, scanVia, sink);
      break;
    case H.FROM:
    case H.TO:
      if (scanNameAddr(b, s, e) === null) bad(id, 'name-addr');
      break;
    case H.CALL_ID:
      if (s === e) bad(id, 'Call-ID');
      for (let k = s; k < e; k++) if (b[k] === 0x20 || b[k] === 0x09) bad(id, 'Call-ID');
      break;
    case H.CSEQ:
      if (scanCSeq(b, s, e) === null) bad(id, 'CSeq');
      break;
    case H.CONTACT:
      eachElement(b, s, e, id, scanContact, sink);
      break;
    case H.ROUTE:
    case H.RECORD_ROUTE:
      eachElement(b, s, e, id, scanNameAddrElement, sink);
      break;
    case H.MAX_FORWARDS:
      if (numberValue(b, s, e, 255) < 0) bad(id, 'Max-Forwards (0-255)');
      break;
    case H.EXPIRES:
      if (numberValue(b, s, e, MAX_UINT32) < 0) bad(id, 'Expires (delta-seconds)');
      break;
    case H.RETRY_AFTER:
      if (retryAfterValue(b, s, e) < 0) bad(id, 'Retry-After (delta-seconds)');
      break;
    case H.DATE:
      if (!validDate(b, s, e)) bad(id, 'Date (rfc1123-date in GMT)');
      break;
    case H.CONTENT_LENGTH:
      throw new SipParseError('BAD_CONTENT_LENGTH', 'Content-Length is computed, not given');
  }
  sink.length = 0;
}
