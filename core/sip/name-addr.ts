/**
 * name-addr / addr-spec with header parameters over bytes (RFC 3261 §20.10, §20.20, §20.30,
 * §20.34, §20.39, §25.1): From, To, Contact, Route, Record-Route.
 *   ( name-addr / addr-spec ) *( SEMI param )
 *   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 * In the addr-spec form a URI with a comma, question mark or semicolon is not allowed (§20:
 * it MUST be enclosed in angle brackets; RFC 4475 §3.1.2.13), and spaces never are (§3.1.2.14).
 * `scanNameAddrAt` validates without allocating and leaves the offsets in a scratch table;
 * a view (NameAddrView, ContactView) is made from them only when one is wanted, and decodes
 * its values when read.
 */
import { Buffer } from 'node:buffer';
import { MAX_UINT32, PARAM_VALUE as PARAM_VALUE_TABLE, TOKEN as TOKEN_TABLE, digitsValue, foldMask, lowerWord, wordAt as wordOf, quotedEnd, skipLws, trimLws } from './chars.js';
import { P as P_CELL, PARAMS_BAD, PARAMS_END, STOP as STOP_CELL, nextParam, paramsMap } from './params.js';
import { formatUri, scanUri, validateUri, validateUriBytes } from './uri.js';
import { Src, quotedText, srcOf, text, utf8 } from './header-value.js';
import { SCRATCH as SCAN_BUFFER, SCRATCH_WORDS, useBytes } from './scratch.js';
import type { Contact, NameAddr, Params, SipUri } from './types.js';

// Module-local aliases of the chars.ts tables: V8 folds a module's own const into the code
// (a byte index into a 256-entry table then needs no bounds check), while an imported binding
// is re-read through its cell on every access (~30% per byte in these loops, measured).
const PARAM_VALUE = PARAM_VALUE_TABLE;
const TOKEN = TOKEN_TABLE;
const BYTES = SCAN_BUFFER;
const word = wordOf;
const WORDS = SCRATCH_WORDS;
// the same for the scratch offsets of params.ts (an import is read through its cell and hole-checked)
const P = P_CELL;
const STOP = STOP_CELL;

/** Offsets left by the last scanNameAddrAt (-1 = absent). */
const N = new Int32Array(17);
const N_S = 0;
const N_E = 1;
const N_URI_S = 2;
const N_URI_E = 3;
const N_DN_S = 4;
const N_DN_E = 5;
const N_DN_Q = 6;
const N_PAR_S = 7;
const N_PAR_E = 8;
const N_TAG_S = 9;
const N_TAG_E = 10;
/** the Contact `expires` parameter (may exceed int32, so not in N); -1 = absent. */
let expiresN = -1;
/** q in thousandths (a qvalue has at most 3 decimals, so q = N_Q / 1000 exactly). */
const N_Q = 12;
const N_INST_S = 13;
const N_INST_E = 14;
const N_INST_Q = 15;
const N_STAR = 16;

/** No expires, q or +sip.instance yet: the Contact parameters a scan fills in as it meets them. */
function clearContactParams(): void {
  expiresN = -1;
  N[N_Q] = N[N_INST_S] = N[N_INST_E] = -1;
}

export class NameAddrView implements NameAddr {
  readonly b: Buffer;
  /** display name range; dnQuoted when it is a quoted-string. -1 = none. */
  dnS: number;
  dnE: number;
  dnQuoted: boolean;
  paramsS: number;
  paramsE: number;
  tagS: number;
  tagE: number;
  readonly s: number;
  e: number;
  /** the URI's bytes (validated while scanning; its view is made when `uri` is read) */
  readonly uriS: number;
  readonly uriE: number;
  private _displayName: string | undefined | null = null;
  /** @internal the URI, built from uriS..uriE when first read */
  _uri: SipUri | undefined = undefined;
  private _params: Params | undefined = undefined;
  private _tag: string | undefined | null = null;
  private _raw: string | undefined = undefined;

