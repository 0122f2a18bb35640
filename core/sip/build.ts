/**
 * Building messages: createRequest, createResponse (RFC 3261 §8.2.6), and the random values a
 * UA needs (branch §8.1.1.7, tag §19.3).
 */
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { SipParseError } from './errors.js';
import { TOKEN as TOKEN_TABLE, isToken } from './chars.js';
import { H, idFromName } from './header-names.js';
import { SipMessage } from './message.js';
import { checkHeaderValue } from './validate.js';
import { Src } from './header-value.js';
import type { MessageIndex } from './scanner.js';
import { parseOwn } from './parse.js';
import { reasonPhrase } from './reason-phrases.js';
import { STRIDE } from './scanner.js';

/** RFC 3261 §8.1.1.7: the magic cookie every RFC 3261 branch starts with. */
export const BRANCH_COOKIE = 'z9hG4bK';

let pool = Buffer.alloc(0);
let poolPos = 0;

/** Random hex from a pooled buffer (one randomBytes call per 512 values). */
function randomHex(bytes: number): string {
  if (poolPos + bytes > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  const s = pool.toString('hex', poolPos, poolPos + bytes);
  poolPos += bytes;
  return s;
}

/** A new branch: the magic cookie plus 64 random bits (unique per transaction, §17.1.1.3 / §8.1.1.7). */
export function generateBranch(): string {
  return BRANCH_COOKIE + randomHex(8);
}

/** A new From/To tag: 64 random bits (§19.3: at least 32 bits of randomness). */
export function generateTag(): string {
  return randomHex(8);
}

/** A new Call-ID (§8.1.1.4): 128 random bits, optionally @host. */
export function generateCallId(host?: string): string {
  const id = randomHex(16);
  return host ? `${id}@${host}` : id;
}

export interface CreateRequestInit {
  method: string;
  /** Request-URI text. */
  uri: string;
  /** header fields in order; Via, From, To, Call-ID and CSeq are required. */
  headers: Array<[string, string]>;
  body?: Buffer | Uint8Array | string;
  contentType?: string;
}

function checkHeaders(headers: Array<[string, string]>): void {
  for (const [name, value] of headers) {
    if (!isToken(name)) throw new SipParseError('BAD_HEADER', `invalid header field name ${JSON.stringify(name)}`);
    checkLine(value, name);
  }
}

/** A value written on a header line of its own: a CR or LF in it would start another header. */
function checkLine(value: string, name: string): void {
  if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) {
    throw new SipParseError('BAD_HEADER_VALUE', 'header value contains CR or LF', name);
  }
}

/**
 * The Request-URI as createRequest writes it: no whitespace or control character (§25.1 has
 * none in any URI; a space would end it early, a CR LF would inject header lines behind it).
 */
function checkRequestUriText(uri: string): void {
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) throw new SipParseError('BAD_URI', `invalid Request-URI ${JSON.stringify(uri.slice(0, 100))}: whitespace or a control character`);
  }
  if (uri.length === 0) throw new SipParseError('BAD_URI', 'empty Request-URI');
}

function toBuffer(body: Buffer | Uint8Array | string | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.isBuffer(body) ? body : Buffer.from(body);
}

/**
 * Builds a request. Max-Forwards: 70 is added when absent (§8.1.1.6); Content-Type (when given)
 * and Content-Length are written after the given headers (any given Content-Length is replaced).
 * Throws SipParseError when the result is not a valid request.
 */
export function createRequest(init: CreateRequestInit): SipMessage {
  if (!isToken(init.method)) throw new SipParseError('BAD_START_LINE', `invalid method ${JSON.stringify(init.method)}`);
  checkRequestUriText(init.uri);
  checkHeaders(init.headers);
  if (init.contentType !== undefined) checkLine(init.contentType, 'Content-Type');
  const body = toBuffer(init.body);
  let text = `${init.method} ${init.uri} SIP/2.0\r\n`;
  let hasMaxForwards = false;
  let hasContentType = false;
  for (const [name, value] of init.headers) {
    const id = idFromName(name);
    if (id === H.CONTENT_LENGTH) continue;
    if (id === H.MAX_FORWARDS) hasMaxForwards = true;
    if (id === H.CONTENT_TYPE) {
      if (init.contentType !== undefined) continue;
      hasContentType = true;
    }
    text += `${name}: ${value}\r\n`;
  }
  if (!hasMaxForwards) text += 'Max-Forwards: 70\r\n';
  if (init.contentType !== undefined) text += `Content-Type: ${init.contentType}\r\n`;
  else if (body.length > 0 && !hasContentType) {
    throw new SipParseError('MISSING_HEADER', 'a body needs a Content-Type', 'Content-Type');
  }
  text += `Content-Length: ${body.length}\r\n\r\n`;
  const head = Buffer.from(text, 'utf8');
  return parseOwn(body.length === 0 ? head : Buffer.concat([head, body]));
}

