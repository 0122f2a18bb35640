/**
 * Via over bytes (RFC 3261 §20.42, §25.1; RFC 3581 rport):
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport   (SLASH = SWS "/" SWS)
 *   sent-by = host [ COLON port ]
 * Scanning validates and records offsets of the parts and of the known parameters; strings are
 * made when a field is read.
 */
import { Buffer } from 'node:buffer';
import { HOST as HOST_TABLE, PARAM_VALUE as PARAM_VALUE_TABLE, TOKEN as TOKEN_TABLE, digitsValue, eqLower, foldMask, ipv6ReferenceEnd, lower, lowerWord, wordAt as wordOf, skipLws, tokenEnd, trimLws } from './chars.js';
import { P as P_CELL, PARAMS_BAD, PARAMS_END, STOP as STOP_CELL, nextParam, paramsMap } from './params.js';
import { Src, latin1, srcOf, text } from './header-value.js';
import { SCRATCH as SCAN_BUFFER, SCRATCH_VIEW, useBytes } from './scratch.js';
import type { Params, Via } from './types.js';

// Module-local aliases of the chars.ts tables: V8 folds a module's own const into the code
// (a byte index into a 256-entry table then needs no bounds check), while an imported binding
// is re-read through its cell on every access (~30% per byte in these loops, measured).
const HOST = HOST_TABLE;
const PARAM_VALUE = PARAM_VALUE_TABLE;
const TOKEN = TOKEN_TABLE;
const BYTES = SCAN_BUFFER;
const word = wordOf;
const VIEW = SCRATCH_VIEW;
/** 'SIP/' (letters folded to lowercase) and '2.0/' as little-endian words. */
const SIP_SLASH = 0x2f706973;
const V20_SLASH = 0x2f302e32;
// the same for the scratch offsets of params.ts (an import is read through its cell and hole-checked)
const P = P_CELL;
const STOP = STOP_CELL;

function upperAscii(b: Buffer, s: number, e: number): string {
  const v = latin1(b, s, e);
  for (let k = 0; k < v.length; k++) {
    const c = v.charCodeAt(k);
    if (c >= 0x61 && c <= 0x7a) return v.toUpperCase();
  }
  return v;
}

export class ViaView implements Via {
  nameS = 0;
  nameE = 0;
  verS = 0;
  verE = 0;
  transS = 0;
  transE = 0;
  hostS = 0;
  hostE = 0;
  paramsS = -1;
  paramsE = -1;
  branchS = -1;
  branchE = -1;
  receivedS = -1;
  receivedE = -1;
  maddrS = -1;
  maddrE = -1;
  hasRport = false;
  port: number | undefined = undefined;
  rport: number | undefined = undefined;
  ttl: number | undefined = undefined;
  private _protocol: string | undefined = undefined;
  private _transport: string | undefined = undefined;
  private _host: string | undefined = undefined;
  private _branch: string | undefined | null = null;
  private _received: string | undefined | null = null;
  private _maddr: string | undefined | null = null;
  private _params: Params | undefined = undefined;
  private _raw: string | undefined = undefined;

  readonly b: Buffer;
  constructor(
    readonly src: Src,
    readonly s: number,
    public e: number,
  ) {
    this.b = src.b;
  }

  get protocol(): string {
    if (this._protocol === undefined) {
      const b = this.b;
      const v = this.verS;
      const isSip20 = this.verE - v === 3 && b[v] === 0x32 && b[v + 1] === 0x2e && b[v + 2] === 0x30 && eqLower(b, this.nameS, this.nameE, 'sip');
      this._protocol = isSip20 ? 'SIP/2.0' : upperAscii(b, this.nameS, this.nameE) + '/' + latin1(b, this.verS, this.verE);
    }
    return this._protocol;
  }
  set protocol(v: string) {
    this._protocol = v;
  }

  get transport(): string {
    if (this._transport === undefined) {
      const b = this.b;
      const s = this.transS;
      const len = this.transE - s;
      // the common cases without a slice
      if (len === 3 && eqLower(b, s, this.transE, 'udp')) this._transport = 'UDP';
      else if (len === 3 && eqLower(b, s, this.transE, 'tcp')) this._transport = 'TCP';
      else if (len === 3 && eqLower(b, s, this.transE, 'tls')) this._transport = 'TLS';
      else this._transport = upperAscii(b, s, this.transE);
    }
    return this._transport;
  }
  set transport(v: string) {
    this._transport = v;
  }

  get host(): string {
    if (this._host === undefined) this._host = lower(this.src.ascii(this.hostS, this.hostE));
    return this._host;
  }
  set host(v: string) {
    this._host = v;
  }

  get branch(): string | undefined {
    if (this._branch === null) this._branch = this.branchS < 0 ? undefined : this.src.ascii(this.branchS, this.branchE);
    return this._branch;
  }
  set branch(v: string | undefined) {
    this._branch = v;
  }

