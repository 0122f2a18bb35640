/**
 * Character classes of the RFC 3261 §25.1 grammar as 256-entry tables (one array load per byte,
 * no regular expressions), and small string helpers shared by the header grammars.
 */

function table(chars: string, ranges: Array<[number, number]> = []): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) t[c] = 1;
  return t;
}

const ALNUM: Array<[number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~", ALNUM);

/** hostname / IPv4address chars (§25.1 host); '_' tolerated, seen in the wild. */
export const HOST = table('-._', ALNUM);

/** IPv6address chars inside an IPv6reference (hex digits, ':' and '.' for an embedded IPv4). */
export const IPV6 = table(':.', [
  [0x30, 0x39],
  [0x41, 0x46],
  [0x61, 0x66],
]);

/**
 * The end of the IPv6reference "[" IPv6address "]" at b[s] (RFC 3261 §25.1, the IPv6address of
 * RFC 3986 §3.2.2 / RFC 4291 §2.2): the index after its ']', or -1. The address is checked for its
 * structure, not only its characters: at most 8 groups of 1 to 4 hex digits, one "::" at most
 * (standing for one or more zero groups), the last 32 bits optionally as a dotted IPv4 address.
 * RFC 5118 §4.3 and §4.9 forms are valid ("[2001:db8::10:5070]" has no port; "[::ffff:192.0.2.10]");
 * "[2001:db8:::1]", "[1:2:3:4:5:6:7:8:9]" and "[12345::]" are not.
 */
export function ipv6ReferenceEnd(b: Uint8Array, s: number, end: number): number {
  if (s >= end || b[s] !== 0x5b) return -1;
  let i = s + 1;
  let groups = 0;
  let gap = false;
  if (i + 1 < end && b[i] === 0x3a && b[i + 1] === 0x3a) {
    gap = true;
    i += 2;
  } else if (i < end && b[i] === 0x3a) return -1;
  while (i < end && b[i] !== 0x5d) {
    const g = i;
    while (i < end && i - g < 5 && IPV6[b[i]!] === 1 && b[i] !== 0x3a && b[i] !== 0x2e) i++;
    if (i < end && b[i] === 0x2e) {
      // the dotted IPv4 tail: it ends the address
      i = ipv4End(b, g, end);
      if (i < 0) return -1;
      groups += 2;
      break;
    }
    if (i === g || i - g > 4) return -1;
    groups++;
    if (i < end && b[i] === 0x3a) {
      i++;
      if (i < end && b[i] === 0x3a) {
        if (gap) return -1;
        gap = true;
        i++;
      } else if (i >= end || b[i] === 0x5d) return -1; // a single ':' before the ']'
    }
  }
  if (i >= end || b[i] !== 0x5d || (gap ? groups > 7 : groups !== 8)) return -1;
  return i + 1;
}

/** The end of a dotted-quad IPv4 address at b[s] (four decimal octets 0-255), -1 when there is none. */
function ipv4End(b: Uint8Array, s: number, end: number): number {
  let i = s;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= end || b[i] !== 0x2e) return -1;
      i++;
    }
    const d = i;
    let v = 0;
    while (i < end && i - d < 4 && b[i]! >= 0x30 && b[i]! <= 0x39) v = v * 10 + b[i++]! - 0x30;
    if (i === d || i - d > 3 || v > 255) return -1;
  }
  return i;
}

/** gen-value chars of a header parameter (token / host, lenient): anything but LWS and separators. */
export const PARAM_VALUE = table('', [
  [0x21, 0x7e],
  [0x80, 0xff],
]);
for (const c of ';,"<>=') PARAM_VALUE[c.charCodeAt(0)] = 0;

/**
 * 1 for a byte that may appear unescaped in a URI inside a SIP message: not whitespace, not a
 * control, not '"', '<' or '>' (those delimit it in a header, §20).
 */
export const URI_CHAR = table('', [
  [0x21, 0x7e],
  [0x80, 0xff],
]);
for (const c of '"<>') URI_CHAR[c.charCodeAt(0)] = 0;

export const SP = 0x20;
export const HTAB = 0x09;
export const CR = 0x0d;
export const LF = 0x0a;

/** index of the first non-SP/HTAB char at or after i (or end). */
export function skipWs(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== SP && c !== HTAB) break;
    i++;
  }
  return i;
}

/** index after the last non-SP/HTAB char before end (or start). */
export function trimEnd(s: string, start: number, end: number): number {
  while (end > start) {
    const c = s.charCodeAt(end - 1);
    if (c !== SP && c !== HTAB) break;
    end--;
  }
  return end;
}

/** index after a run of token chars starting at i. */
export function scanToken(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) break;
    i++;
  }
  return i;
}

export function isToken(s: string): boolean {
  return s.length > 0 && scanToken(s, 0, s.length) === s.length;
}

