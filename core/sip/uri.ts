/**
 * URIs: RFC 3261 §19.1 SIP/SIPS, RFC 3966 tel, any other scheme kept opaque (RFC 3986 §3.1).
 * `scanUri` validates the bytes and returns a UriView that records offsets; each part is
 * decoded (and %-unescaped, §19.1.2) the first time it is read. Parts can be reassigned.
 */
import { Buffer } from 'node:buffer';
import { SipParseError } from './errors.js';
import { HOST as HOST_TABLE, URI_CHAR as URI_CHAR_TABLE, hexVal, ipv6ReferenceEnd, lower, unescapePct } from './chars.js';
import { latin1, utf8 } from './header-value.js';
import { SCRATCH as SCAN_BUFFER, SCRATCH_VIEW, useBytes } from './scratch.js';
import type { Params, SipUri } from './types.js';

// Module-local aliases of the chars.ts tables: V8 folds a module's own const into the code
// (a byte index into a 256-entry table then needs no bounds check), while an imported binding
// is re-read through its cell on every access (~30% per byte in these loops, measured).
const HOST = HOST_TABLE;
const URI_CHAR = URI_CHAR_TABLE;
const BYTES = SCAN_BUFFER;
const VIEW = SCRATCH_VIEW;
/** 'sip:' and 'sips' as little-endian words (one unaligned load compares a scheme). */
const SIP_COLON = 0x3a706973;
const SIPS = 0x73706973;

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

const KIND_SIP = 0;
const KIND_TEL = 1;
const KIND_OTHER = 2;

/** Parses `;name[=value]…` (URI parameters) of a valid URI into a Map (names lowercased, unescaped). */
function uriParamsMap(b: Buffer, s: number, e: number): Params {
  const m: Params = new Map();
  let i = s;
  while (i < e) {
    i++; // ';'
    let j = i;
    let eq = -1;
    while (j < e && b[j] !== 0x3b) {
      if (b[j] === 0x3d && eq < 0) eq = j;
      j++;
    }
    if (eq < 0) m.set(lower(unescapePct(utf8(b, i, j))), null);
    else m.set(lower(unescapePct(utf8(b, i, eq))), unescapePct(utf8(b, eq + 1, j)));
    i = j;
  }
  return m;
}

/**
 * Validates `*( ";" pname [ "=" pvalue ] )` from b[s], which must be ';' or '?' (or the end).
 * Returns where the parameters end (a '?' or e), -1 when invalid (an empty name: ";;", ";=x").
 */
function uriParamsEnd(b: Uint8Array, s: number, e: number): number {
  let i = s;
  while (i < e) {
    const c = b[i]!;
    if (c === 0x3f) return i;
    if (c !== 0x3b) return -1;
    i++;
    const ns = i;
    while (i < e && b[i] !== 0x3b && b[i] !== 0x3d && b[i] !== 0x3f) i++;
    if (i === ns) return -1;
    if (i < e && b[i] === 0x3d) {
      i++;
      while (i < e && b[i] !== 0x3b && b[i] !== 0x3f) i++;
    }
  }
  return e;
}

function uriHeadersMap(b: Buffer, s: number, e: number): Map<string, string> {
  const m = new Map<string, string>();
  let i = s;
  while (i < e) {
    let j = i;
    let eq = -1;
    while (j < e && b[j] !== 0x26) {
      if (b[j] === 0x3d && eq < 0) eq = j;
      j++;
    }
    if (eq > i) m.set(unescapePct(utf8(b, i, eq)), unescapePct(utf8(b, eq + 1, j)));
    i = j + 1;
  }
  return m;
}