  /** @internal from the offsets of the last scanNameAddrAt. */
  constructor(readonly src: Src) {
    this.b = src.b;
    this.s = N[N_S]!;
    this.e = N[N_E]!;
    this.uriS = N[N_URI_S]!;
    this.uriE = N[N_URI_E]!;
    this.dnS = N[N_DN_S]!;
    this.dnE = N[N_DN_E]!;
    this.dnQuoted = N[N_DN_Q] === 1;
    this.paramsS = N[N_PAR_S]!;
    this.paramsE = N[N_PAR_E]!;
    this.tagS = N[N_TAG_S]!;
    this.tagE = N[N_TAG_E]!;
  }

  get displayName(): string | undefined {
    if (this._displayName === null) {
      if (this.dnS < 0) this._displayName = undefined;
      else this._displayName = this.dnQuoted ? quotedText(this.b, this.dnS, this.dnE) : text(this.b, this.dnS, this.dnE);
    }
    return this._displayName;
  }
  set displayName(v: string | undefined) {
    this._displayName = v;
  }

  get uri(): SipUri {
    if (this._uri === undefined) this._uri = scanUri(this.b, this.uriS, this.uriE)!;
    return this._uri;
  }
  set uri(v: SipUri) {
    this._uri = v;
  }

  get params(): Params {
    if (this._params === undefined) this._params = this.paramsS < 0 ? new Map() : paramsMap(this.b, this.paramsS, this.paramsE);
    return this._params;
  }
  set params(v: Params) {
    this._params = v;
  }

  get tag(): string | undefined {
    if (this._tag === null) this._tag = this.tagS < 0 ? undefined : this.src.ascii(this.tagS, this.tagE);
    return this._tag;
  }
  set tag(v: string | undefined) {
    this._tag = v;
  }

  get raw(): string {
    if (this._raw === undefined) this._raw = text(this.b, this.s, this.e);
    return this._raw;
  }
  set raw(v: string) {
    this._raw = v;
  }

  /** console.log / util.inspect show the decoded fields, not the offsets. */
  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return this.toJSON();
  }

  toJSON(): object {
    return { displayName: this.displayName, uri: this.uri, params: Object.fromEntries(this.params), tag: this.tag, raw: this.raw };
  }
}

/** q = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (§25.1 qvalue) in thousandths; -1 when invalid. */
function qMillis(b: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len < 1 || len > 5) return -1;
  const d0 = b[s]! - 0x30;
  if (d0 !== 0 && d0 !== 1) return -1;
  if (len === 1) return d0 * 1000;
  if (b[s + 1] !== 0x2e) return -1;
  let frac = 0;
  let scale = 1000;
  for (let k = s + 2; k < e; k++) {
    const d = b[k]! - 0x30;
    if (d < 0 || d > 9) return -1;
    scale /= 10;
    frac += d * scale;
  }
  const q = d0 * 1000 + frac;
  return q > 1000 ? -1 : q;
}


/** 'tag' (eqLower(b, s, s + 3, 'tag')) with one compare. */
function isTag(b: Uint8Array, s: number): boolean {
  return ((b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16)) | 0x202020) === TAG;
}
const TAG = lowerWord('tag');
// 'expires' as its first 4 and last 4 chars; '+sip.instance' as 4 words and a last 'e'
const EXPI = lowerWord('expi');
const IRES = lowerWord('ires');
const PSIP = lowerWord('+sip');
const PSIP_FOLD = foldMask('+sip');
const DINS = lowerWord('.ins');
const DINS_FOLD = foldMask('.ins');
const TANC = lowerWord('tanc');