export interface CreateResponseOptions {
  /** To tag to add when the request's To has none (§8.2.6.2; required for responses that create dialogs). */
  toTag?: string;
  /** extra header fields, written after the copied ones. */
  headers?: Array<[string, string]>;
  body?: Buffer | Uint8Array | string;
  contentType?: string;
}

const TIMESTAMP = idFromName('Timestamp');
/** Via, From, To, Call-ID, CSeq: copied into every response (§8.2.6.2). */
const COPIED = (1 << H.VIA) | (1 << H.FROM) | (1 << H.TO) | (1 << H.CALL_ID) | (1 << H.CSEQ);
const RECORD_ROUTE_BIT = 1 << H.RECORD_ROUTE;
const TO = H.TO;
// module-local constants and tables: V8 folds a module's own const into the code, while an
// imported binding is re-read through its cell (with a hole check) on every use
const STEP = STRIDE;
const TOKEN = TOKEN_TABLE;

/**
 * A string as the latin1 spelling of its UTF-8 bytes (one char per byte), so that text the
 * response is assembled from can be joined with slices of the request's latin1 text and
 * encoded in one `Buffer.from(…, 'latin1')`. ASCII (the usual case) is returned as is.
 */
function bytesText(v: string): string {
  for (let k = 0; k < v.length; k++) if (v.charCodeAt(k) >= 0x80) return Buffer.from(v, 'utf8').toString('latin1');
  return v;
}

/** RFC 3261 §25.1 token (a To tag): one table load per char. */
function tokenText(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) return false;
  }
  return true;
}

/**
 * Builds a response to a request (RFC 3261 §8.2.6): every Via (in order), From, Call-ID and
 * CSeq are copied byte for byte; To too, with `;tag=` appended when the request's To has no
 * tag and opts.toTag is given. A 100 copies Timestamp (§8.2.6.1); a 101-299 response to a
 * dialog-creating request copies Record-Route (§12.1.1).
 * The copied lines are slices of the request's latin1 text (decoded once per request, and
 * latin1 maps bytes to chars one to one, so any UTF-8 in them is copied unchanged); the
 * response is written by one latin1 encode of the joined text, with its index recorded as it
 * is joined: nothing is scanned or parsed again (the extra headers are checked on their own).
 * Consecutive copied lines are joined as one slice, and the fixed parts (status line with its
 * CRLF, `Content-Length: 0` with the empty line) are strings made once, so a usual response is
 * a handful of string joins and one encode.
 */
