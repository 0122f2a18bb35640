/**
 * A header index over one SIP message, enough for a stateless relay (RFC 3261 §16.11): the
 * start line and, for every header field, the byte offsets of its line and value. Nothing is
 * decoded or copied until asked; the relay then rewrites a message by splicing new bytes
 * between untouched ranges of the original (see Edits), so the body and most headers go out
 * as views of the buffer they arrived in.
 *
 * This is the bridge's own scanner rather than core/sip's full parser on purpose: the relay
 * needs offsets (to splice), not decoded values, and touches five headers out of twenty.
 */
import { BridgeError } from './errors.js';

/** Header ids the relay cares about; everything else is OTHER. */
export const H = {
  OTHER: 0,
  VIA: 1,
  FROM: 2,
  TO: 3,
  ROUTE: 4,
  RECORD_ROUTE: 5,
  MAX_FORWARDS: 6,
  CONTENT_LENGTH: 7,
  CALL_ID: 8,
  CSEQ: 9,
  X_SIPIS_FLOW: 10,
  PATH: 11,
  CONTACT: 12,
} as const;

/** full and compact (RFC 3261 §7.3.3) names, lowercase. */
const NAMES: ReadonlyMap<string, number> = new Map([
  ['via', H.VIA], ['v', H.VIA],
  ['from', H.FROM], ['f', H.FROM],
  ['to', H.TO], ['t', H.TO],
  ['route', H.ROUTE],
  ['record-route', H.RECORD_ROUTE],
  ['max-forwards', H.MAX_FORWARDS],
  ['content-length', H.CONTENT_LENGTH], ['l', H.CONTENT_LENGTH],
  ['call-id', H.CALL_ID], ['i', H.CALL_ID],
  ['cseq', H.CSEQ],
  ['x-sipis-flow', H.X_SIPIS_FLOW],
  ['path', H.PATH],
  ['contact', H.CONTACT], ['m', H.CONTACT],
]);

export interface HeaderField {
  id: number;
  /** offset of the first byte of the header line */
  lineStart: number;
  /** first byte of the value (after the colon and leading whitespace) */
  valueStart: number;
  /** one past the last non-whitespace byte of the value (folded lines included) */
  valueEnd: number;
  /** one past the line's terminating LF */
  lineEnd: number;
}

export interface ScannedMessage {
  buf: Buffer;
  isRequest: boolean;
  /** request method, '' for responses */
  method: string;
  /** response status, 0 for requests */
  status: number;
  /** offset just past the start line's LF */
  startLineEnd: number;
  headers: HeaderField[];
  /** offset of the empty line that ends the headers (where new headers are appended) */
  headersEnd: number;
  bodyStart: number;
}

export const MAX_HEADERS = 256;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;

function lineEndAt(buf: Buffer, from: number, end: number): number {
  const i = buf.indexOf(LF, from);
  return i < 0 || i >= end ? -1 : i;
}