/** Contact's own parameters (§20.10 contact-params); false rejects the value. */
function contactParam(b: Uint8Array): boolean {
  const ns = P[0]!;
  const ne = P[1]!;
  const len = ne - ns;
  if (len === 7 && (word(b, ns) | 0x20202020) === EXPI && (word(b, ns + 3) | 0x20202020) === IRES) {
    // delta-seconds at most 2**32-1 (RFC 4475 §3.1.2.4)
    const n = P[2]! < 0 || P[4] === 1 ? -1 : digitsValue(b, P[2]!, P[3]!, MAX_UINT32);
    if (n < 0) return false;
    expiresN = n;
  } else if (len === 1 && (b[ns]! | 0x20) === 0x71) {
    const n = P[2]! < 0 || P[4] === 1 ? -1 : qMillis(b, P[2]!, P[3]!);
    if (n < 0) return false;
    N[N_Q] = n;
  } else if (
    len === 13 &&
    (word(b, ns) | PSIP_FOLD) === PSIP &&
    (word(b, ns + 4) | DINS_FOLD) === DINS &&
    (word(b, ns + 8) | 0x20202020) === TANC &&
    (b[ns + 12]! | 0x20) === 0x65 &&
    P[2]! >= 0
  ) {
    N[N_INST_S] = P[2]!;
    N[N_INST_E] = P[3]!;
    N[N_INST_Q] = P[4]!;
  }
  return true;
}

/**
 * quotedEnd over the scan buffer that gives up (-1) at a CR or LF (a line scan must not run
 * into the next line) or another control character but HTAB. Aligned words with none of '"',
 * '\\', a control character or DEL are skipped four bytes at a time (a +sip.instance value is
 * ~50 bytes): a word may hold one when it has a byte below 0x20, (x - 0x20202020) & ~x &
 * 0x80808080, or a byte equal to '"', '\\' or DEL (a zero byte in x ^ 0x22222222, x ^ 0x5c5c5c5c
 * or x ^ 0x7f7f7f7f); such a word is read byte by byte.
 */
function quotedEndInLine(i: number, end: number): number {
  const b = BYTES;
  const w = WORDS;
  i++;
  while (i < end) {
    if ((i & 3) === 0) {
      while (i + 4 <= end) {
        const x = w[i >> 2]!;
        const q = x ^ 0x22222222;
        const s = x ^ 0x5c5c5c5c;
        const d = x ^ 0x7f7f7f7f;
        if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s) | ((d - 0x01010101) & ~d)) & 0x80808080) break;
        i += 4;
      }
      if (i >= end) break;
    }
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    // CR, LF (this scan stays in its line) and every other control character but HTAB (§25.1 qdtext)
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return -1;
    if (c === 0x5c) {
      // a quoted-pair may not escape the line end either
      const d = b[i + 1];
      if (d === 0x0d || d === 0x0a) return -1;
      i += 2;
    } else i++;
  }
  return -1;
}

/**
 * Leaves one scanned name-addr's offsets in N (see N_S…N_PAR_E); `parS` -1 when it has no
 * parameters after the URI and tag, else they run from `parS` to `parE`.
 */
function setNameAddr(s: number, e: number, uriS: number, uriE: number, dnS: number, dnE: number, dnQuoted: number, tagS: number, tagE: number, parS: number, parE: number): void {
  N[N_S] = s;
  N[N_E] = e;
  N[N_URI_S] = uriS;
  N[N_URI_E] = uriE;
  N[N_DN_S] = dnS;
  N[N_DN_E] = dnE;
  N[N_DN_Q] = dnQuoted;
  N[N_TAG_S] = tagS;
  N[N_TAG_E] = tagE;
  N[N_STAR] = 0;
  N[N_PAR_S] = parS;
  N[N_PAR_E] = parS < 0 ? -1 : parE;
}

/**
 * The name-addr as nearly every stack writes it, read in one pass: `[quoted-string LWS] <uri>`
 * then `;name[=value]` parameters (token or quoted values) with no whitespace around them,
 * ending at `end` or at a ','. Leaves the offsets in N as scanNameAddrAt would and returns
 * true; false when the value is not of that shape or is invalid (scanNameAddrAt then reads
 * it in full and alone decides). b[i..end) is already trimmed of LWS. With `line` the value's
 * end is not known (end is the buffer's): it must stop at the CR or LF of its line, and
 * whitespace and quoted strings may not cross it (a fold takes the full path).
 */