/**
 * Given s[i] === '"', returns the index just after the closing quote, or -1 when the
 * quoted-string is unterminated (RFC 3261 §25.1 quoted-pair: a backslash escapes any char).
 */
export function scanQuoted(s: string, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return -1;
}

/** The content of a quoted-string s[start..end) (quotes included) with quoted-pairs resolved. */
export function unquote(s: string, start: number, end: number): string {
  const inner = s.slice(start + 1, end - 1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === '\\' && i + 1 < inner.length) {
      out += inner[i + 1];
      i++;
    } else out += c;
  }
  return out;
}

/** The value of a hexadecimal digit, -1 for any other char. */
export function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Resolves %HH escapes (RFC 3261 §19.1.2, RFC 3986 §2.1). An invalid escape is kept verbatim;
 * the decoded bytes are read as UTF-8 when they form valid UTF-8, else as latin1.
 */
export function unescapePct(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const buf = unescapeOctets(s);
  let ascii = true;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1');
  const text = buf.toString('utf8');
  return text.indexOf('\ufffd') >= 0 ? buf.toString('latin1') : text;
}

/** The octets %-escaped text stands for (§19.1.2): each valid escape one byte, the rest its UTF-8. */
export function unescapeOctets(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        bytes.push((h << 4) | l);
        i += 2;
        continue;
      }
    }
    if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(String.fromCharCode(c), 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes);
}

/** ASCII lowercase without allocating when the string is already lowercase. */
export function lower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.toLowerCase();
  }
  return s;
}

/** 2**32 - 1: the largest delta-seconds / CSeq value (RFC 3261 §8.1.1.5, §20.19; RFC 4475 §3.1.2.4). */
export const MAX_UINT32 = 4294967295;

// ---- byte-level helpers (the grammars run over the received bytes, see uri.ts, via.ts) ----

/**
 * Skips LWS: SP, HTAB, and CR/LF. Inside a header value CR/LF only occur as part of a fold
 * (CRLF followed by whitespace, §7.3.1), which is equivalent to one SP.
 */
export function skipLws(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
    i++;
  }
  return i;
}

export function trimLws(b: Uint8Array, start: number, end: number): number {
  while (end > start) {
    const c = b[end - 1]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
    end--;
  }
  return end;
}

export function tokenEnd(b: Uint8Array, i: number, end: number): number {
  while (i < end && TOKEN[b[i]!] === 1) i++;
  return i;
}

/**
 * b[i] is '"': index just after the closing quote, -1 when unterminated or invalid. §25.1:
 * qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII, quoted-pair = "\" (%x00-09 /
 * %x0B-0C / %x0E-7F): no control character but HTAB and a fold's CR LF, none escaped but CR, LF.
 */
export function quotedEnd(b: Uint8Array, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = b[i]!;
    if (c === 0x5c) {
      const d = b[i + 1];
      if (d === 0x0d || d === 0x0a) return -1;
      i += 2;
    } else if (c === 0x22) return i + 1;
    else if (c < 0x20 && c !== 0x09) {
      // LWS: CR LF (or a bare LF) and whitespace
      if (c === 0x0d && b[i + 1] === 0x0a) i++;
      else if (c !== 0x0a) return -1;
      const d = b[i + 1];
      if (d !== 0x20 && d !== 0x09) return -1;
      i += 2;
    } else if (c === 0x7f) return -1;
    else i++;
  }
  return -1;
}

/**
 * Up to 4 chars of a lowercase ASCII name as a little-endian word, and the mask that folds
 * case at its letters only: `(word of the bytes | foldMask(n)) === lowerWord(n)` is eqLower on
 * those bytes (a byte matches a letter in either case, any other char exactly), one compare
 * for 4 chars. For the parameter names the grammars look for (via.ts, name-addr.ts).
 */
export function lowerWord(n: string): number {
  let w = 0;
  for (let k = 0; k < n.length && k < 4; k++) w |= n.charCodeAt(k) << (8 * k);
  return w;
}

/** b[i..i+4) as a little-endian word, to compare with lowerWord's (or a name's 4 bytes). */
export function wordAt(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

export function foldMask(n: string): number {
  let w = 0;
  for (let k = 0; k < n.length && k < 4; k++) {
    const c = n.charCodeAt(k);
    if (c >= 0x61 && c <= 0x7a) w |= 0x20 << (8 * k);
  }
  return w;
}

/** Case-insensitive comparison of b[s..e) with a lowercase ASCII name. */
export function eqLower(b: Uint8Array, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let k = 0; k < name.length; k++) {
    let c = b[s + k]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== name.charCodeAt(k)) return false;
  }
  return true;
}

/** 1*DIGIT in b[s..e) at most max; -1 otherwise. */
export function digitsValue(b: Uint8Array, s: number, e: number, max: number): number {
  if (s >= e) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    if (n > max) return -1;
  }
  return n;
}