/** Indexes `buf[0..end)`; throws BridgeError (ERR_SCAN_*) on a malformed message. */
export function scanMessage(buf: Buffer, end = buf.length): ScannedMessage {
  const lf = lineEndAt(buf, 0, end);
  if (lf < 0) throw new BridgeError('ERR_SCAN_NO_END_OF_HEADERS', 'no end of the start line');
  const lineEnd = lf > 0 && buf[lf - 1] === CR ? lf - 1 : lf;
  let isRequest: boolean;
  let method = '';
  let status = 0;
  if (startsWithSip(buf, 0) && buf[7] === SP) {
    isRequest = false;
    status = (buf[8]! - 48) * 100 + (buf[9]! - 48) * 10 + (buf[10]! - 48);
    if (!(status >= 100 && status <= 699) || !(buf[11] === SP || 11 === lineEnd)) {
      throw new BridgeError('ERR_SCAN_BAD_START_LINE', 'bad status line');
    }
  } else {
    isRequest = true;
    const sp = buf.indexOf(SP, 0);
    if (sp <= 0 || sp >= lineEnd || lineEnd < 8 || !startsWithSip(buf, lineEnd - 7) || buf[lineEnd - 8] !== SP) {
      throw new BridgeError('ERR_SCAN_BAD_START_LINE', 'bad request line');
    }
    method = buf.toString('latin1', 0, sp);
  }
  const headers: HeaderField[] = [];
  let pos = lf + 1;
  for (;;) {
    if (pos >= end) throw new BridgeError('ERR_SCAN_NO_END_OF_HEADERS', 'headers do not end with an empty line');
    const c = buf[pos];
    if (c === CR && buf[pos + 1] === LF) return done(buf, isRequest, method, status, lf + 1, headers, pos, pos + 2);
    if (c === LF) return done(buf, isRequest, method, status, lf + 1, headers, pos, pos + 1);
    if (headers.length >= MAX_HEADERS) throw new BridgeError('ERR_SCAN_TOO_MANY_HEADERS', `more than ${MAX_HEADERS} header fields`);
    const colon = buf.indexOf(COLON, pos);
    let nl = lineEndAt(buf, pos, end);
    if (nl < 0) throw new BridgeError('ERR_SCAN_NO_END_OF_HEADERS', 'header line does not end');
    if (colon < 0 || colon > nl) throw new BridgeError('ERR_SCAN_BAD_HEADER', 'header line without a colon');
    let nameEnd = colon;
    while (nameEnd > pos && (buf[nameEnd - 1] === SP || buf[nameEnd - 1] === HT)) nameEnd--;
    if (nameEnd === pos || c === SP || c === HT) throw new BridgeError('ERR_SCAN_BAD_HEADER', 'empty header name');
    // folded continuation lines (RFC 3261 §7.3.1) belong to this header
    while (nl + 1 < end && (buf[nl + 1] === SP || buf[nl + 1] === HT)) {
      const next = lineEndAt(buf, nl + 1, end);
      if (next < 0) throw new BridgeError('ERR_SCAN_NO_END_OF_HEADERS', 'folded header line does not end');
      nl = next;
    }
    let vs = colon + 1;
    while (vs < nl && (buf[vs] === SP || buf[vs] === HT)) vs++;
    let ve = nl;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT || buf[ve - 1] === CR || buf[ve - 1] === LF)) ve--;
    headers.push({ id: headerId(buf, pos, nameEnd), lineStart: pos, valueStart: vs, valueEnd: ve, lineEnd: nl + 1 });
    pos = nl + 1;
  }
}

function done(buf: Buffer, isRequest: boolean, method: string, status: number, startLineEnd: number, headers: HeaderField[], headersEnd: number, bodyStart: number): ScannedMessage {
  return { buf, isRequest, method, status, startLineEnd, headers, headersEnd, bodyStart };
}

function startsWithSip(buf: Buffer, at: number): boolean {
  // "SIP/2.0", case-insensitive on the letters (RFC 3261 §7.1: SIP-Version is case-insensitive)
  return (buf[at]! | 0x20) === 0x73 && (buf[at + 1]! | 0x20) === 0x69 && (buf[at + 2]! | 0x20) === 0x70 &&
    buf[at + 3] === 0x2f && buf[at + 4] === 0x32 && buf[at + 5] === 0x2e && buf[at + 6] === 0x30;
}

function headerId(buf: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n > 14) return H.OTHER;
  let name = '';
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    name += String.fromCharCode(c >= 65 && c <= 90 ? c | 0x20 : c);
  }
  return NAMES.get(name) ?? H.OTHER;
}

export function findHeader(m: ScannedMessage, id: number): HeaderField | undefined {
  for (const h of m.headers) if (h.id === id) return h;
  return undefined;
}

export function headerValue(m: ScannedMessage, h: HeaderField): string {
  return m.buf.toString('utf8', h.valueStart, h.valueEnd);
}

/**
 * End of the first element of a comma-separated header value (Via, Route, Record-Route,
 * Path, RFC 3261 §7.3.1): the offset of the comma, or valueEnd. Commas inside quoted
 * strings and <URIs> do not separate.
 */
export function firstElementEnd(buf: Buffer, vs: number, ve: number): number {
  let inQuote = false;
  let inAngle = false;
  for (let i = vs; i < ve; i++) {
    const c = buf[i];
    if (inQuote) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) return i;
  }
  return ve;
}

