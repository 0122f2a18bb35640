/**
 * Parse-time validation (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475 §3.1.2): the start line's URI,
 * the mandatory headers (Via, From, To, Call-ID, CSeq) and every header whose value the stack
 * relies on (Contact, Route, Record-Route, Max-Forwards, Expires, Retry-After, Date). Each value
 * is decoded once here and cached on the message, so the accessors never throw afterwards.
 */
import { SipParseError } from './errors.js';
import { MAX_UINT32 } from './chars.js';
import { CANONICAL, H } from './header-names.js';
import { tryParseUri } from './uri.js';
import { splitList, parseCSeq, parseNumberValue, parseRetryAfter, isValidDate } from './values.js';
import { parseContactAt, parseNameAddrAt } from './name-addr.js';
import { parseViaAt } from './via.js';
import { STRIDE } from './scanner.js';
import type { SipMessage } from './message.js';
import type { Contact, NameAddr, Via } from './types.js';

function bad(id: number, what: string): never {
  throw new SipParseError('BAD_HEADER_VALUE', `invalid ${what}`, CANONICAL[id]);
}

function single(m: SipMessage, i: number, prev: unknown, id: number): string {
  // §7.3.1: these headers have one value; a second field is an error (RFC 4475 §3.1.2.? multi)
  if (prev !== undefined) throw new SipParseError('BAD_HEADER', 'header field appears more than once', CANONICAL[id]);
  return m._value(i);
}

const scratch: number[] = [];

function eachElement<T>(v: string, id: number, parse: (s: string, a: number, b: number) => T | null, out: T[]): void {
  scratch.length = 0;
  splitList(v, scratch);
  for (let k = 0; k < scratch.length; k += 2) {
    const a = scratch[k]!;
    const b = scratch[k + 1]!;
    if (a === b) bad(id, 'empty list element');
    const x = parse(v, a, b);
    if (x === null) bad(id, 'value');
    out.push(x);
  }
}

export function validateMessage(m: SipMessage): void {
  const ix = m._ix;
  if (ix.isRequest) {
    const uri = tryParseUri(m.uri);
    if (uri === null) throw new SipParseError('BAD_URI', `invalid Request-URI ${JSON.stringify(m.uri.slice(0, 200))}`);
    // §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.9)
    if ((uri.scheme === 'sip' || uri.scheme === 'sips') && uri.headers.size > 0) {
      throw new SipParseError('BAD_URI', 'Request-URI contains escaped headers');
    }
    m._requestUri = uri;
  } else if (ix.status < 100 || ix.status > 699) {
    throw new SipParseError('BAD_START_LINE', `status code ${ix.status} out of range`);
  }
  const h = ix.h;
  let via: Via[] | undefined;
  let contact: Contact[] | undefined;
  let route: NameAddr[] | undefined;
  let recordRoute: NameAddr[] | undefined;
  let from: NameAddr | undefined;
  let to: NameAddr | undefined;
  let callId: string | undefined;
  let cseqText: string | undefined;
  let maxForwards: number | undefined;
  let expires: number | undefined;
  let sawMaxForwards = false;
  let sawExpires = false;
  for (let i = 0, o = 5; i < ix.count; i++, o += STRIDE) {
    const id = h[o]! & 0xff;
    switch (id) {
      case H.VIA:
        eachElement(m._value(i), id, parseViaAt, (via ??= []));
        break;
      case H.FROM: {
        const v = single(m, i, from, id);
        from = parseNameAddrAt(v, 0, v.length) ?? bad(id, 'name-addr');
        break;
      }
      case H.TO: {
        const v = single(m, i, to, id);
        to = parseNameAddrAt(v, 0, v.length) ?? bad(id, 'name-addr');
        break;
      }
      case H.CALL_ID: {
        const v = single(m, i, callId, id);
        // callid = word [ "@" word ]: at least no whitespace inside (§25.1)
        if (v.length === 0 || v.indexOf(' ') >= 0 || v.indexOf('\t') >= 0) bad(id, 'Call-ID');
        callId = v;
        break;
      }
      case H.CSEQ:
        cseqText = single(m, i, cseqText, id);
        break;
      case H.CONTACT:
        eachElement(m._value(i), id, parseContactAt, (contact ??= []));
        break;
      case H.ROUTE:
        eachElement(m._value(i), id, parseNameAddrAt, (route ??= []));
        break;
      case H.RECORD_ROUTE:
        eachElement(m._value(i), id, parseNameAddrAt, (recordRoute ??= []));
        break;
      case H.MAX_FORWARDS: {
        const v = single(m, i, sawMaxForwards ? 1 : undefined, id);
        sawMaxForwards = true;
        const n = parseNumberValue(v, 255);
        if (n < 0) bad(id, 'Max-Forwards (0-255)');
        maxForwards = n;
        break;
      }
      case H.EXPIRES: {
        const v = single(m, i, sawExpires ? 1 : undefined, id);
        sawExpires = true;
        const n = parseNumberValue(v, MAX_UINT32);
        if (n < 0) bad(id, 'Expires (delta-seconds)');
        expires = n;
        break;
      }
      case H.RETRY_AFTER:
        if (parseRetryAfter(m._value(i)) < 0) bad(id, 'Retry-After (delta-seconds)');
        break;
      case H.DATE:
        if (!isValidDate(m._value(i))) bad(id, 'Date (rfc1123-date in GMT)');
        break;
    }
  }
  // §8.1.1: To, From, CSeq, Call-ID, Max-Forwards (optional here) and Via are mandatory
  if (via === undefined) missing(H.VIA);
  if (from === undefined) missing(H.FROM);
  if (to === undefined) missing(H.TO);
  if (callId === undefined) missing(H.CALL_ID);
  if (cseqText === undefined) missing(H.CSEQ);
  const cseq = parseCSeq(cseqText) ?? bad(H.CSEQ, 'CSeq');
  // §8.2.2 / RFC 4475 §3.1.2.16-17: the CSeq method must match the request method
  if (ix.isRequest && cseq.method !== m.method) {
    throw new SipParseError('BAD_HEADER_VALUE', `CSeq method ${cseq.method} does not match ${m.method}`, 'CSeq');
  }
  m._via = via;
  m._from = from;
  m._to = to;
  m._callId = callId;
  m._cseq = cseq;
  m._contact = contact;
  m._route = route;
  m._recordRoute = recordRoute;
  m._maxForwards = maxForwards;
  m._expires = expires;
}

function missing(id: number): never {
  throw new SipParseError('MISSING_HEADER', 'mandatory header field missing', CANONICAL[id]);
}
