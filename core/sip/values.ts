/**
 * Small header grammars: comma lists (RFC 3261 §7.3.1), CSeq, numeric values, Event, Date.
 * Invalid text yields null or -1; the parser turns that into a typed error for the headers it
 * validates, and accessors of other headers return undefined.
 */
import { Buffer } from 'node:buffer';
import { MAX_UINT32, digitsValue, lower, scanQuoted, skipLws, skipWs, tokenEnd, trimEnd, trimLws } from './chars.js';
import { paramsMap, validParams } from './params.js';
import { latin1 } from './header-value.js';
import type { EventHeader } from './types.js';

/** The element found by the last elementAt: start, end (trimmed; empty when start === end). */
// (32 slots: off the V8 heap, see uri.ts U)
const ELEMENT = new Int32Array(32);

/**
 * Finds the list element that starts at `from` in a decoded list value: up to the next comma
 * that separates elements (RFC 3261 §7.3.1), not one inside a quoted-string or between angle
 * brackets. Leaves its trimmed bounds in ELEMENT and returns where the next element starts
 * (past the end when this was the last one). One scanner for both functions below.
 */
function elementAt(s: string, from: number): number {
  const end = s.length;
  let i = from;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      const q = scanQuoted(s, i, end);
      i = q < 0 ? end : q;
    } else if (c === 0x3c) {
      const g = s.indexOf('>', i + 1);
      i = g < 0 ? end : g + 1;
    } else if (c === 0x2c) break;
    else i++;
  }
  const a = skipWs(s, from, i);
  ELEMENT[0] = a;
  ELEMENT[1] = trimEnd(s, a, i);
  return i + 1;
}

/** The non-empty trimmed elements of a decoded list value. */
export function listElements(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i <= s.length; ) {
    i = elementAt(s, i);
    if (ELEMENT[1]! > ELEMENT[0]!) out.push(s.slice(ELEMENT[0], ELEMENT[1]));
  }
  return out;
}

/** The first non-empty element of a decoded list value (undefined when there is none). */
export function firstElement(s: string): string | undefined {
  for (let i = 0; i <= s.length; ) {
    i = elementAt(s, i);
    const a = ELEMENT[0]!;
    const z = ELEMENT[1]!;
    if (z > a) return a === 0 && z === s.length ? s : s.slice(a, z);
  }
  return undefined;
}

/** The Method range found by the last scanCSeq: start, end. */
export const CSEQ_METHOD = new Int32Array(32);

/**
 * CSeq = 1*DIGIT LWS Method (§20.16): the sequence number (at most 2**32-1, RFC 4475
 * §3.1.2.4) with the method's range left in CSEQ_METHOD; -1 when invalid.
 */
export function scanCSeq(b: Uint8Array, s: number, e: number): number {
  let i = skipLws(b, s, e);
  const ds = i;
  while (i < e && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  const seq = digitsValue(b, ds, i, MAX_UINT32);
  if (seq < 0) return -1;
  const ms = skipLws(b, i, e);
  if (ms === i) return -1;
  const me = tokenEnd(b, ms, e);
  if (me === ms || skipLws(b, me, e) !== e) return -1;
  CSEQ_METHOD[0] = ms;
  CSEQ_METHOD[1] = me;
  return seq;
}

/** A whole value b[s..e) that is 1*DIGIT (LWS around it allowed), at most max; -1 otherwise. */
export function numberValue(b: Uint8Array, s: number, e: number, max: number): number {
  const a = skipLws(b, s, e);
  return digitsValue(b, a, trimLws(b, a, e), max);
}

/** Retry-After = delta-seconds [ comment ] *( SEMI retry-param ) (§20.33); -1 when invalid. */
export function retryAfterValue(b: Uint8Array, s: number, e: number): number {
  let i = skipLws(b, s, e);
  const ds = i;
  while (i < e && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  return digitsValue(b, ds, i, MAX_UINT32);
}

/** Event = event-type *( SEMI event-param ) (RFC 6665 §8.2.1); null when invalid. */
export function parseEvent(v: string): EventHeader | null {
  const b = Buffer.from(v, 'utf8');
  const ts = skipLws(b, 0, b.length);
  const te = tokenEnd(b, ts, b.length);
  if (te === ts || !validParams(b, te, b.length)) return null;
  const params = paramsMap(b, te, b.length);
  const ev: EventHeader = { type: lower(latin1(b, ts, te)), params };
  const id = params.get('id');
  if (id) ev.id = id;
  return ev;
}

/**
 * Date = rfc1123-date (§20.17): `wkday "," SP date1 SP time SP "GMT"`. Only GMT is allowed
 * (RFC 4475 §3.1.2.12: a Date in EST must be rejected).
 */
export function validDate(b: Uint8Array, s: number, e: number): boolean {
  s = skipLws(b, s, e);
  e = trimLws(b, s, e);
  // "Sat, 13 Nov 2010 23:29:00 GMT"
  if (e - s !== 29 || b[s + 3] !== 0x2c || b[s + 25] !== 0x20 || b[s + 26] !== 0x47 || b[s + 27] !== 0x4d || b[s + 28] !== 0x54) return false;
  for (const k of [5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24]) {
    const c = b[s + k]!;
    if (c < 0x30 || c > 0x39) return false;
  }
  return b[s + 4] === 0x20 && b[s + 7] === 0x20 && b[s + 11] === 0x20 && b[s + 16] === 0x20 && b[s + 19] === 0x3a && b[s + 22] === 0x3a;
}


/** A whole decoded value that is 1*DIGIT, at most max; -1 otherwise. */
export function parseNumberValue(v: string, max: number): number {
  const b = Buffer.from(v, 'latin1');
  return numberValue(b, 0, b.length, max);
}
