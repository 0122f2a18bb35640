/**
 * name-addr / addr-spec with header parameters over bytes (RFC 3261 §20.10, §20.20, §20.30,
 * §20.34, §20.39, §25.1): From, To, Contact, Route, Record-Route.
 *   ( name-addr / addr-spec ) *( SEMI param )
 *   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 * In the addr-spec form a URI with a comma, question mark or semicolon is not allowed (§20:
 * it MUST be enclosed in angle brackets; RFC 4475 §3.1.2.13), and spaces never are (§3.1.2.14).
 * Scanning validates and records offsets; values are decoded when read (see NameAddrView).
 */
import { MAX_UINT32, TOKEN, digitsValue, eqLower, quotedEnd, skipLws, trimLws } from './chars.js';
import { P, PARAMS_BAD, PARAMS_END, STOP, nextParam, paramsMap } from './params.js';
import { formatUri, scanUri, validateUri } from './uri.js';
import { latin1, quotedText, text, utf8 } from './header-value.js';
import type { Contact, NameAddr, Params, SipUri } from './types.js';

export class NameAddrView implements NameAddr {
  /** display name range; dnQuoted when it is a quoted-string. -1 = none. */
  dnS = -1;
  dnE = -1;
  dnQuoted = false;
  paramsS = -1;
  paramsE = -1;
  tagS = -1;
  tagE = -1;
  private _displayName: string | undefined | null = null;
  /** @internal the URI, built from uriS..uriE when first read */
  _uri: SipUri | undefined = undefined;
  private _params: Params | undefined = undefined;
  private _tag: string | undefined | null = null;
  private _raw: string | undefined = undefined;

  constructor(
    readonly b: Buffer,
    readonly s: number,
    public e: number,
    /** the URI's bytes (validated while scanning; its view is made when `uri` is read) */
    readonly uriS: number,
    readonly uriE: number,
  ) {}

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
    if (this._tag === null) this._tag = this.tagS < 0 ? undefined : latin1(this.b, this.tagS, this.tagE);
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

  /** @internal called for each header parameter while scanning; false rejects the value. */
  onParam(_b: Buffer): boolean {
    return true;
  }

  /** console.log / util.inspect show the decoded fields, not the offsets. */
  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return this.toJSON();
  }

  toJSON(): object {
    return { displayName: this.displayName, uri: this.uri, params: Object.fromEntries(this.params), tag: this.tag, raw: this.raw };
  }
}

/** Scans b[start..end) as a name-addr or addr-spec with parameters; null when invalid. */
function scanInto<T extends NameAddrView>(
  b: Buffer,
  start: number,
  end: number,
  make: new (b: Buffer, s: number, e: number, uriS: number, uriE: number) => T,
  list: boolean,
): T | null {
  let i = skipLws(b, start, end);
  end = trimLws(b, i, end);
  const first = i;
  let dnS = -1;
  let dnE = -1;
  let dnQuoted = false;
  let bracketed = false;
  if (i < end && b[i] === 0x22) {
    const q = quotedEnd(b, i, end);
    if (q < 0) return null;
    dnS = i;
    dnE = q;
    dnQuoted = true;
    i = skipLws(b, q, end);
    if (i >= end || b[i] !== 0x3c) return null;
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
    if (uriE < 0) return null;
    i = uriE + 1; // after the '>'
  } else {
    let j = i;
    while (j < end) {
      const c = b[j]!;
      if (c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x2c) break;
      if (c === 0x3f) return null;
      j++;
    }
    uriS = i;
    uriE = j;
    if (validateUri(b, i, j) !== j) return null;
    i = j;
  }
  const na = new make(b, first, end, uriS, uriE);
  na.dnS = dnS;
  na.dnE = dnE;
  na.dnQuoted = dnQuoted;
  const ps = i;
  for (;;) {
    const r = nextParam(b, i, end);
    if (r === PARAMS_END) break;
    if (r === PARAMS_BAD) return null;
    if (eqLower(b, P[0]!, P[1]!, 'tag') && P[2]! >= 0) {
      na.tagS = P[2]!;
      na.tagE = P[3]!;
    }
    if (!na.onParam(b)) return null;
    i = r;
  }
  const stop = STOP[0]!;
  if (stop < end && !list) return null;
  na.e = trimLws(b, first, stop);
  if (i > ps) {
    na.paramsS = ps;
    na.paramsE = stop;
  }
  return na;
}

