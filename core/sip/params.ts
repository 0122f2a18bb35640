/**
 * Header-field parameters over bytes (RFC 3261 §25.1 generic-param):
 *   *( SEMI token [ EQUAL gen-value ] ), SEMI = SWS ";" SWS, EQUAL = SWS "=" SWS,
 *   gen-value = token / host / quoted-string
 * `nextParam` walks one parameter at a time into the scratch `P` (no allocation), so the
 * grammars can validate and pick out the parameters they know; `paramsMap` builds the Map
 * only when an accessor asks for it (names lowercased, quoted values unquoted, flags → null).
 */
import { PARAM_VALUE as PARAM_VALUE_TABLE, lower, quotedEnd, skipLws, tokenEnd } from './chars.js';
import { latin1, quotedText, utf8 } from './header-value.js';
import type { Params } from './types.js';

// Module-local aliases of the chars.ts tables: V8 folds a module's own const into the code
// (a byte index into a 256-entry table then needs no bounds check), while an imported binding
// is re-read through its cell on every access (~30% per byte in these loops, measured).
const PARAM_VALUE = PARAM_VALUE_TABLE;

/** Offsets of the last parameter read by nextParam: name start/end, value start/end (-1 = flag), quoted flag. */
// (32 slots: off the V8 heap, see uri.ts U)
export const P = new Int32Array(32);

/**
 * Where the last element scan stopped: the end of the value, or a top-level ',' that
 * separates list elements (RFC 3261 §7.3.1). Lets list headers be split and parsed in one pass.
 */
export const STOP = new Int32Array(32);

export const PARAMS_END = -2;
export const PARAMS_BAD = -1;

/**
 * Reads `;name[=value]` at b[i..] (after optional LWS). Returns the index after it, or
 * PARAMS_BAD, or PARAMS_END at the end or at a ',' (STOP[0] says where).
 */
export function nextParam(b: Uint8Array, i: number, end: number): number {
  i = skipLws(b, i, end);
  if (i >= end || b[i] === 0x2c) {
    STOP[0] = i;
    return PARAMS_END;
  }
  if (b[i] !== 0x3b) return PARAMS_BAD;
  i = skipLws(b, i + 1, end);
  const ns = i;
  i = tokenEnd(b, i, end);
  if (i === ns) return PARAMS_BAD;
  P[0] = ns;
  P[1] = i;
  P[4] = 0;
  const j = skipLws(b, i, end);
  if (j < end && b[j] === 0x3d) {
    i = skipLws(b, j + 1, end);
    if (i < end && b[i] === 0x22) {
      const q = quotedEnd(b, i, end);
      if (q < 0) return PARAMS_BAD;
      P[2] = i;
      P[3] = q;
      P[4] = 1;
      return q;
    }
    const vs = i;
    while (i < end && PARAM_VALUE[b[i]!] === 1) i++;
    if (i === vs) return PARAMS_BAD;
    P[2] = vs;
    P[3] = i;
    return i;
  }
  P[2] = -1;
  P[3] = -1;
  return i;
}

/** true when b[s..e) is a valid parameter list. */
export function validParams(b: Uint8Array, s: number, e: number): boolean {
  for (;;) {
    const r = nextParam(b, s, e);
    if (r === PARAMS_END) return STOP[0] === e;
    if (r === PARAMS_BAD) return false;
    s = r;
  }
}

/** The value of the last parameter read (P), decoded. */
export function paramValue(buf: Buffer): string | null {
  if (P[2] < 0) return null;
  return P[4] === 1 ? quotedText(buf, P[2]!, P[3]!) : utf8(buf, P[2]!, P[3]!);
}

/** Builds the Map of a (valid) parameter list buf[s..e). */
export function paramsMap(buf: Buffer, s: number, e: number): Params {
  const m: Params = new Map();
  for (;;) {
    const r = nextParam(buf, s, e);
    if (r < 0) return m;
    m.set(lower(latin1(buf, P[0]!, P[1]!)), paramValue(buf));
    s = r;
  }
}