/** A URI over the bytes it was read from. Fields are decoded on first read; all can be set. */
export class UriView implements SipUri {
  // offsets (-1 = absent)
  userS = -1;
  userE = -1;
  passS = -1;
  passE = -1;
  hostS = -1;
  hostE = -1;
  paramsS = -1;
  paramsE = -1;
  hdrS = -1;
  hdrE = -1;
  kind = KIND_SIP;
  private _scheme: string | undefined = undefined;
  private _user: string | undefined | null = null;
  private _password: string | undefined | null = null;
  private _host: string | undefined = undefined;
  private _port: number | undefined;
  private _params: Params | undefined = undefined;
  private _headers: Map<string, string> | undefined = undefined;
  private _opaque: string | undefined | null = null;
  private _raw: string | undefined = undefined;

  constructor(
    readonly b: Buffer,
    readonly s: number,
    readonly e: number,
    readonly schemeEnd: number,
  ) {}

  get scheme(): string {
    if (this._scheme === undefined) this._scheme = lower(latin1(this.b, this.s, this.schemeEnd));
    return this._scheme;
  }
  set scheme(v: string) {
    this._scheme = v;
  }

  get user(): string | undefined {
    if (this._user === null) this._user = this.userS < 0 ? undefined : unescapePct(utf8(this.b, this.userS, this.userE));
    return this._user;
  }
  set user(v: string | undefined) {
    this._user = v;
  }

  get password(): string | undefined {
    if (this._password === null) this._password = this.passS < 0 ? undefined : unescapePct(utf8(this.b, this.passS, this.passE));
    return this._password;
  }
  set password(v: string | undefined) {
    this._password = v;
  }

  get host(): string {
    if (this._host === undefined) this._host = this.hostS < 0 ? '' : lower(latin1(this.b, this.hostS, this.hostE));
    return this._host;
  }
  set host(v: string) {
    this._host = v;
  }

  get port(): number | undefined {
    return this._port;
  }
  set port(v: number | undefined) {
    this._port = v;
  }

  get params(): Params {
    if (this._params === undefined) this._params = this.paramsS < 0 ? new Map() : uriParamsMap(this.b, this.paramsS, this.paramsE);
    return this._params;
  }
  set params(v: Params) {
    this._params = v;
  }

  get headers(): Map<string, string> {
    if (this._headers === undefined) this._headers = this.hdrS < 0 ? new Map() : uriHeadersMap(this.b, this.hdrS, this.hdrE);
    return this._headers;
  }
  set headers(v: Map<string, string>) {
    this._headers = v;
  }

  get opaque(): string | undefined {
    if (this._opaque === null) this._opaque = this.kind === KIND_OTHER ? utf8(this.b, this.schemeEnd + 1, this.e) : undefined;
    return this._opaque;
  }
  set opaque(v: string | undefined) {
    this._opaque = v;
  }

  get raw(): string {
    if (this._raw === undefined) this._raw = utf8(this.b, this.s, this.e);
    return this._raw;
  }
  set raw(v: string) {
    this._raw = v;
  }

  /** true when the URI has `?headers` (not allowed in a Request-URI, §19.1.1). */
  get hasHeaders(): boolean {
    return this.hdrS >= 0;
  }

  /** console.log / util.inspect show the decoded fields, not the offsets. */
  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return this.toJSON();
  }

  toJSON(): object {
    return { scheme: this.scheme, user: this.user, password: this.password, host: this.host, port: this.port, params: Object.fromEntries(this.params), headers: Object.fromEntries(this.headers), opaque: this.opaque, raw: this.raw };
  }
}

/**
 * One table lookup per byte in the hot loops: for the user part 0 = an ordinary char, else
 * '@', ':' or a char not allowed unescaped; for parameter names and values 1 = where the run
 * stops (';', '=', '?', or a char not allowed unescaped). PSTOP holds both as bits, and a bit
 * for '@', where the speculative pass (no userinfo) also stops to notice its guess was wrong.
 */
