/**
 * Building messages: createRequest, createResponse (RFC 3261 §8.2.6), and the random values a
 * UA needs (branch §8.1.1.7, tag §19.3).
 */
import { randomBytes } from 'node:crypto';
import { SipParseError } from './errors.js';
import { isToken } from './chars.js';
import { H, idFromName } from './header-names.js';
import { SipMessage } from './message.js';
import { Assembler } from './assembler.js';
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
    if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) {
      throw new SipParseError('BAD_HEADER_VALUE', 'header value contains CR or LF', name);
    }
  }
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
  checkHeaders(init.headers);
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

/** Requests whose 101-299 responses establish a dialog (§12.1.1, RFC 6665 §4.1.3, RFC 3515). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
const TIMESTAMP = idFromName('Timestamp');

/**
 * Builds a response to a request (RFC 3261 §8.2.6): every Via (in order), From, Call-ID and
 * CSeq are copied byte for byte; To too, with `;tag=` appended when the request's To has no
 * tag and opts.toTag is given. A 100 copies Timestamp (§8.2.6.1); a 101-299 response to a
 * dialog-creating request copies Record-Route (§12.1.1). The bytes are written once, with
 * their index: nothing is parsed again (the extra headers are checked on their own).
 */
export function createResponse(request: SipMessage, status: number, reason?: string, opts: CreateResponseOptions = {}): SipMessage {
  if (!request.isRequest) throw new SipParseError('BAD_START_LINE', 'createResponse needs a request');
  if (!Number.isInteger(status) || status < 100 || status > 699) {
    throw new SipParseError('BAD_START_LINE', `invalid status code ${status}`);
  }
  const phrase = reason ?? reasonPhrase(status);
  if (phrase.indexOf('\r') >= 0 || phrase.indexOf('\n') >= 0) throw new SipParseError('BAD_START_LINE', 'reason phrase contains CR or LF');
  const extra = opts.headers ?? EMPTY;
  const body = toBuffer(opts.body);
  const toTag = opts.toTag;
  if (toTag !== undefined && !isToken(toTag)) throw new SipParseError('BAD_HEADER_VALUE', 'invalid To tag', 'To');
  let bound = 64 + phrase.length * 3 + body.length + (toTag?.length ?? 0) + (opts.contentType?.length ?? 0) * 3;
  if (extra.length > 0) {
    checkHeaders(extra);
    for (const [name, value] of extra) bound += (name.length + value.length) * 3 + 4;
  }
  const ix = request._ix;
  const h = ix.h;
  const copyRecordRoute = status > 100 && status < 300 && DIALOG_CREATING.has(request.method);
  const needTag = toTag !== undefined && request.to.tag === undefined;
  for (let i = 0; i < ix.count; i++) {
    const id = h[i * STRIDE + 5]! & 0xff;
    if (id === H.VIA || id === H.FROM || id === H.TO || id === H.CALL_ID || id === H.CSEQ || id === H.RECORD_ROUTE || id === TIMESTAMP) {
      bound += h[i * STRIDE + 4]! - h[i * STRIDE]!;
    }
  }
  const w = new Assembler(bound);
  const statusLine = `SIP/2.0 ${status} ${phrase}`;
  w.text(statusLine);
  const startLineEnd = w.pos;
  w.text('\r\n');
  for (let i = 0; i < ix.count; i++) {
    const id = h[i * STRIDE + 5]! & 0xff;
    if (id === H.VIA || id === H.FROM || id === H.CALL_ID || id === H.CSEQ || (copyRecordRoute && id === H.RECORD_ROUTE) || (status === 100 && id === TIMESTAMP)) {
      w.copyField(request, i);
    } else if (id === H.TO) {
      if (needTag) w.copyFieldAppending(request, i, `;tag=${toTag}`);
      else w.copyField(request, i);
    }
  }
  let hasContentType = false;
  for (const [name, value] of extra) {
    const id = idFromName(name);
    if (id === H.CONTENT_LENGTH) continue;
    if (id === H.CONTENT_TYPE) {
      if (opts.contentType !== undefined) continue;
      hasContentType = true;
    }
    w.field(name, value.trim(), id);
    if (id !== 0) checkHeaderValue(id, new Src(w.buf, w.buf.length), w.h[w.h.length - 4]!, w.h[w.h.length - 3]!);
  }
  if (opts.contentType !== undefined) w.field('Content-Type', opts.contentType, H.CONTENT_TYPE);
  else if (body.length > 0 && !hasContentType) throw new SipParseError('MISSING_HEADER', 'a body needs a Content-Type', 'Content-Type');
  w.field('Content-Length', String(body.length), H.CONTENT_LENGTH);
  w.text('\r\n');
  const bodyStart = w.pos;
  const raw = w.finish(body);
  const index: MessageIndex = {
    start: 0,
    isRequest: false,
    methodEnd: 0,
    uriStart: 0,
    uriEnd: 0,
    status,
    reasonStart: startLineEnd - Buffer.byteLength(phrase),
    reasonEnd: startLineEnd,
    startLineEnd,
    h: w.h,
    count: w.count,
    contentLength: body.length,
    bodyStart,
    bodyEnd: raw.length,
  };
  const res = new SipMessage(raw, index);
  res._pending = true;
  return res;
}

const EMPTY: Array<[string, string]> = [];
