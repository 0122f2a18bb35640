/**
 * name-addr / addr-spec with header parameters (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39,
 * §25.1): From, To, Contact, Route, Record-Route.
 *   ( name-addr / addr-spec ) *( SEMI param )
 *   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 * In the addr-spec form a URI with a comma, question mark or semicolon is not allowed (§20:
 * it MUST be enclosed in angle brackets; RFC 4475 §3.1.2.13), and spaces never are (§3.1.2.14).
 */
import { MAX_UINT32, TOKEN, parseDigits, scanQuoted, skipWs, trimEnd, unquote } from './chars.js';
import { parseParams } from './params.js';
import { tryParseUriAt } from './uri.js';
import type { Contact, NameAddr, Params, SipUri } from './types.js';

/** Parses s[start..end) as a name-addr or addr-spec with parameters; null when invalid. */
export function parseNameAddrAt(s: string, start: number, end: number): NameAddr | null {
  let i = skipWs(s, start, end);
  end = trimEnd(s, i, end);
  const first = i;
  let displayName: string | undefined;
  let bracketed = false;
  if (i < end && s.charCodeAt(i) === 0x22) {
    const q = scanQuoted(s, i, end);
    if (q < 0) return null;
    displayName = unquote(s, i, q);
    i = skipWs(s, q, end);
    if (i >= end || s.charCodeAt(i) !== 0x3c) return null;
    bracketed = true;
  } else {
    // *(token LWS) then '<' means a token display name; anything else is an addr-spec.
    let j = i;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 0x3c) break;
      if (c !== 0x20 && c !== 0x09 && (c > 0xff || TOKEN[c] === 0)) break;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 0x3c) {
      const dn = trimEnd(s, first, j);
      if (dn > first) displayName = s.slice(first, dn);
      i = j;
      bracketed = true;
    }
  }
  let uri: SipUri | null;
  if (bracketed) {
    const gt = s.indexOf('>', i + 1);
    if (gt < 0 || gt >= end) return null;
    uri = tryParseUriAt(s, i + 1, gt);
    i = gt + 1;
  } else {
    let j = i;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 0x3b || c === 0x20 || c === 0x09) break;
      if (c === 0x2c || c === 0x3f) return null;
      j++;
    }
    uri = tryParseUriAt(s, i, j);
    i = j;
  }
  if (uri === null) return null;
  const params: Params = new Map();
  if (!parseParams(s, i, end, params)) return null;
  const na: NameAddr = { uri, params, raw: first === 0 && end === s.length ? s : s.slice(first, end) };
  if (displayName !== undefined) na.displayName = displayName;
  const tag = params.get('tag');
  if (tag) na.tag = tag;
  return na;
}

export function parseNameAddr(s: string): NameAddr | null {
  return parseNameAddrAt(s, 0, s.length);
}

/** q = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (§25.1 qvalue); -1 when invalid. */
function parseQ(v: string): number {
  if (v.length === 0 || v.length > 5) return -1;
  const n = Number(v);
  if (!(n >= 0 && n <= 1) || (v[0] !== '0' && v[0] !== '1') || (v.length > 1 && v[1] !== '.')) return -1;
  return n;
}

/**
 * Contact value (§20.10): `*` or a name-addr/addr-spec with contact-params. expires is
 * delta-seconds at most 2**32-1 (RFC 4475 §3.1.2.4), q a qvalue.
 */
export function parseContactAt(s: string, start: number, end: number): Contact | null {
  const a = skipWs(s, start, end);
  const b = trimEnd(s, a, end);
  if (b === a + 1 && s.charCodeAt(a) === 0x2a) {
    return {
      star: true,
      uri: { scheme: '', host: '', params: new Map(), headers: new Map(), opaque: '', raw: '*' },
      params: new Map(),
      raw: '*',
    };
  }
  const na = parseNameAddrAt(s, a, b) as Contact | null;
  if (na === null) return null;
  na.star = false;
  const exp = na.params.get('expires');
  if (exp !== undefined) {
    const n = exp === null ? -1 : parseDigits(exp, 0, exp.length, MAX_UINT32);
    if (n < 0) return null;
    na.expires = n;
  }
  const q = na.params.get('q');
  if (q !== undefined) {
    const n = q === null ? -1 : parseQ(q);
    if (n < 0) return null;
    na.q = n;
  }
  const inst = na.params.get('+sip.instance');
  if (inst) {
    // RFC 5626 §4.1: +sip.instance="<urn:uuid:…>"; the parser already removed the quotes.
    na.instance = inst.charCodeAt(0) === 0x3c && inst.endsWith('>') ? inst.slice(1, -1) : inst;
  }
  return na;
}
