/**
 * parseMessage: scan (scanner.ts) then validate (validate.ts). Limits bound every allocation:
 * the input is rejected before any work when it exceeds maxMessageBytes.
 */
import { Buffer } from 'node:buffer';
import { SipParseError } from './errors.js';
import { SipMessage } from './message.js';
import { scanMessage } from './scanner.js';
import { ALL_VALIDATED, finishFields } from './validate.js';
import { Src, latin1 } from './header-value.js';
import type { ParseLimits, ParseOptions } from './types.js';

export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxMessageBytes: 65536,
  maxHeaders: 256,
  maxHeaderBytes: 8192,
  maxBodyBytes: 65536,
});

/** No limits: for messages this process builds itself (createRequest, mutations). */
export const UNLIMITED: Readonly<ParseLimits> = Object.freeze({
  maxMessageBytes: Infinity,
  maxHeaders: Infinity,
  maxHeaderBytes: Infinity,
  maxBodyBytes: Infinity,
});

function asBuffer(bytes: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The latin1 text the scanner reads: the whole message when it is small (one decode, no
 * search), else only up to the end of its header block (the first empty line after the start
 * line), so that a large body (a MESSAGE we relay) is neither decoded nor kept twice.
 */
function headerText(buf: Buffer): string {
  const len = buf.length;
  if (len <= 65536) return latin1(buf, 0, len);
  let p = 0;
  while (p < len && (buf[p] === 0x0d || buf[p] === 0x0a)) p++;
  const a = buf.indexOf('\n\r\n', p, 'latin1');
  const b = buf.indexOf('\n\n', p, 'latin1');
  const end = a < 0 ? b : b < 0 ? a : Math.min(a, b);
  return latin1(buf, 0, end < 0 ? len : Math.min(len, end + 4));
}

/**
 * Parses one SIP message (RFC 3261 §7). Throws SipParseError with a stable `code`.
 * The returned message keeps `bytes` (not copied): do not reuse that memory while it lives.
 */
export function parseMessage(bytes: Buffer | Uint8Array, opts?: ParseOptions): SipMessage {
  const buf = asBuffer(bytes);
  const limits = opts?.limits === undefined ? DEFAULT_LIMITS : { ...DEFAULT_LIMITS, ...opts.limits };
  if (buf.length > limits.maxMessageBytes) {
    throw new SipParseError('TOO_LARGE', `message of ${buf.length} bytes exceeds ${limits.maxMessageBytes}`);
  }
  // one latin1 decode of the datagram (what every text parser pays): the scanner searches it
  // natively and every token read later is a slice of it (header-value.ts Src)
  const src = new Src(buf, buf.length, headerText(buf));
  const ix = scanMessage(src, limits, opts?.framing === 'stream');
  src.end = ix.bodyStart;
  const m = new SipMessage(buf, ix, src);
  finishFields(m, ALL_VALIDATED);
  return m;
}

/** @internal parse without the size limits (our own bytes). */
export function parseOwn(buf: Buffer): SipMessage {
  const src = new Src(buf, buf.length, headerText(buf));
  const ix = scanMessage(src, UNLIMITED, false);
  src.end = ix.bodyStart;
  const m = new SipMessage(buf, ix, src);
  finishFields(m, ALL_VALIDATED);
  return m;
}

/**
 * RFC 5626 §3.5.1 / RFC 3261 §7.5: a datagram of only CR and LF (CRLFCRLF ping, CRLF pong)
 * is a keep-alive, not a message.
 */
export function isKeepAlive(bytes: Buffer | Uint8Array): boolean {
  const n = bytes.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}