export function createResponse(request: SipMessage, status: number, reason?: string, opts: CreateResponseOptions = NO_OPTIONS): SipMessage {
  if (!request.isRequest) throw new SipParseError('BAD_START_LINE', 'createResponse needs a request');
  if ((request._method ?? request.method) === 'ACK') throw new SipParseError('BAD_START_LINE', 'an ACK is never answered (RFC 3261 §17)');
  if (!Number.isInteger(status) || status < 100 || status > 699) {
    throw new SipParseError('BAD_START_LINE', `invalid status code ${status}`);
  }
  if (reason !== undefined && (reason.indexOf('\r') >= 0 || reason.indexOf('\n') >= 0)) {
    throw new SipParseError('BAD_START_LINE', 'reason phrase contains CR or LF');
  }
  const extra = opts.headers ?? EMPTY;
  // §8.2.6.2: every response but a 100 carries a To tag; a caller that keeps no transaction
  // state gets the stateless one of §8.2.7 (the same for every retransmission of the request)
  const toTag = opts.toTag ?? (status > 100 && request.to.tag === undefined ? statelessTag(request) : undefined);
  // the last tag checked is remembered with its ';tag=' text: a dialog's responses share one
  if (toTag !== undefined && toTag !== lastTag) {
    if (!tokenText(toTag)) throw new SipParseError('BAD_HEADER_VALUE', 'invalid To tag', 'To');
    lastTag = toTag;
    lastTagText = ';tag=' + toTag + '\r\n';
  }
  if (extra.length > 0) checkHeaders(extra);
  if (opts.contentType !== undefined) checkLine(opts.contentType, 'Content-Type');
  const body = opts.body === undefined ? NO_BODY : toBuffer(opts.body);
  const ix = request._ix;
  const h = ix.h;
  const n = ix.count;
  const head = request._src.head();
  let copy = COPIED;
  if (status > 100 && status < 300 && dialogCreating(request._method ?? request.method)) copy |= RECORD_ROUTE_BIT;
  const needTag = toTag !== undefined && request.to.tag === undefined;
  // the status line with its CRLF; the standard phrase's is made once per code
  let out = reason === undefined ? (STATUS_LINES[status] ??= 'SIP/2.0 ' + status + ' ' + bytesText(reasonPhrase(status)) + '\r\n') : 'SIP/2.0 ' + status + ' ' + bytesText(reason) + '\r\n';
  const startLineEnd = out.length - 2;
  // every copied line and the ones written after them need at most this much index
  const idx = IDX;
  const need = (n + extra.length + 2) * STEP;
  while (idx.length < need) grow(idx);
  // the lines to copy first (a tight loop over the ids), then only those are read
  const m = selectLines(h, n, copy, status === 100);
  const sel = SEL;
  let k = 0;
  // a run of consecutive request lines [runS, runE) is appended as one slice
  let runS = 0;
  let runE = -1;
  for (let j = 0; j < m; j++) {
    const o = sel[j]! * STEP;
    const ls = h[o]!;
    if (ls !== runE) {
      if (runE >= 0) out += head.slice(runS, runE);
      runS = ls;
    }
    // offset of this line in the response = what is written + what the run holds before it
    const delta = out.length - runS;
    const id = h[o + 5]!;
    idx[k] = ls + delta;
    idx[k + 1] = h[o + 1]! + delta;
    idx[k + 2] = h[o + 2]! + delta;
    idx[k + 5] = id;
    if ((id & 0xff) === TO && needTag) {
      out += head.slice(runS, h[o + 3]!) + lastTagText;
      idx[k + 3] = out.length - 2;
      idx[k + 4] = out.length;
      runE = -1;
    } else {
      const le = h[o + 4]!;
      idx[k + 3] = h[o + 3]! + delta;
      idx[k + 4] = le + delta;
      runE = le;
    }
    k += STEP;
  }
  if (runE >= 0) out += head.slice(runS, runE);
  let count = m;
  let checks = NO_CHECKS;
  let hasContentType = false;
  for (let x = 0; x < extra.length; x++) {
    const [name, value] = extra[x]!;
    const id = idFromName(name);
    if (id === H.CONTENT_LENGTH) continue;
    if (id === H.CONTENT_TYPE) {
      if (opts.contentType !== undefined) continue;
      hasContentType = true;
    }
    if (id !== 0) {
      if (checks === NO_CHECKS) checks = [];
      checks.push(id, k);
    }
    out = field(out, idx, k, name, value.trim(), id);
    k += STEP;
    count++;
  }
  if (opts.contentType !== undefined) {
    out = field(out, idx, k, 'Content-Type', opts.contentType, H.CONTENT_TYPE);
    k += STEP;
    count++;
  } else if (body.length > 0 && !hasContentType) throw new SipParseError('MISSING_HEADER', 'a body needs a Content-Type', 'Content-Type');
  let raw: Buffer;
  let bodyStart: number;
  if (body.length === 0) {
    // 'Content-Length: 0' CRLF CRLF, written once
    const ls = out.length;
    idx[k] = ls;
    idx[k + 1] = ls + 14;
    idx[k + 2] = ls + 16;
    idx[k + 3] = ls + 17;
    idx[k + 4] = ls + 19;
    idx[k + 5] = H.CONTENT_LENGTH;
    out += NO_BODY_TAIL;
    bodyStart = out.length;
    raw = Buffer.from(out, 'latin1');
  } else {
    out = field(out, idx, k, 'Content-Length', String(body.length), H.CONTENT_LENGTH) + '\r\n';
    bodyStart = out.length;
    raw = Buffer.allocUnsafe(bodyStart + body.length);
    raw.write(out, 0, 'latin1');
    body.copy(raw, bodyStart);
  }
  k += STEP;
  count++;
  const src = new Src(raw, bodyStart, out);
  // the extra values the parser would validate, checked on the bytes written
  for (let c = 0; c < checks.length; c += 2) checkHeaderValue(checks[c]!, src, idx[checks[c + 1]! + 2]!, idx[checks[c + 1]! + 3]!);
  const index: MessageIndex = {
    start: 0,
    isRequest: false,
    methodEnd: 0,
    uriStart: 0,
    uriEnd: 0,
    status,
    reasonStart: 12, // 'SIP/2.0 ' + three digits + ' '
    reasonEnd: startLineEnd,
    startLineEnd,
    h: idx.slice(0, k),
    count,
    contentLength: body.length,
    bodyStart,
    bodyEnd: raw.length,
  };
  const res = new SipMessage(raw, index, src);
  res._pending = true;
  return res;
}