const UI_AT = 1;
const UI_COLON = 2;
const UI_BAD = 3;
/** '%': an escape, which must be "%" HEXDIG HEXDIG (§25.1 escaped). */
const UI_PCT = 4;
const USERINFO = new Uint8Array(256);
const PNAME_STOP = new Uint8Array(256);
const PVALUE_STOP = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ok = URI_CHAR[c] === 1;
  USERINFO[c] = !ok ? UI_BAD : c === 0x40 ? UI_AT : c === 0x3a ? UI_COLON : c === 0x25 ? UI_PCT : 0;
  PNAME_STOP[c] = !ok || c === 0x3b || c === 0x3d || c === 0x3f ? 1 : 0;
  PVALUE_STOP[c] = !ok || c === 0x3b || c === 0x3f ? 1 : 0;
}
/** PNAME_STOP, PVALUE_STOP and '@' as bits of one table (validateSipParts). */
const PS_NAME = 1;
const PS_VALUE = 2;
const PS_AT = 4;
/** '%', where both runs stop to check the escape. */
const PS_PCT = 8;
const PSTOP = new Uint8Array(256);
for (let c = 0; c < 256; c++) PSTOP[c] = (PNAME_STOP[c]! * PS_NAME) | (PVALUE_STOP[c]! * PS_VALUE) | (c === 0x40 ? PS_AT : 0) | (c === 0x25 ? PS_PCT : 0);
/** b[k] is '%': whether an escape, "%" HEXDIG HEXDIG, starts there (and ends before e). */
function escapeAt(b: Uint8Array, k: number, e: number): boolean {
  return k + 2 < e && hexVal(b[k + 1]!) >= 0 && hexVal(b[k + 2]!) >= 0;
}

/** Offsets found by the last validateUri (see the U_* slots). */
// 32 slots, not 14: a typed array of more than 64 bytes (64 is still on it) lives off the V8 heap, so TurboFan
// embeds its data address and length (an on-heap one is re-checked and re-loaded on every access)
const U = new Int32Array(32);
const U_SCHEME_END = 0;
const U_KIND = 1;
const U_USER_S = 2;
const U_USER_E = 3;
const U_PASS_S = 4;
const U_PASS_E = 5;
const U_HOST_S = 6;
const U_HOST_E = 7;
const U_PORT = 8;
const U_PARAMS_S = 9;
const U_PARAMS_E = 10;
const U_HDR_S = 11;
const U_HDR_E = 12;

/** Whether validateSipParts leaves every part's offsets in U (scanUri) or only kind and headers. */
let wantParts = false;

/** validateSipParts: the speculative pass met something only the full pass can judge. */
const RETRY = -2;

/**
 * Validates the URI bytes b[s..e) without allocating; returns where the URI ends (e, or the
 * position of its '>' with `bracketed`: name-addr scans the URI and finds its end in the same
 * pass), or -1 when invalid. The parts' offsets are left in U for scanUri.
 * Each byte is looked at once in the common shapes: `sip:host…` and `sip:user@host…` with a
 * user made of host characters are read in one speculative pass; any other userinfo is found
 * by a scan up to the '@', then host, port, parameters, headers follow, each loop rejecting
 * what may not appear unescaped (whitespace, controls, '"', '<', '>').
 */
export function validateUri(b: Uint8Array, s: number, e: number, bracketed = false): number {
  return useBytes(b, s, e) ? validateUriBytes(s, e, bracketed) : -1;
}