/** A name-addr filling b[start..end) (From, To). */
export function scanNameAddr(b: Buffer, start: number, end: number): NameAddrView | null {
  return scanInto(b, start, end, NameAddrView, false);
}

/** One element of a name-addr list (Route, Record-Route): may end at a ',' (STOP[0]). */
export function scanNameAddrElement(b: Buffer, start: number, end: number): NameAddrView | null {
  return scanInto(b, start, end, NameAddrView, true);
}

/** Parses a name-addr / addr-spec text; null when invalid. */
export function parseNameAddr(s: string): NameAddr | null {
  const b = Buffer.from(s, 'utf8');
  return scanNameAddr(b, 0, b.length);
}

/** q = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (§25.1 qvalue); -1 when invalid. */
function qValue(b: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len < 1 || len > 5) return -1;
  const d0 = b[s]! - 0x30;
  if (d0 !== 0 && d0 !== 1) return -1;
  if (len === 1) return d0;
  if (b[s + 1] !== 0x2e) return -1;
  let frac = 0;
  let scale = 1;
  for (let k = s + 2; k < e; k++) {
    const d = b[k]! - 0x30;
    if (d < 0 || d > 9) return -1;
    frac = frac * 10 + d;
    scale *= 10;
  }
  const q = d0 + frac / scale;
  return q > 1 ? -1 : q;
}

/** Contact value (§20.10): a name-addr/addr-spec with contact-params, or `*`. */
export class ContactView extends NameAddrView implements Contact {
  star = false;
  expires: number | undefined = undefined;
  q: number | undefined = undefined;
  instS = -1;
  instE = -1;
  instQuoted = false;
  private _instance: string | undefined | null = null;

  override onParam(b: Buffer): boolean {
    const ns = P[0]!;
    const ne = P[1]!;
    const len = ne - ns;
    if (len === 7 && eqLower(b, ns, ne, 'expires')) {
      // delta-seconds at most 2**32-1 (RFC 4475 §3.1.2.4)
      const n = P[2]! < 0 || P[4] === 1 ? -1 : digitsValue(b, P[2]!, P[3]!, MAX_UINT32);
      if (n < 0) return false;
      this.expires = n;
    } else if (len === 1 && (b[ns]! | 0x20) === 0x71) {
      const n = P[2]! < 0 || P[4] === 1 ? -1 : qValue(b, P[2]!, P[3]!);
      if (n < 0) return false;
      this.q = n;
    } else if (len === 13 && eqLower(b, ns, ne, '+sip.instance') && P[2]! >= 0) {
      this.instS = P[2]!;
      this.instE = P[3]!;
      this.instQuoted = P[4] === 1;
    }
    return true;
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


/** One Contact element; may end at a ',' (STOP[0]). */
export function scanContact(b: Buffer, start: number, end: number): ContactView | null {
  const a = skipLws(b, start, end);
  const after = skipLws(b, a + 1, end);
  if (b[a] === 0x2a && (after >= end || b[after] === 0x2c)) {
    STOP[0] = after;
    const z = a + 1;
    const u = scanUri(Buffer.from('x:*'), 0, 3)!;
    u.scheme = '';
    u.opaque = '';
    u.raw = '*';
    const c = new ContactView(b, a, z, a, z);
    c._uri = u;
    c.star = true;
    return c;
  }
  return scanInto(b, start, end, ContactView, true);
}

export function parseContact(s: string): Contact | null {
  const b = Buffer.from(s, 'utf8');
  const c = scanContact(b, 0, b.length);
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
