/**
 * Header-field parameters (RFC 3261 §25.1 generic-param): `*( SEMI token [ EQUAL gen-value ] )`
 * with SEMI = SWS ";" SWS and EQUAL = SWS "=" SWS. Names are lowercased; quoted values are
 * unquoted; a flag parameter maps to null.
 */
import { scanQuoted, scanToken, skipWs, unquote, lower } from './chars.js';
import type { Params } from './types.js';

/** gen-value chars beyond token: host (IPv6 brackets and colons) and a few seen in the wild. */
function isValueChar(c: number): boolean {
  return c > 0x20 && c !== 0x3b && c !== 0x2c && c !== 0x22 && c !== 0x3c && c !== 0x3e && c !== 0x3d && c !== 0x7f;
}

/**
 * Parses parameters starting at s[i] (after optional whitespace, a ';' or the end) up to end.
 * Returns false when the text is not a parameter list.
 */
export function parseParams(s: string, i: number, end: number, params: Params): boolean {
  for (;;) {
    i = skipWs(s, i, end);
    if (i >= end) return true;
    if (s.charCodeAt(i) !== 0x3b) return false;
    i = skipWs(s, i + 1, end);
    const ns = i;
    i = scanToken(s, i, end);
    if (i === ns) return false;
    const name = lower(s.slice(ns, i));
    i = skipWs(s, i, end);
    if (i < end && s.charCodeAt(i) === 0x3d) {
      i = skipWs(s, i + 1, end);
      if (i < end && s.charCodeAt(i) === 0x22) {
        const q = scanQuoted(s, i, end);
        if (q < 0) return false;
        params.set(name, unquote(s, i, q));
        i = q;
      } else {
        const vs = i;
        while (i < end && isValueChar(s.charCodeAt(i))) i++;
        if (i === vs) return false;
        params.set(name, s.slice(vs, i));
      }
    } else params.set(name, null);
  }
}
