/**
 * URI comparison, RFC 3261 §19.1.4: user and password case-sensitive, host case-insensitive,
 * escapes resolved before comparing (the parser already did), a port present in one URI only
 * makes them differ, the user/ttl/method/maddr/transport parameters must match when either URI
 * has them, other parameters are compared only when both have them, and URI headers must all match.
 */
import type { Params, SipUri } from './types.js';

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

export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (a.opaque !== undefined || b.opaque !== undefined) return a.opaque === b.opaque;
  if (a.scheme === 'tel') {
    if (telDigits(a.user) !== telDigits(b.user)) return false;
    if (a.params.size !== b.params.size) return false;
    for (const [k, v] of a.params) if (!b.params.has(k) || !sameParamValue(v, b.params.get(k))) return false;
    return true;
  }
  if (a.user !== b.user || a.password !== b.password) return false;
  if (a.host !== b.host || a.port !== b.port) return false;
  return paramsEqual(a.params, b.params) && headersEqual(a.headers, b.headers);
}
