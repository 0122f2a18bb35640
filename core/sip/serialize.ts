/**
 * Serialization. A parsed message serializes to exactly its bytes (start line to end of body;
 * trailing bytes of the datagram are not part of it). A change (setHeader, addHeader,
 * removeHeader, setBody) is applied by `rewriteMessage`: it copies the untouched byte ranges of
 * the current message (consecutive original lines in one copy), writes only the new fields,
 * then re-indexes and re-validates the result.
 */
import { SipMessage, type HeaderEdit } from './message.js';
import { STRIDE } from './scanner.js';
import { parseOwn } from './parse.js';

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

/** Builds parts: start line, edited header fields, separator line, body. */
export function buildParts(msg: SipMessage, edits: HeaderEdit[], body: Buffer | undefined): Buffer[] {
  const ix = msg._ix;
  const raw = msg.raw;
  const h = ix.h;
  const parts: Buffer[] = [raw.subarray(ix.start, headerBlockStart(msg))];
  let runStart = -1;
  let runEnd = -1;
  for (const e of edits) {
    if (typeof e === 'number') {
      const ls = h[e * STRIDE]!;
      const le = h[e * STRIDE + 4]!;
      if (ls === runEnd) runEnd = le;
      else {
        if (runStart >= 0) parts.push(raw.subarray(runStart, runEnd));
        runStart = ls;
        runEnd = le;
      }
    } else {
      if (runStart >= 0) parts.push(raw.subarray(runStart, runEnd));
      runStart = runEnd = -1;
      parts.push(Buffer.from(`${e[0]}: ${e[1]}\r\n`, 'utf8'));
    }
  }
  if (runStart >= 0) parts.push(raw.subarray(runStart, runEnd));
  const sepStart = ix.count > 0 ? h[(ix.count - 1) * STRIDE + 4]! : headerBlockStart(msg);
  parts.push(raw.subarray(sepStart, ix.bodyStart));
  parts.push(body ?? raw.subarray(ix.bodyStart, ix.bodyEnd));
  return parts;
}

/** Applies edits to msg in place; throws (leaving msg unchanged) when the result is invalid. */
export function rewriteMessage(msg: SipMessage, edits: HeaderEdit[], body: Buffer | undefined): void {
  const next = parseOwn(Buffer.concat(buildParts(msg, edits, body)));
  Object.assign(msg, next);
}