  get received(): string | undefined {
    if (this._received === null) this._received = this.receivedS < 0 ? undefined : this.src.ascii(this.receivedS, this.receivedE);
    return this._received;
  }
  set received(v: string | undefined) {
    this._received = v;
  }

  get maddr(): string | undefined {
    if (this._maddr === null) this._maddr = this.maddrS < 0 ? undefined : this.src.ascii(this.maddrS, this.maddrE);
    return this._maddr;
  }
  set maddr(v: string | undefined) {
    this._maddr = v;
  }

  get params(): Params {
    if (this._params === undefined) this._params = this.paramsS < 0 ? new Map() : paramsMap(this.b, this.paramsS, this.paramsE);
    return this._params;
  }
  set params(v: Params) {
    this._params = v;
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
    return {
      protocol: this.protocol,
      transport: this.transport,
      host: this.host,
      port: this.port,
      branch: this.branch,
      received: this.received,
      hasRport: this.hasRport,
      rport: this.rport,
      maddr: this.maddr,
      ttl: this.ttl,
      params: Object.fromEntries(this.params),
      raw: this.raw,
    };
  }
}

const BRAN = lowerWord('bran');
const CH = lowerWord('ch');
const RECE = lowerWord('rece');
const IVED = lowerWord('ived');
const RPOR = lowerWord('rpor');
const MADD = lowerWord('madd');
const TTL = lowerWord('ttl');
// every name above is all letters: its fold mask is 0x20 in each byte
if (foldMask('branch') !== 0x20202020 || foldMask('ttl') !== 0x202020) throw new Error('via: fold masks');

/**
 * Records a Via parameter the stack reads (RFC 3261 §20.42 branch, received, maddr, ttl;
 * RFC 3581 rport) on `v`; false when its value is invalid (a branch without a value or quoted,
 * a port or TTL out of range). Other parameters stay in the raw text for `params`.
 */
function noteViaParam(v: ViaView, b: Uint8Array, ns: number, ne: number, vs: number, ve: number, quoted: boolean): boolean {
  // the names compared a word at a time (chars.ts lowerWord): all letters, so every byte folds
  switch (ne - ns) {
    case 6:
      if ((word(b, ns) | 0x20202020) === BRAN && ((b[ns + 4]! | (b[ns + 5]! << 8)) | 0x2020) === CH) {
        if (vs < 0 || quoted) return false;
        v.branchS = vs;
        v.branchE = ve;
      }
      break;
    case 8:
      if (vs >= 0 && (word(b, ns) | 0x20202020) === RECE && (word(b, ns + 4) | 0x20202020) === IVED) {
        v.receivedS = vs;
        v.receivedE = ve;
      }
      break;
    case 5: {
      const w = word(b, ns) | 0x20202020;
      const last = b[ns + 4]! | 0x20;
      if (w === RPOR && last === 0x74) {
        // RFC 3581 §4: rport, or rport=port in a response
        v.hasRport = true;
        if (vs >= 0) {
          const n = digitsValue(b, vs, ve, 65535);
          if (n < 0) return false;
          v.rport = n;
        }
      } else if (vs >= 0 && w === MADD && last === 0x72) {
        v.maddrS = vs;
        v.maddrE = ve;
      }
      break;
    }
    case 3:
      if (((b[ns]! | (b[ns + 1]! << 8) | (b[ns + 2]! << 16)) | 0x202020) === TTL) {
        const n = vs < 0 ? -1 : digitsValue(b, vs, ve, 255);
        if (n < 0) return false;
        v.ttl = n;
      }
      break;
  }
  return true;
}

/**
 * The via-parm as nearly every stack writes it, read in one pass without calls:
 * `SIP/2.0/transport SP host[:port]` then `;name[=token]` parameters, no other whitespace,
 * no quoted values, no IPv6 reference, ending at `end` or at a ','. Fills v as scanVia would
 * and returns true; false when the value is not of that shape (scanVia then reads it in full,
 * and alone decides whether it is valid). Values that are of that shape but invalid (a bad
 * port, `branch` without a value) also return false, so every error comes from one place.
 * With `line` (scanViaLine) `end` is the buffer's and the value must stop at its line's CR/LF.
 */