/** @internal validateUri over the scan buffer (scratch.ts), which must hold b[s..e) already. */
export function validateUriBytes(s: number, e: number, bracketed: boolean): number {
  const b = BYTES;
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"; "sip:" and "sips:" without a loop
  let i = s;
  if (e - s > 4) {
    // the letters in either case (| 0x20 on their bytes only), the ':' exactly
    const x = VIEW.getInt32(s, true);
    if ((x | 0x00202020) === SIP_COLON) i = s + 3;
    else if ((x | 0x20202020) === SIPS && b[s + 4] === 0x3a) i = s + 4;
  }
  if (i === s) {
    if (i >= e || !isAlpha(b[i]!)) return -1;
    while (i < e) {
      const c = b[i]!;
      if (c === 0x3a) break;
      if (!isAlpha(c) && !isDigit(c) && c !== 0x2b && c !== 0x2d && c !== 0x2e) return -1;
      i++;
    }
    if (i >= e - 1) return -1;
    const len = i - s;
    const c0 = b[s]! | 0x20;
    const isSip = (len === 3 || (len === 4 && (b[s + 3]! | 0x20) === 0x73)) && c0 === 0x73 && (b[s + 1]! | 0x20) === 0x69 && (b[s + 2]! | 0x20) === 0x70;
    U[U_SCHEME_END] = i;
    if (!isSip) return validateOtherUri(s, e, i, bracketed, len === 3 && c0 === 0x74 && (b[s + 1]! | 0x20) === 0x65 && (b[s + 2]! | 0x20) === 0x6c);
  }
  U[U_SCHEME_END] = i;
  const rest = i + 1;
  // A run of host characters first: followed by '@' it was a user part (the common `user@`);
  // followed by what may follow a host it is the host, provided no '@' comes later (the rest
  // is read with tables that stop at '@', and a RETRY falls back to the scan for the '@').
  let k = rest;
  while (k < e && HOST[b[k]!] === 1) k++;
  if (k < e && b[k] === 0x40) {
    if (k === rest) return -1;
    return validateSipParts(e, bracketed, rest, k, -1, k + 1, -1);
  }
  if (k > rest) {
    const c = k < e ? b[k]! : 0x3b;
    if (c === 0x3b || c === 0x3a || (c === 0x3e && bracketed)) {
      const r = validateSipParts(e, bracketed, rest, -1, -1, rest, k);
      if (r !== RETRY) return r;
    }
  }
  // userinfo ends at the first '@': '@' is never allowed unescaped in user, password,
  // parameters or headers, while ';', '?' and ':' are allowed in the user part (§25.1).
  let at = -1;
  let colon = -1;
  for (k = rest; k < e; k++) {
    const t = USERINFO[b[k]!]!;
    if (t === 0) continue;
    if (t === UI_AT) {
      at = k;
      break;
    }
    if (t === UI_COLON) {
      if (colon < 0) colon = k;
      continue;
    }
    if (t === UI_PCT) {
      if (!escapeAt(b, k, e)) return -1;
      k += 2;
      continue;
    }
    if (b[k] === 0x3e && bracketed) break;
    return -1;
  }
  if (at >= 0) {
    if (at === rest || colon === rest) return -1;
    return validateSipParts(e, bracketed, rest, at, colon, at + 1, -1);
  }
  return validateSipParts(e, bracketed, rest, -1, -1, rest, -1);
}

/**
 * The part of a sip/sips URI after its userinfo: host [ ":" port ] uri-parameters [ headers ].
 * `hostEnd` >= 0 when the host run is already known: the speculative pass, which assumed there
 * is no userinfo and returns RETRY on an '@', a port that is not one, or headers.
 */
