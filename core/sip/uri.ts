/**
 * URIs: RFC 3261 §19.1 SIP/SIPS, RFC 3966 tel, any other scheme kept opaque (RFC 3986 §3.1).
 * Parsing works on the decoded text with charCode loops; invalid input yields null from
 * `tryParseUri` (used by the header grammars) or a SipParseError from `parseUri`.
 */
import { SipParseError } from './errors.js';
import { lower, unescapePct } from './chars.js';
import type { Params, SipUri } from './types.js';

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Characters never allowed unescaped anywhere in a URI inside a SIP message. */
function isForbidden(c: number): boolean {
  return c <= 0x20 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x7f;
}

/** hostname / IPv4address chars (RFC 3261 §25.1 host); '_' tolerated, seen in the wild. */
function isHostChar(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 0x2d || c === 0x2e || c === 0x5f;
}

function isHexOrColon(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x3a || c === 0x2e;
}

/** Parses `;name[=value]` pairs in s[start..end) into params (names lowercased, both unescaped). */
function parseUriParams(s: string, start: number, end: number, params: Params): boolean {
  let i = start;
  while (i < end) {
    // s[i] === ';'
    i++;
    let j = i;
    let eq = -1;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 0x3b) break;
      if (c === 0x3d && eq < 0) eq = j;
      j++;
    }
    if (eq === i || j === i) return false; // ";=x" or an empty ";;"
    if (eq < 0) params.set(lower(unescapePct(s.slice(i, j))), null);
    else params.set(lower(unescapePct(s.slice(i, eq))), unescapePct(s.slice(eq + 1, j)));
    i = j;
  }
  return true;
}

function parseUriHeaders(s: string, start: number, end: number, headers: Map<string, string>): boolean {
  let i = start;
  while (i < end) {
    let j = s.indexOf('&', i);
    if (j < 0 || j > end) j = end;
    const eq = s.indexOf('=', i);
    if (eq < 0 || eq >= j || eq === i) return false;
    headers.set(unescapePct(s.slice(i, eq)), unescapePct(s.slice(eq + 1, j)));
    i = j + 1;
  }
  return true;
}

/** Parses the URI text s[start..end); null when it is not a valid URI. */
export function tryParseUriAt(s: string, start: number, end: number): SipUri | null {
  const raw = start === 0 && end === s.length ? s : s.slice(start, end);
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  let i = start;
  if (i >= end || !isAlpha(s.charCodeAt(i))) return null;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 0x3a) break;
    if (!isAlpha(c) && !isDigit(c) && c !== 0x2b && c !== 0x2d && c !== 0x2e) return null;
    i++;
  }
  if (i >= end - 1) return null;
  for (let k = i + 1; k < end; k++) if (isForbidden(s.charCodeAt(k))) return null;
  const scheme = lower(s.slice(start, i));
  const rest = i + 1;
  const params: Params = new Map();
  const headers = new Map<string, string>();
  if (scheme === 'tel') {
    // RFC 3966: telephone-subscriber = number *( ";" par )
    let semi = s.indexOf(';', rest);
    if (semi < 0 || semi > end) semi = end;
    if (semi === rest) return null;
    if (!parseUriParams(s, semi, end, params)) return null;
    return { scheme, user: unescapePct(s.slice(rest, semi)), host: '', params, headers, raw };
  }
  if (scheme !== 'sip' && scheme !== 'sips') {
    return { scheme, host: '', params, headers, opaque: s.slice(rest, end), raw };
  }
  // userinfo ends at the first '@': '@' is never allowed unescaped in user, password,
  // parameters or headers, while ';', '?' and ':' are (user-unreserved, §25.1).
  let user: string | undefined;
  let password: string | undefined;
  let hostStart = rest;
  const at = s.indexOf('@', rest);
  if (at >= 0 && at < end) {
    if (at === rest) return null;
    let colon = s.indexOf(':', rest);
    if (colon > at) colon = -1;
    if (colon < 0) user = unescapePct(s.slice(rest, at));
    else {
      if (colon === rest) return null;
      user = unescapePct(s.slice(rest, colon));
      password = unescapePct(s.slice(colon + 1, at));
    }
    hostStart = at + 1;
  }
  // hostport
  let h = hostStart;
  if (h < end && s.charCodeAt(h) === 0x5b) {
    // IPv6reference = "[" IPv6address "]"
    h++;
    while (h < end && isHexOrColon(s.charCodeAt(h))) h++;
    if (h >= end || s.charCodeAt(h) !== 0x5d || h === hostStart + 1) return null;
    h++;
  } else {
    while (h < end && isHostChar(s.charCodeAt(h))) h++;
    if (h === hostStart) return null;
  }
  const host = lower(s.slice(hostStart, h));
  let port: number | undefined;
  if (h < end && s.charCodeAt(h) === 0x3a) {
    h++;
    const ps = h;
    let n = 0;
    while (h < end && isDigit(s.charCodeAt(h))) {
      n = n * 10 + s.charCodeAt(h) - 0x30;
      if (n > 65535) return null;
      h++;
    }
    if (h === ps) return null;
    port = n;
  }
  if (h < end) {
    const c = s.charCodeAt(h);
    if (c !== 0x3b && c !== 0x3f) return null;
  }
  let q = s.indexOf('?', h);
  if (q < 0 || q > end) q = end;
  if (!parseUriParams(s, h, q, params)) return null;
  if (q < end && !parseUriHeaders(s, q + 1, end, headers)) return null;
  const uri: SipUri = { scheme, host, params, headers, raw };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (port !== undefined) uri.port = port;
  return uri;
}