function scanNameAddrCommon(raw: Uint8Array, i: number, end: number, contact: boolean, line: boolean): boolean {
  if (!useBytes(raw, i, end)) return false;
  const b = BYTES;
  const token = TOKEN;
  const paramValue = PARAM_VALUE;
  const first = i;
  let dnS = -1;
  let dnE = -1;
  let dnQuoted = 0;
  if (i < end && b[i] === 0x22) {
    const q = line ? quotedEndInLine(i, end) : quotedEnd(b, i, end);
    if (q < 0) return false;
    dnS = i;
    dnE = q;
    dnQuoted = 1;
    if (line) {
      i = q;
      while (i < end && (b[i] === 0x20 || b[i] === 0x09)) i++;
    } else i = skipLws(b, q, end);
  }
  if (i >= end || b[i] !== 0x3c) return false;
  const uriS = i + 1;
  // the scan buffer holds b[i..end) already (useBytes above): no second check
  const uriE = validateUriBytes(uriS, end, true);
  if (uriE < 0) return false;
  i = uriE + 1; // after the '>'
  let tagS = -1;
  let tagE = -1;
  if (contact) clearContactParams();
  const ps = i;
  while (i < end && b[i] === 0x3b) {
    const ns = ++i;
    while (i < end && token[b[i]!] === 1) i++;
    const ne = i;
    if (ne === ns) return false;
    let vs = -1;
    let quoted = 0;
    if (i < end && b[i] === 0x3d) {
      vs = ++i;
      if (i < end && b[i] === 0x22) {
        i = line ? quotedEndInLine(i, end) : quotedEnd(b, i, end);
        if (i < 0) return false;
        quoted = 1;
      } else {
        while (i < end && paramValue[b[i]!] === 1) i++;
        if (i === vs) return false;
      }
    }
    if (ne - ns === 3 && vs >= 0 && isTag(b, ns)) {
      tagS = vs;
      tagE = i;
    } else if (contact) {
      P[0] = ns;
      P[1] = ne;
      P[2] = vs;
      P[3] = vs < 0 ? -1 : i;
      P[4] = quoted;
      if (!contactParam(b)) return false;
    }
  }
  if (line) {
    if (i >= end || (b[i] !== 0x0d && b[i] !== 0x0a && b[i] !== 0x2c)) return false;
  } else if (i < end && b[i] !== 0x2c) return false;
  STOP[0] = i;
  setNameAddr(first, i, uriS, uriE, dnS, dnE, dnQuoted, tagS, tagE, i > ps ? ps : -1, i);
  return true;
}

/**
 * Validates b[start..end) as a name-addr or addr-spec with parameters (a Contact's when
 * `contact`), leaving the offsets in N; false when invalid. With `list`, the element may end at
 * a ',' (STOP[0] says where); without, it must fill the range.
 */