function validateSipParts(e: number, bracketed: boolean, rest: number, at: number, colon: number, hostStart: number, knownHostEnd: number): number {
  const b = BYTES;
  const pstop = PSTOP;
  const spec = knownHostEnd >= 0;
  let h = hostStart;
  if (spec) h = knownHostEnd;
  else if (h < e && b[h] === 0x5b) {
    h = ipv6ReferenceEnd(b, h, e);
    if (h < 0) return -1;
  } else {
    while (h < e && HOST[b[h]!] === 1) h++;
    if (h === hostStart) return -1;
  }
  const hostEnd = h;
  let port = -1;
  if (h < e && b[h] === 0x3a) {
    h++;
    const ps = h;
    let n = 0;
    while (h < e && isDigit(b[h]!)) {
      n = n * 10 + b[h]! - 0x30;
      if (n > 65535) return spec ? RETRY : -1;
      h++;
    }
    if (h === ps) return spec ? RETRY : -1;
    port = n;
  }
  // uri-parameters = *( ";" pname [ "=" pvalue ] ), then [ "?" headers ]
  // one constant table with a bit per question (a table chosen at run time would be checked
  // on every byte): the speculative pass also stops at '@'
  // (both runs also stop at '%' to check the escape, then go on)
  const nameStop = spec ? PS_NAME | PS_AT | PS_PCT : PS_NAME | PS_PCT;
  const valueStop = spec ? PS_VALUE | PS_AT | PS_PCT : PS_VALUE | PS_PCT;
  const paramsS = h;
  while (h < e) {
    const c = b[h]!;
    if (c !== 0x3b) break;
    h++;
    const ns = h;
    for (;;) {
      while (h < e && (pstop[b[h]!]! & nameStop) === 0) h++;
      if (h >= e || b[h] !== 0x25) break;
      if (!escapeAt(b, h, e)) return -1;
      h += 3;
    }
    if (h === ns) return spec ? RETRY : -1; // ";;" or ";=x"
    if (h < e && b[h] === 0x3d) {
      h++;
      for (;;) {
        while (h < e && (pstop[b[h]!]! & valueStop) === 0) h++;
        if (h >= e || b[h] !== 0x25) break;
        if (!escapeAt(b, h, e)) return -1;
        h += 3;
      }
    }
  }
  const paramsE = h;
  let hdrS = -1;
  if (h < e && b[h] === 0x3f) {
    if (spec) return RETRY;
    // headers = "?" header *( "&" header ), header = hname "=" hvalue
    h++;
    hdrS = h;
    for (;;) {
      const ns = h;
      while (h < e && b[h] !== 0x3d && b[h] !== 0x26 && URI_CHAR[b[h]!] === 1) {
        if (b[h] === 0x25 && !escapeAt(b, h, e)) return -1;
        h++;
      }
      if (h === ns || h >= e || b[h] !== 0x3d) return -1;
      h++;
      while (h < e && b[h] !== 0x26 && URI_CHAR[b[h]!] === 1) {
        if (b[h] === 0x25 && !escapeAt(b, h, e)) return -1;
        h++;
      }
      if (h >= e || b[h] !== 0x26) break;
      h++;
    }
  }
  // the URI must end here: at the end, or at its '>'
  if (bracketed) {
    if (h >= e || b[h] !== 0x3e) return spec ? RETRY : -1;
  } else if (h !== e) return spec ? RETRY : -1;
  U[U_KIND] = KIND_SIP;
  U[U_HDR_S] = hdrS;
  // the parts' offsets only for scanUri: the parser's own calls only validate (and ask
  // lastUriHasSipHeaders), and a view reads them when it is made
  if (!wantParts) return h;
  U[U_USER_S] = U[U_USER_E] = U[U_PASS_S] = U[U_PASS_E] = -1;
  if (at >= 0) {
    U[U_USER_S] = rest;
    if (colon >= 0 && colon < at) {
      U[U_USER_E] = colon;
      U[U_PASS_S] = colon + 1;
      U[U_PASS_E] = at;
    } else U[U_USER_E] = at;
  }
  U[U_HOST_S] = hostStart;
  U[U_HOST_E] = hostEnd;
  U[U_PORT] = port;
  U[U_PARAMS_S] = paramsE > paramsS ? paramsS : -1;
  U[U_PARAMS_E] = paramsE;
  U[U_HDR_E] = h;
  return h;
}

/** tel: (RFC 3966 `number *( ";" par )`) and opaque schemes. */
function validateOtherUri(s: number, e: number, colon: number, bracketed: boolean, tel: boolean): number {
  const b = BYTES;
  const rest = colon + 1;
  let k = rest;
  let semi = -1;
  for (; k < e; k++) {
    const c = b[k]!;
    if (URI_CHAR[c] === 0) {
      if (c === 0x3e && bracketed) break;
      return -1;
    }
    if (c === 0x3b && semi < 0) semi = k;
  }
  if (bracketed && k >= e) return -1;
  if (k === rest) return -1;
  U[U_USER_S] = U[U_USER_E] = U[U_PASS_S] = U[U_PASS_E] = U[U_HOST_S] = U[U_HOST_E] = U[U_PORT] = -1;
  U[U_PARAMS_S] = U[U_PARAMS_E] = U[U_HDR_S] = U[U_HDR_E] = -1;
  if (!tel) {
    U[U_KIND] = KIND_OTHER;
    return k;
  }
  U[U_KIND] = KIND_TEL;
  if (semi < 0) semi = k;
  if (semi === rest || uriParamsEnd(b, semi, k) !== k) return -1;
  U[U_USER_S] = rest;
  U[U_USER_E] = semi;
  if (semi < k) {
    U[U_PARAMS_S] = semi;
    U[U_PARAMS_E] = k;
  }
  return k;
}