function scanViaCommon(v: ViaView, raw: Uint8Array, i: number, end: number, line: boolean): boolean {
  if (!useBytes(raw, i, end)) return false;
  const b = BYTES;
  const token = TOKEN;
  const paramValue = PARAM_VALUE;
  // "SIP/2.0/" as two unaligned words: the letters in either case, the rest exactly
  if (end - i < 11 || (VIEW.getInt32(i, true) | 0x00202020) !== SIP_SLASH || VIEW.getInt32(i + 4, true) !== V20_SLASH) return false;
  v.nameS = i;
  v.nameE = i + 3;
  v.verS = i + 4;
  v.verE = i + 7;
  i += 8;
  const ts = i;
  while (i < end && TOKEN[b[i]!] === 1) i++;
  if (i === ts || i >= end || b[i] !== 0x20) return false;
  v.transS = ts;
  v.transE = i;
  const hs = ++i;
  while (i < end && HOST[b[i]!] === 1) i++;
  if (i === hs) return false;
  v.hostS = hs;
  v.hostE = i;
  if (i < end && b[i] === 0x3a) {
    const ps = ++i;
    let n = 0;
    while (i < end) {
      const d = b[i]! - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
      i++;
    }
    if (i === ps || n > 65535) return false;
    v.port = n;
  }
  const paramsStart = i;
  while (i < end && b[i] === 0x3b) {
    const ns = ++i;
    while (i < end && token[b[i]!] === 1) i++;
    const ne = i;
    if (ne === ns) return false;
    let vs = -1;
    if (i < end && b[i] === 0x3d) {
      vs = ++i;
      while (i < end && paramValue[b[i]!] === 1) i++;
      if (i === vs) return false;
    }
    const ve = i;
    if (!noteViaParam(v, b, ns, ne, vs, ve, false)) return false;
  }
  // the element ends here: at the end of the value, or at the ',' before the next one; in a
  // line scan (scanViaLine) at the CR or LF that ends the line
  if (line) {
    if (i >= end || (b[i] !== 0x0d && b[i] !== 0x0a)) return false;
  } else if (i < end && b[i] !== 0x2c) return false;
  STOP[0] = i;
  v.e = i;
  if (i > paramsStart) {
    v.paramsS = paramsStart;
    v.paramsE = i;
  }
  return true;
}

/**
 * Validates one via-parm at b[start..end) and returns its view; null when invalid. With `list`,
 * the element may end at a ',' (STOP[0] says where); without, it must fill the range.
 */
export function scanVia(src: Src, start: number, end: number, list = false): ViaView | null {
  const b = src.b;
  let i = skipLws(b, start, end);
  end = trimLws(b, i, end);
  const common = new ViaView(src, i, end);
  if (scanViaCommon(common, b, i, end, false)) return common.e === end || list ? common : null;
  // a fresh view: the common pass may have filled some fields before it gave up
  const v = new ViaView(src, i, end);
  // protocol-name SLASH protocol-version SLASH transport
  let j = tokenEnd(b, i, end);
  if (j === i) return null;
  v.nameS = i;
  v.nameE = j;
  i = skipLws(b, j, end);
  if (b[i] !== 0x2f) return null;
  i = skipLws(b, i + 1, end);
  j = tokenEnd(b, i, end);
  if (j === i) return null;
  v.verS = i;
  v.verE = j;
  i = skipLws(b, j, end);
  if (b[i] !== 0x2f) return null;
  i = skipLws(b, i + 1, end);
  j = tokenEnd(b, i, end);
  if (j === i) return null;
  v.transS = i;
  v.transE = j;
  i = skipLws(b, j, end);
  if (i === j) return null; // LWS before sent-by is mandatory
  // sent-by = host [ COLON port ]
  const hs = i;
  if (b[i] === 0x5b) {
    i = ipv6ReferenceEnd(b, i, end);
    if (i < 0) return null;
  } else {
    while (i < end && HOST[b[i]!] === 1) i++;
    if (i === hs) return null;
  }
  v.hostS = hs;
  v.hostE = i;
  const afterHost = i;
  i = skipLws(b, i, end);
  if (i < end && b[i] === 0x3a) {
    i = skipLws(b, i + 1, end);
    const ps = i;
    while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
    const port = digitsValue(b, ps, i, 65535);
    if (port < 0) return null;
    v.port = port;
  } else i = afterHost;
  const paramsStart = i;
  for (;;) {
    const r = nextParam(b, i, end);
    if (r === PARAMS_END) break;
    if (r === PARAMS_BAD) return null;
    const ns = P[0]!;
    const ne = P[1]!;
    const vs = P[2]!;
    const ve = P[3]!;
    if (!noteViaParam(v, b, ns, ne, vs, ve, P[4] === 1)) return null;
    i = r;
  }
  const stop = STOP[0]!;
  if (stop < end && !list) return null;
  v.e = trimLws(b, v.s, stop);
  if (i > paramsStart) {
    v.paramsS = paramsStart;
    v.paramsE = stop;
  }
  return v;
}

/**
 * The Via field value at src.b[start..) whose line end is not known yet (the scanner frames and
 * validates the common shape in one pass): one via-parm of the common shape running up to the
 * CR or LF of its line (STOP[0] says where). null when the value is anything else, valid or
 * not: the caller then frames the line and validates it with scanVia.
 */
export function scanViaLine(src: Src, start: number, limit: number): ViaView | null {
  const v = new ViaView(src, start, limit);
  return scanViaCommon(v, src.b, start, limit, true) ? v : null;
}

/** Parses one via-parm text; null when invalid. */
export function parseVia(s: string): Via | null {
  const b = Buffer.from(s, 'utf8');
  return scanVia(srcOf(b), 0, b.length);
}