/** Start of the element after a comma at `comma` (skips the comma and whitespace / folding). */
export function nextElementStart(buf: Buffer, comma: number, ve: number): number {
  let i = comma + 1;
  while (i < ve && (buf[i] === SP || buf[i] === HT || buf[i] === CR || buf[i] === LF)) i++;
  return i;
}

/**
 * A list of splices over one buffer: replace [start, end) by data (start === end inserts).
 * `parts()` yields views of the untouched ranges and the new bytes in order, ready for
 * dgram's scatter send or a corked stream write: the original bytes are never copied.
 */
export class Edits {
  readonly #list: Array<{ start: number; end: number; data: Buffer | undefined; seq: number }> = [];

  replace(start: number, end: number, data: Buffer | string | undefined): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.#list.push({ start, end, data: buf, seq: this.#list.length });
  }

  insert(at: number, data: Buffer | string): void {
    this.replace(at, at, data);
  }

  remove(start: number, end: number): void {
    this.replace(start, end, undefined);
  }

  parts(buf: Buffer, end = buf.length): Buffer[] {
    const list = this.#list.sort((a, b) => a.start - b.start || a.seq - b.seq);
    const out: Buffer[] = [];
    let pos = 0;
    for (const e of list) {
      if (e.start > pos) out.push(buf.subarray(pos, e.start));
      if (e.data && e.data.length) out.push(e.data);
      if (e.end > pos) pos = e.end;
    }
    if (end > pos) out.push(buf.subarray(pos, end));
    return out;
  }
}

/** The parts of a Via element the relay needs (RFC 3261 §20.42, RFC 3581). */
export interface ViaInfo {
  transport: string;
  host: string;
  port: number | undefined;
  branch: string;
  received: string | undefined;
  hasRport: boolean;
  rport: number | undefined;
}

export function parseVia(text: string): ViaInfo {
  // SIP / 2.0 / UDP host[:port] *(;param)
  const semi = text.indexOf(';');
  const head = (semi >= 0 ? text.slice(0, semi) : text).trim();
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9-]+)\s+(\[[^\]]+\]|[^\s:]+)(?:\s*:\s*(\d+))?$/i.exec(head);
  if (!m) throw new BridgeError('ERR_SCAN_BAD_VIA', `bad Via sent-protocol / sent-by: ${JSON.stringify(head.slice(0, 80))}`);
  const via: ViaInfo = { transport: m[1]!.toUpperCase(), host: m[2]!, port: m[3] ? Number(m[3]) : undefined, branch: '', received: undefined, hasRport: false, rport: undefined };
  if (semi >= 0) {
    for (const p of text.slice(semi + 1).split(';')) {
      const eq = p.indexOf('=');
      const name = (eq >= 0 ? p.slice(0, eq) : p).trim().toLowerCase();
      const value = eq >= 0 ? p.slice(eq + 1).trim() : '';
      if (name === 'branch') via.branch = value;
      else if (name === 'received') via.received = value;
      else if (name === 'rport') {
        via.hasRport = true;
        if (value) via.rport = Number(value);
      }
    }
  }
  return via;
}

/** The host and port of a URI inside a name-addr (`<sip:user@host:port;lr>`), plus its user part. */
export function uriParts(text: string): { user: string; host: string; port: number | undefined } | undefined {
  let s = text;
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt);
    if (gt < 0) return undefined;
    s = s.slice(lt + 1, gt);
  }
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  s = s.slice(colon + 1);
  const stop = s.search(/[;?]/);
  if (stop >= 0) s = s.slice(0, stop);
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : '';
  let hostport = at >= 0 ? s.slice(at + 1) : s;
  let port: number | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (hostport[close + 1] === ':') port = Number(hostport.slice(close + 2));
    hostport = hostport.slice(0, close + 1);
  } else {
    const p = hostport.indexOf(':');
    if (p >= 0) {
      port = Number(hostport.slice(p + 1));
      hostport = hostport.slice(0, p);
    }
  }
  return { user, host: hostport.toLowerCase(), port };
}