export function tryParseUri(text: string): SipUri | null {
  return tryParseUriAt(text, 0, text.length);
}

/** Parses a URI; throws SipParseError BAD_URI. */
export function parseUri(text: string): SipUri {
  const uri = tryParseUri(text);
  if (uri === null) throw new SipParseError('BAD_URI', `invalid URI: ${JSON.stringify(text.slice(0, 200))}`);
  return uri;
}

// Characters allowed unescaped per component (RFC 3261 §25.1), beyond alphanum.
const MARK = "-_.!~*'()";
const USER_OK = MARK + '&=+$,;?/';
const PASSWORD_OK = MARK + '&=+$,';
const PARAM_OK = MARK + '[]/:&+$';
const HEADER_OK = MARK + '[]/?:+$';

function escapeComponent(s: string, allowed: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isAlpha(c) || isDigit(c) || (c < 0x80 && allowed.indexOf(s[i]!) >= 0)) continue;
    out += s.slice(start, i);
    for (const b of Buffer.from(s[i]!, 'utf8')) out += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
    start = i + 1;
  }
  return start === 0 ? s : out + s.slice(start);
}

function formatParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) {
    out += ';' + escapeComponent(k, PARAM_OK);
    if (v !== null) out += '=' + escapeComponent(v, PARAM_OK);
  }
  return out;
}

/** Writes a URI from its parts, escaping what each component does not allow. */
export function formatUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  if (uri.scheme === 'tel') return `tel:${escapeComponent(uri.user ?? '', PARAM_OK)}${formatParams(uri.params)}`;
  let out = uri.scheme + ':';
  if (uri.user !== undefined) {
    out += escapeComponent(uri.user, USER_OK);
    if (uri.password !== undefined) out += ':' + escapeComponent(uri.password, PASSWORD_OK);
    out += '@';
  }
  out += uri.host;
  if (uri.port !== undefined) out += ':' + uri.port;
  out += formatParams(uri.params);
  let first = true;
  for (const [k, v] of uri.headers) {
    out += (first ? '?' : '&') + escapeComponent(k, HEADER_OK) + '=' + escapeComponent(v, HEADER_OK);
    first = false;
  }
  return out;
}
