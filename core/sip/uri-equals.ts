/**
 * URI comparison, RFC 3261 §19.1.4: user and password case-sensitive, host case-insensitive,
 * escapes resolved before comparing (the parser already did), a port present in one URI only
 * makes them differ, the user/ttl/method/maddr/transport parameters must match when either URI
 * has them, other parameters are compared only when both have them, and URI headers must all match.
 */
import { unescapeOctets, unescapePct } from './chars.js';
import type { Params, SipUri } from './types.js';
import { rawUserinfo } from './uri.js';

const MUST_MATCH = ['user', 'ttl', 'method', 'maddr', 'transport'];

function sameParamValue(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  return a.toLowerCase() === b.toLowerCase();
}

function paramsEqual(a: Params, b: Params): boolean {
  for (const name of MUST_MATCH) {
    if ((a.has(name) || b.has(name)) && !sameParamValue(a.get(name), b.get(name))) return false;
  }
  for (const [name, value] of a) {
    if (b.has(name) && !sameParamValue(value, b.get(name))) return false;
  }
  return true;
}

function headersEqual(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  const lowerB = new Map<string, string>();
  for (const [k, v] of b) lowerB.set(k.toLowerCase(), v);
  for (const [k, v] of a) {
    const other = lowerB.get(k.toLowerCase());
    if (other === undefined || other !== v) return false;
  }
  return true;
}

/** RFC 3966 §4: visual separators do not count in a telephone number. */
function telDigits(n: string | undefined): string {
  let out = '';
  for (const ch of n ?? '') if (ch !== '-' && ch !== '.' && ch !== '(' && ch !== ')') out += ch;
  return out.toLowerCase();
}

/**
 * §19.1.4 compares user and password as octets once unescaped; their decoded text can be equal
 * for different octets (`caf%E9` is not UTF-8 and decodes as latin1 'café', like `caf%C3%A9`), so
 * equal text is checked again on the octets of the parts as written, while they still decode to
 * that text (a part set since it was parsed has nothing else than its text).
 */
function sameUserinfoOctets(a: SipUri, b: SipUri): boolean {
  if (a.user === undefined || (a.raw.indexOf('%') < 0 && b.raw.indexOf('%') < 0)) return true;
  const x = rawUserinfo(a);
  const y = rawUserinfo(b);
  if (x === undefined || y === undefined) return true;
  for (let k = 0; k < 2; k++) {
    const p = x[k];
    const q = y[k];
    if (p === undefined || q === undefined) continue;
    const text = k === 0 ? a.user : a.password;
    if (unescapePct(p) !== text || unescapePct(q) !== text) continue;
    if (!unescapeOctets(p).equals(unescapeOctets(q))) return false;
  }
  return true;
}

/** Two IPv6 references for one address, written differently ([2001:db8::1], [2001:DB8:0:0:0:0:0:1]: RFC 5118 §4.3). */
function sameIpv6(x: string, y: string): boolean {
  if (x.charCodeAt(0) !== 0x5b || y.charCodeAt(0) !== 0x5b) return false;
  try {
    // the WHATWG URL parser writes an IPv6 host in its canonical form (RFC 5952)
    return new URL(`http://${x}/`).hostname === new URL(`http://${y}/`).hostname;
  } catch {
    return false;
  }
}

export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (a.opaque !== undefined || b.opaque !== undefined) return a.opaque === b.opaque;
  if (a.scheme === 'tel') {
    if (telDigits(a.user) !== telDigits(b.user)) return false;
    if (a.params.size !== b.params.size) return false;
    for (const [k, v] of a.params) if (!b.params.has(k) || !sameParamValue(v, b.params.get(k))) return false;
    return true;
  }
  if (a.user !== b.user || a.password !== b.password || !sameUserinfoOctets(a, b)) return false;
  if ((a.host !== b.host && !sameIpv6(a.host, b.host)) || a.port !== b.port) return false;
  return paramsEqual(a.params, b.params) && headersEqual(a.headers, b.headers);
}
