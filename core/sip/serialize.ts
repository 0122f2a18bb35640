/**
 * Serialization. A parsed message serializes to exactly its bytes (start line to end of body;
 * trailing bytes of the datagram are not part of it). A change (setHeader, addHeader,
 * removeHeader, setBody) is applied by `rewriteMessage`: it copies the untouched byte ranges of
 * the current message (consecutive original lines in one copy), writes only the new fields,
 * records the new index as it writes, and validates only the headers that changed.
 */
import { SipParseError } from './errors.js';
import { SipMessage, type HeaderEdit } from './message.js';
import { STRIDE } from './scanner.js';
import { Assembler } from './assembler.js';
import { H, idFromName } from './header-names.js';
import { ALL_VALIDATED, validateMessage } from './validate.js';
import { parseNumberValue } from './values.js';

/**
 * The bytes of the message: start line to end of body. No copy is made: a mutation builds new
 * bytes instead of changing these, so the result may share memory with `msg.raw` (do not
 * write into it).
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const ix = msg._ix;
  const raw = msg.raw;
  return ix.start === 0 && ix.bodyEnd === raw.length ? raw : raw.subarray(ix.start, ix.bodyEnd);
}

/** Offset just after the start line's line end. */
export function headerBlockStart(msg: SipMessage): number {
  const e = msg._ix.startLineEnd;
  return msg.raw[e] === 0x0d ? e + 2 : e + 1;
}

/**
 * Applies edits to msg: `edits` lists the header fields in their new order, each an index of an
 * original field (copied byte for byte) or a new [name, value]; `body` replaces the body (the
 * caller has put the matching Content-Length among the edits). Only the changed headers (and
 * Call-ID/CSeq, whose caches hold offsets) are validated again; the views of the others stay.
 * Throws, leaving msg unchanged, when the result would be invalid.
 */
export function rewriteMessage(msg: SipMessage, edits: HeaderEdit[], body: Buffer | undefined): void {
  const ix = msg._ix;
  const raw = msg.raw;
  const h = ix.h;
  const newBody = body ?? raw.subarray(ix.bodyStart, ix.bodyEnd);
  let mask = msg._pending ? ALL_VALIDATED : (1 << H.CALL_ID) | (1 << H.CSEQ);
  const kept = new Uint8Array(ix.count);
  let bound = ix.bodyStart - ix.start + newBody.length;
  let contentLength = -1;
  for (const e of edits) {
    if (typeof e === 'number') {
      kept[e] = 1;
      if ((h[e * STRIDE + 5]! & 0xff) === H.CONTENT_LENGTH) contentLength = ix.contentLength;
      continue;
    }
    const id = idFromName(e[0]);
    if (id >= 1 && id <= H.DATE) mask |= 1 << id;
    if (id === H.CONTENT_LENGTH) {
      const v = e[1].trim();
      const n = parseNumberValue(v, 0x7fffffff);
      if (n !== newBody.length) throw new SipParseError('BAD_CONTENT_LENGTH', `Content-Length ${v} does not match the ${newBody.length}-byte body (use setBody)`);
      contentLength = n;
    }
    bound += (e[0].length + e[1].length) * 3 + 4;
  }
  for (let i = 0; i < ix.count; i++) {
    if (kept[i] === 1) continue;
    const id = h[i * STRIDE + 5]! & 0xff;
    if (id >= 1 && id <= H.DATE) mask |= 1 << id;
  }
  const w = new Assembler(bound);
  const hs = headerBlockStart(msg);
  w.bytes(raw, ix.start, hs);
  for (const e of edits) {
    if (typeof e === 'number') w.copyField(msg, e);
    else w.field(e[0], e[1].trim(), idFromName(e[0]));
  }
  // the empty line as it was (CRLF, or a bare LF)
  const sepStart = ix.count > 0 ? h[(ix.count - 1) * STRIDE + 4]! : hs;
  w.bytes(raw, sepStart, ix.bodyStart);
  w.flush();
  const bodyStart = w.pos;
  const out = w.finish(newBody);
  // not `-ix.start`: that is -0 for a message at offset 0, a heap number, and the sums below
  // would store doubles in the index, whose fields V8 then widens for every message parsed
  // afterwards (each new index migrated to the new layout at run time: +35% per parse)
  const shift = 0 - ix.start;
  const next = new SipMessage(out, {
    start: 0,
    isRequest: ix.isRequest,
    methodEnd: ix.methodEnd + shift,
    uriStart: ix.uriStart + shift,
    uriEnd: ix.uriEnd + shift,
    status: ix.status,
    reasonStart: ix.reasonStart + shift,
    reasonEnd: ix.reasonEnd + shift,
    startLineEnd: ix.startLineEnd + shift,
    h: w.h,
    count: w.count,
    contentLength,
    bodyStart,
    bodyEnd: out.length,
  });
  // the start line did not change: keep what was decoded from it, and the views of the
  // headers that did not change (they hold the old bytes, which they keep alive)
  next._method = msg._method;
  next._uri = msg._uri;
  next._requestUri = msg._requestUri;
  next._reason = msg._reason;
  next._via = msg._via;
  next._from = msg._from;
  next._to = msg._to;
  next._contact = msg._contact;
  next._route = msg._route;
  next._recordRoute = msg._recordRoute;
  next._maxForwards = msg._maxForwards;
  next._expires = msg._expires;
  validateMessage(next, mask);
  msg._adopt(next);
}