export function scanNameAddrAt(b: Uint8Array, start: number, end: number, list: boolean, contact: boolean): boolean {
  let i = skipLws(b, start, end);
  end = trimLws(b, i, end);
  if (scanNameAddrCommon(b, i, end, contact, false)) return list || STOP[0] === end;
  const first = i;
  let dnS = -1;
  let dnE = -1;
  let dnQuoted = 0;
  let bracketed = false;
  if (i < end && b[i] === 0x22) {
    const q = quotedEnd(b, i, end);
    if (q < 0) return false;
    dnS = i;
    dnE = q;
    dnQuoted = 1;
    i = skipLws(b, q, end);
    if (i >= end || b[i] !== 0x3c) return false;
    bracketed = true;
  } else if (i < end && b[i] === 0x3c) {
    bracketed = true;
  } else {
    // *(token LWS) then '<' means a token display name; anything else is an addr-spec
    let j = i;
    while (j < end) {
      const c = b[j]!;
      if (c === 0x3c) break;
      // UTF-8 in an unquoted display name is outside the grammar but common: tolerated
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a && c < 0x80 && TOKEN[c] === 0) break;
      j++;
    }
    if (j < end && b[j] === 0x3c) {
      const dn = trimLws(b, first, j);
      if (dn > first) {
        dnS = first;
        dnE = dn;
      }
      i = j;
      bracketed = true;
    }
  }
  let uriS: number;
  let uriE: number;
  if (bracketed) {
    uriS = i + 1;
    uriE = validateUri(b, uriS, end, true);
    if (uriE < 0) return false;
    i = uriE + 1; // after the '>'
  } else {
    let j = i;
    while (j < end) {
      const c = b[j]!;
      if (c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x2c) break;
      if (c === 0x3f) return false;
      j++;
    }
    uriS = i;
    uriE = j;
    if (validateUri(b, i, j) !== j) return false;
    i = j;
  }
  let tagS = -1;
  let tagE = -1;
  if (contact) clearContactParams();
  const ps = i;
  for (;;) {
    const r = nextParam(b, i, end);
    if (r === PARAMS_END) break;
    if (r === PARAMS_BAD) return false;
    if (P[1]! - P[0]! === 3 && P[2]! >= 0 && isTag(b, P[0]!)) {
      tagS = P[2]!;
      tagE = P[3]!;
    } else if (contact && !contactParam(b)) return false;
    i = r;
  }
  const stop = STOP[0]!;
  if (stop < end && !list) return false;
  setNameAddr(first, trimLws(b, first, stop), uriS, uriE, dnS, dnE, dnQuoted, tagS, tagE, i > ps ? ps : -1, stop);
  return true;
}

/**
 * A name-addr (a Contact's with `contact`) at b[start..) whose line end is not known yet: one
 * element of the common shape running up to the CR or LF of its line or to the ',' before the
 * next element, offsets left in N and STOP[0] there. false when the value is anything else,
 * valid or not: the caller then frames the line and validates it in full.
 */
export function scanNameAddrLine(b: Uint8Array, start: number, limit: number, contact: boolean): boolean {
  return scanNameAddrCommon(b, start, limit, contact, true);
}

/** The view of the offsets left in N by the last successful scan (scanNameAddrLine). */
export function nameAddrView(src: Src): NameAddrView {
  return new NameAddrView(src);
}

/** A name-addr filling b[start..end) (From, To); null when invalid. */
export function scanNameAddr(src: Src, start: number, end: number): NameAddrView | null {
  return scanNameAddrAt(src.b, start, end, false, false) ? new NameAddrView(src) : null;
}

/** One element of a name-addr list (Route, Record-Route), which may end at a ',' (STOP[0]). */
export function scanNameAddrElement(src: Src, start: number, end: number): NameAddrView | null {
  return scanNameAddrAt(src.b, start, end, true, false) ? new NameAddrView(src) : null;
}

/** Parses a name-addr / addr-spec text; null when invalid. */
export function parseNameAddr(s: string): NameAddr | null {
  const b = Buffer.from(s, 'utf8');
  return scanNameAddr(srcOf(b), 0, b.length);
}

/** Contact value (§20.10): a name-addr/addr-spec with contact-params, or `*`. */
export class ContactView extends NameAddrView implements Contact {
  star: boolean;
  expires: number | undefined;
  q: number | undefined;
  instS: number;
  instE: number;
  instQuoted: boolean;
  private _instance: string | undefined | null = null;

  /** @internal from the offsets of the last scanContactAt. */
  constructor(src: Src) {
    super(src);
    this.star = N[N_STAR] === 1;
    this.expires = expiresN < 0 ? undefined : expiresN;
    this.q = N[N_Q]! < 0 ? undefined : N[N_Q]! / 1000;
    this.instS = N[N_INST_S]!;
    this.instE = N[N_INST_E]!;
    this.instQuoted = N[N_INST_Q] === 1;
    if (this.star) {
      const u = scanUri(Buffer.from('x:*'), 0, 3)!;
      u.scheme = '';
      u.opaque = '';
      u.raw = '*';
      this._uri = u;
    }
  }