/**
 * A To tag computed from the request (RFC 3261 §8.2.7: a stateless UAS generates its tags in a
 * stateless manner): Call-ID, From tag, CSeq and the top Via's branch identify the request, so
 * its retransmissions get the same tag and other requests another.
 */
function statelessTag(request: SipMessage): string {
  const h = createHash('sha256');
  h.update(`${request.callId}\n${request.from.tag ?? ''}\n${request.cseq.seq}\n${request.topVia?.branch ?? ''}`);
  return h.digest('hex').slice(0, 16);
}

/** The last To tag createResponse checked (a token), and `;tag=<tag>` CRLF. */
let lastTag: string | null = null;
let lastTagText = '';

/** Indices of the request lines a response copies (selectLines). */
let SEL = new Int32Array(64);

/**
 * Puts in SEL the indices of the lines of h (n fields) whose id is in the `copy` mask, and
 * Timestamp's when `trying` (ids past 31 are tested on their own); returns how many.
 */
function selectLines(h: number[], n: number, copy: number, trying: boolean): number {
  if (SEL.length < n) SEL = new Int32Array(n * 2);
  const sel = SEL;
  let m = 0;
  for (let i = 0, o = 5; i < n; i++, o += STEP) {
    const id = h[o]! & 0xff;
    if (id < 32 ? ((copy >>> id) & 1) !== 0 : trying && id === TIMESTAMP) sel[m++] = i;
  }
  return m;
}

/** Appends `name: value CRLF` to out, recording its index entry at idx[k]. */
function field(out: string, idx: number[], k: number, name: string, value: string, id: number): string {
  if (k + STRIDE > idx.length) grow(idx);
  const ls = out.length;
  const vs = ls + name.length + 2;
  const v = bytesText(value);
  idx[k] = ls;
  idx[k + 1] = ls + name.length;
  idx[k + 2] = vs;
  idx[k + 3] = vs + v.length;
  idx[k + 4] = vs + v.length + 2;
  idx[k + 5] = id;
  return out + name + ': ' + v + '\r\n';
}

/** Requests whose 101-299 responses establish a dialog (§12.1.1, RFC 6665 §4.1.3, RFC 3515). */
function dialogCreating(method: string): boolean {
  return method === 'INVITE' || method === 'SUBSCRIBE' || method === 'REFER' || method === 'NOTIFY';
}

function grow(a: number[]): void {
  for (let n = 0; n < 16 * STRIDE; n++) a.push(0);
}

const EMPTY: Array<[string, string]> = [];
const NO_OPTIONS: CreateResponseOptions = {};
const NO_BODY = Buffer.alloc(0);
const NO_BODY_TAIL = 'Content-Length: 0\r\n\r\n';
const NO_CHECKS: number[] = [];
/** 'SIP/2.0 200 OK' by status code, for the standard reason phrases. */
const STATUS_LINES: Array<string | undefined> = [];
/** the response's index is recorded here, then copied out at its size. */
const IDX: number[] = [];
grow(IDX);
