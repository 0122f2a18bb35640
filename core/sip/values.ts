/**
 * Small header grammars: comma lists (RFC 3261 §7.3.1), CSeq, numeric values, Event, Date.
 * Each returns null (or -1) for invalid text; the parser turns that into a typed error for the
 * headers it validates, and accessors of other headers return undefined.
 */
import { MAX_UINT32, parseDigits, scanQuoted, scanToken, skipWs, trimEnd, lower } from './chars.js';
import { parseParams } from './params.js';
import type { CSeq, EventHeader } from './types.js';

/**
 * Splits a list header value on the commas that separate elements, not those inside a
 * quoted-string or between angle brackets. Pushes [start, end) pairs (trimmed, possibly empty)
 * into out and returns out.
 */
export function splitList(s: string, out: number[] = []): number[] {
  const end = s.length;
  let start = 0;
  let i = 0;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      const q = scanQuoted(s, i, end);
      i = q < 0 ? end : q;
    } else if (c === 0x3c) {
      const g = s.indexOf('>', i + 1);
      i = g < 0 ? end : g + 1;
    } else if (c === 0x2c) {
      const a = skipWs(s, start, i);
      out.push(a, trimEnd(s, a, i));
      start = ++i;
    } else i++;
  }
  const a = skipWs(s, start, end);
  out.push(a, trimEnd(s, a, end));
  return out;
}

/** The non-empty elements of a list value. */
export function listElements(s: string): string[] {
  const r = splitList(s);
  const out: string[] = [];
  for (let k = 0; k < r.length; k += 2) if (r[k + 1]! > r[k]!) out.push(s.slice(r[k], r[k + 1]));
  return out;
}

/** CSeq = 1*DIGIT LWS Method (§20.16); the number is at most 2**32-1 (RFC 4475 §3.1.2.4). */
export function parseCSeq(s: string): CSeq | null {
  const end = s.length;
  let i = skipWs(s, 0, end);
  const ds = i;
  while (i < end && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  const seq = parseDigits(s, ds, i, MAX_UINT32);
  if (seq < 0) return null;
  const ms = skipWs(s, i, end);
  if (ms === i) return null;
  const me = scanToken(s, ms, end);
  if (me === ms || skipWs(s, me, end) !== end) return null;
  return { seq, method: s.slice(ms, me) };
}

/** A whole value that is 1*DIGIT (with surrounding whitespace), at most max; -1 otherwise. */
export function parseNumberValue(s: string, max: number): number {
  const a = skipWs(s, 0, s.length);
  return parseDigits(s, a, trimEnd(s, a, s.length), max);
}

/** Retry-After = delta-seconds [ comment ] *( SEMI retry-param ) (§20.33); -1 when invalid. */
export function parseRetryAfter(s: string): number {
  const end = s.length;
  let i = skipWs(s, 0, end);
  const ds = i;
  while (i < end && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  return parseDigits(s, ds, i, MAX_UINT32);
}

/** Event = event-type *( SEMI event-param ) (RFC 6665 §8.2.1). */
export function parseEvent(s: string): EventHeader | null {
  const end = s.length;
  const ts = skipWs(s, 0, end);
  const te = scanToken(s, ts, end);
  if (te === ts) return null;
  const params = new Map<string, string | null>();
  if (!parseParams(s, te, end, params)) return null;
  const ev: EventHeader = { type: lower(s.slice(ts, te)), params };
  const id = params.get('id');
  if (id) ev.id = id;
  return ev;
}

/**
 * Date = rfc1123-date (§20.17): `wkday "," SP date1 SP time SP "GMT"`. Only GMT is allowed
 * (RFC 4475 §3.1.2.12 is a Date in EST that must be rejected).
 */
export function isValidDate(s: string): boolean {
  const v = s.trim();
  // "Sat, 13 Nov 2010 23:29:00 GMT"
  if (v.length !== 29 || v.charCodeAt(3) !== 0x2c || !v.endsWith(' GMT')) return false;
  const digitsAt = [5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24];
  for (const k of digitsAt) {
    const c = v.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return v[4] === ' ' && v[7] === ' ' && v[11] === ' ' && v[16] === ' ' && v[19] === ':' && v[22] === ':';
}

/** option-tag lists (Supported, Require, Allow, …): the non-empty trimmed elements. */
export function parseTokenList(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const e of listElements(v)) out.push(e);
  return out;
}