  /** RFC 5626 §4.1: `+sip.instance="<urn:uuid:…>"` without its quotes and angle brackets. */
  get instance(): string | undefined {
    if (this._instance === null) {
      if (this.instS < 0) this._instance = undefined;
      else {
        let v = this.instQuoted ? quotedText(this.b, this.instS, this.instE) : utf8(this.b, this.instS, this.instE);
        if (v.charCodeAt(0) === 0x3c && v.endsWith('>')) v = v.slice(1, -1);
        this._instance = v;
      }
    }
    return this._instance;
  }
  set instance(v: string | undefined) {
    this._instance = v;
  }

  override toJSON(): object {
    return { ...super.toJSON(), star: this.star, expires: this.expires, q: this.q, instance: this.instance };
  }
}

/** Validates one Contact element (which may end at a ',': STOP[0]), leaving its offsets in N. */
export function scanContactAt(b: Uint8Array, start: number, end: number): boolean {
  const a = skipLws(b, start, end);
  const after = skipLws(b, a + 1, end);
  if (b[a] === 0x2a && (after >= end || b[after] === 0x2c)) {
    STOP[0] = after;
    N[N_S] = N[N_URI_S] = a;
    N[N_E] = N[N_URI_E] = a + 1;
    N[N_DN_S] = N[N_DN_E] = N[N_PAR_S] = N[N_PAR_E] = N[N_TAG_S] = N[N_TAG_E] = -1;
    clearContactParams();
    N[N_DN_Q] = N[N_INST_Q] = 0;
    N[N_STAR] = 1;
    return true;
  }
  return scanNameAddrAt(b, start, end, true, true);
}

/** Whether the Contact element scanContactAt validated last was `*`. */
export function lastContactIsStar(): boolean {
  return N[N_STAR] === 1;
}

/** One Contact element; may end at a ',' (STOP[0]). */
export function scanContact(src: Src, start: number, end: number): ContactView | null {
  return scanContactAt(src.b, start, end) ? new ContactView(src) : null;
}

export function parseContact(s: string): Contact | null {
  const b = Buffer.from(s, 'utf8');
  const c = scanContact(srcOf(b), 0, b.length);
  return c !== null && STOP[0] === b.length ? c : null;
}


function needsQuotes(v: string): boolean {
  if (v.length === 0) return true;
  for (let k = 0; k < v.length; k++) {
    const c = v.charCodeAt(k);
    if (c > 0x7f || (TOKEN[c] === 0 && c !== 0x20)) return true;
  }
  return v.charCodeAt(0) === 0x20 || v.charCodeAt(v.length - 1) === 0x20;
}

/** quoted-string with '"' and '\\' escaped (§25.1 quoted-pair). */
export function quote(v: string): string {
  let out = '"';
  for (const ch of v) out += ch === '"' || ch === '\\' ? '\\' + ch : ch;
  return out + '"';
}

/** Header parameters as `;name[=value]`, quoting a value that is not a token/host. */
export function formatParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) {
    out += ';' + k;
    if (v !== null) {
      let plain = v.length > 0;
      for (let i = 0; plain && i < v.length; i++) {
        const c = v.charCodeAt(i);
        plain = c < 0x80 && (TOKEN[c] === 1 || c === 0x3a || c === 0x5b || c === 0x5d);
      }
      out += '=' + (plain ? v : quote(v));
    }
  }
  return out;
}

/**
 * Writes a name-addr: `"Display" <uri>;params` (the URI always in angle brackets, §20.10), or
 * `*` for a star Contact. The tag and params come from `params` (set `params.set('tag', …)`).
 */
export function formatNameAddr(na: NameAddr | Contact): string {
  if ('star' in na && na.star) return '*';
  let out = '';
  const dn = na.displayName;
  if (dn !== undefined) out += (needsQuotes(dn) ? quote(dn) : dn) + ' ';
  out += '<' + formatUri(na.uri) + '>';
  const params = na.params;
  if (na.tag !== undefined && params.get('tag') !== na.tag) {
    const copy = new Map(params);
    copy.set('tag', na.tag);
    return out + formatParams(copy);
  }
  return out + formatParams(params);
}
