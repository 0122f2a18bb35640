/**
 * WWW-Authenticate / Proxy-Authenticate / Authorization / Proxy-Authorization
 * (RFC 3261 §25.1, RFC 7616): `auth-scheme LWS auth-param *(COMMA auth-param)` with
 * auth-param = token EQUAL ( token / quoted-string ). These headers are never split on commas
 * as lists: the commas separate parameters.
 */
import { lower, scanQuoted, scanToken, skipWs, unquote } from './chars.js';
import type { AuthChallenge } from './types.js';

/** Parses one challenge or credentials value; null when invalid. */
export function parseAuth(s: string): AuthChallenge | null {
  const end = s.length;
  let i = skipWs(s, 0, end);
  const ss = i;
  i = scanToken(s, i, end);
  if (i === ss) return null;
  const scheme = s.slice(ss, i);
  const params = new Map<string, string>();
  i = skipWs(s, i, end);
  while (i < end) {
    const ns = i;
    i = scanToken(s, i, end);
    if (i === ns) return null;
    const name = lower(s.slice(ns, i));
    i = skipWs(s, i, end);
    if (i >= end || s.charCodeAt(i) !== 0x3d) {
      // token68 form (e.g. `Bearer abc==`): keep it under the empty name
      params.set('', s.slice(ns, end).trim());
      return { scheme, params };
    }
    i = skipWs(s, i + 1, end);
    if (i < end && s.charCodeAt(i) === 0x22) {
      const q = scanQuoted(s, i, end);
      if (q < 0) return null;
      params.set(name, unquote(s, i, q));
      i = q;
    } else {
      const vs = i;
      while (i < end) {
        const c = s.charCodeAt(i);
        if (c === 0x2c || c === 0x20 || c === 0x09) break;
        i++;
      }
      params.set(name, s.slice(vs, i));
    }
    i = skipWs(s, i, end);
    if (i < end) {
      if (s.charCodeAt(i) !== 0x2c) return null;
      i = skipWs(s, i + 1, end);
    }
  }
  return { scheme, params };
}