/**
 * Validates the URI bytes b[s..e) and returns its view; null when invalid. With `bracketed`,
 * the URI ends at the first '>' (which must exist).
 */
export function scanUri(b: Buffer, s: number, e: number, bracketed = false): UriView | null {
  wantParts = true;
  const end = validateUri(b, s, e, bracketed);
  wantParts = false;
  if (end < 0) return null;
  const u = new UriView(b, s, end, U[U_SCHEME_END]!);
  u.kind = U[U_KIND]!;
  u.userS = U[U_USER_S]!;
  u.userE = U[U_USER_E]!;
  u.passS = U[U_PASS_S]!;
  u.passE = U[U_PASS_E]!;
  u.hostS = U[U_HOST_S]!;
  u.hostE = U[U_HOST_E]!;
  if (U[U_PORT]! >= 0) u.port = U[U_PORT];
  u.paramsS = U[U_PARAMS_S]!;
  u.paramsE = U[U_PARAMS_E]!;
  u.hdrS = U[U_HDR_S]!;
  u.hdrE = U[U_HDR_E]!;
  return u;
}

/** true when the last validateUri saw a sip/sips URI with `?headers` (not allowed in a Request-URI, §19.1.1). */
export function lastUriHasSipHeaders(): boolean {
  return U[U_KIND] === KIND_SIP && U[U_HDR_S]! >= 0;
}

export function tryParseUri(text: string): SipUri | null {
  const b = Buffer.from(text, 'utf8');
  return scanUri(b, 0, b.length);
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
    for (const byte of Buffer.from(s[i]!, 'utf8')) out += '%' + (byte < 16 ? '0' : '') + byte.toString(16).toUpperCase();
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

/**
 * The user and password of a sip/sips URI's `raw` text as written (escapes kept), or undefined
 * when it has none or `raw` is not such a URI. '@' is allowed unescaped in no part of a SIP URI
 * but ends the userinfo (§25.1), so the first one does.
 */
export function rawUserinfo(uri: SipUri): [user: string, password: string | undefined] | undefined {
  const raw = uri.raw;
  const colon = raw.indexOf(':');
  const at = raw.indexOf('@');
  if (colon < 0 || at < colon || uri.opaque !== undefined || uri.scheme === 'tel') return undefined;
  const info = raw.slice(colon + 1, at);
  const k = info.indexOf(':');
  return k < 0 ? [info, undefined] : [info.slice(0, k), info.slice(k + 1)];
}

/**
 * Writes a URI from its parts, escaping what each component does not allow. A user or password
 * still as parsed is written as it came (its escapes kept): decoded text cannot always be
 * escaped back to the same octets (an escaped byte that is not UTF-8 decodes as latin1).
 */
export function formatUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  if (uri.scheme === 'tel') return `tel:${escapeComponent(uri.user ?? '', PARAM_OK + '+')}${formatParams(uri.params)}`;
  let out = uri.scheme + ':';
  if (uri.user !== undefined) {
    const info = rawUserinfo(uri);
    out += info !== undefined && unescapePct(info[0]) === uri.user ? info[0] : escapeComponent(uri.user, USER_OK);
    if (uri.password !== undefined) {
      const p = info?.[1];
      out += ':' + (p !== undefined && unescapePct(p) === uri.password ? p : escapeComponent(uri.password, PASSWORD_OK));
    }
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
