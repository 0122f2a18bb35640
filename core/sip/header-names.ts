/**
 * Known header fields: a small integer id per header (the compact form maps to the same id),
 * whether its grammar is a comma-separated list, and a hash table so the scanner can identify a
 * header name from its bytes while it walks them, without building a string.
 */

import { foldMask, lowerWord, wordAt } from './chars.js';
import { SCRATCH_VIEW } from './scratch.js';

// a module-local alias (an import is read through its cell): V8 then knows the view
const VIEW = SCRATCH_VIEW;

export const H = {
  UNKNOWN: 0,
  VIA: 1,
  FROM: 2,
  TO: 3,
  CALL_ID: 4,
  CSEQ: 5,
  CONTACT: 6,
  MAX_FORWARDS: 7,
  CONTENT_LENGTH: 8,
  CONTENT_TYPE: 9,
  ROUTE: 10,
  RECORD_ROUTE: 11,
  EXPIRES: 12,
  SUPPORTED: 13,
  REQUIRE: 14,
  ALLOW: 15,
  EVENT: 16,
  WWW_AUTHENTICATE: 17,
  PROXY_AUTHENTICATE: 18,
  AUTHORIZATION: 19,
  PROXY_AUTHORIZATION: 20,
  RETRY_AFTER: 21,
  DATE: 22,
  ACCEPT_CONTACT: 23,
  REFERRED_BY: 24,
  REQUEST_DISPOSITION: 25,
  CONTENT_ENCODING: 26,
  IDENTITY_INFO: 27,
  REFER_TO: 28,
  SUBJECT: 29,
  ALLOW_EVENTS: 30,
  SESSION_EXPIRES: 31,
  IDENTITY: 32,
  REJECT_CONTACT: 33,
} as const;

interface Known {
  name: string;
  /** RFC 3261 §7.3.1: only headers whose grammar is `x *(COMMA x)` may be split on commas. */
  list: boolean;
  compact?: string;
}

/**
 * Index = id for the first entries (the H constants); later entries are known only for their
 * canonical spelling and list rule.
 */
const KNOWN: Known[] = [
  { name: '', list: false },
  { name: 'Via', list: true, compact: 'v' },
  { name: 'From', list: false, compact: 'f' },
  { name: 'To', list: false, compact: 't' },
  { name: 'Call-ID', list: false, compact: 'i' },
  { name: 'CSeq', list: false },
  { name: 'Contact', list: true, compact: 'm' },
  { name: 'Max-Forwards', list: false },
  { name: 'Content-Length', list: false, compact: 'l' },
  { name: 'Content-Type', list: false, compact: 'c' },
  { name: 'Route', list: true },
  { name: 'Record-Route', list: true },
  { name: 'Expires', list: false },
  { name: 'Supported', list: true, compact: 'k' },
  { name: 'Require', list: true },
  { name: 'Allow', list: true },
  { name: 'Event', list: false, compact: 'o' },
  { name: 'WWW-Authenticate', list: false },
  { name: 'Proxy-Authenticate', list: false },
  { name: 'Authorization', list: false },
  { name: 'Proxy-Authorization', list: false },
  { name: 'Retry-After', list: false },
  { name: 'Date', list: false },
  { name: 'Accept-Contact', list: true, compact: 'a' }, // RFC 3841
  { name: 'Referred-By', list: false, compact: 'b' }, // RFC 3892
  { name: 'Request-Disposition', list: true, compact: 'd' }, // RFC 3841
  { name: 'Content-Encoding', list: true, compact: 'e' },
  { name: 'Identity-Info', list: false, compact: 'n' }, // RFC 4474
  { name: 'Refer-To', list: false, compact: 'r' }, // RFC 3515
  { name: 'Subject', list: false, compact: 's' },
  { name: 'Allow-Events', list: true, compact: 'u' }, // RFC 6665
  { name: 'Session-Expires', list: false, compact: 'x' }, // RFC 4028
  { name: 'Identity', list: false, compact: 'y' }, // RFC 4474 / 8224
  { name: 'Reject-Contact', list: true, compact: 'j' }, // RFC 3841
  // list headers known only for splitting (RFC 3261 §20 and extensions)
  { name: 'Accept', list: true },
  { name: 'Accept-Encoding', list: true },
  { name: 'Accept-Language', list: true },
  { name: 'Alert-Info', list: true },
  { name: 'Call-Info', list: true },
  { name: 'Error-Info', list: true },
  { name: 'Content-Language', list: true },
  { name: 'In-Reply-To', list: true },
  { name: 'Proxy-Require', list: true },
  { name: 'Unsupported', list: true },
  { name: 'Warning', list: true },
  { name: 'Path', list: true }, // RFC 3327
  { name: 'Service-Route', list: true }, // RFC 3608
  { name: 'P-Asserted-Identity', list: true }, // RFC 3325
  { name: 'P-Preferred-Identity', list: true },
  { name: 'Reason', list: true }, // RFC 3326
  { name: 'Security-Client', list: true }, // RFC 3329
  { name: 'Security-Server', list: true },
  { name: 'Security-Verify', list: true },
  { name: 'Feature-Caps', list: true }, // RFC 6809
  { name: 'History-Info', list: true }, // RFC 7044
  { name: 'Permission-Missing', list: true },
  { name: 'Trigger-Consent', list: true },
  { name: 'P-Associated-URI', list: true },
  { name: 'P-Visited-Network-ID', list: true },
  { name: 'Privacy', list: false },
  { name: 'Min-Expires', list: false },
  { name: 'Min-SE', list: false },
  { name: 'User-Agent', list: false },
  { name: 'Server', list: false },
  { name: 'Timestamp', list: false },
  { name: 'Organization', list: false },
  { name: 'Priority', list: false },
  { name: 'MIME-Version', list: false },
  { name: 'Content-Disposition', list: false },
  { name: 'Reply-To', list: false },
  { name: 'RSeq', list: false },
  { name: 'RAck', list: false },
  { name: 'Subscription-State', list: false },
];

export const HEADER_COUNT = KNOWN.length;
/** canonical spelling per id. */
export const CANONICAL: readonly string[] = KNOWN.map((k) => k.name);
/** lowercase spelling per id. */
const LOWER: readonly string[] = KNOWN.map((k) => k.name.toLowerCase());
/** 1 when the header's values may be split on commas. */
export const IS_LIST = Uint8Array.from(KNOWN.map((k) => (k.list ? 1 : 0)));

/** compact form (lowercase char code) → id. */
const COMPACT = new Uint8Array(128);
for (let id = 1; id < KNOWN.length; id++) {
  const c = KNOWN[id]!.compact;
  if (c) COMPACT[c.charCodeAt(0)] = id;
}

/**
 * Name lookup without hashing: the candidates for a (length, first letter) pair are chained
 * (usually one), then the name is compared four bytes at a time with the candidate's lowercase
 * spelling: words at offsets 0, 4, 8, … and a last one ending at the name's end (overlapping
 * the one before it), so no word reaches past the name. Letters are compared without case
 * (the 0x20 bit is set in the word before the compare, only where the spelling has a letter);
 * every other byte must match exactly.
 */
const MAX_NAME = 32;
const FIRST = new Uint8Array(MAX_NAME * 128);
const NEXT = new Uint8Array(KNOWN.length);
/** per id from WORD_AT[id]: the spelling's words (little-endian), and the case bits of each. */
const WORD_AT = new Int32Array(KNOWN.length);
const WORDS: number[] = [];
const FOLDS: number[] = [];
{
  for (let id = KNOWN.length - 1; id >= 1; id--) {
    const n = LOWER[id]!;
    const slot = (n.length << 7) | n.charCodeAt(0);
    NEXT[id] = FIRST[slot]!;
    FIRST[slot] = id;
  }
  // n[k..k+4) as a word, or the mask that folds its letters (chars.ts)
  const nameWord = (n: string, k: number, fold: boolean): number => (fold ? foldMask : lowerWord)(n.slice(k, k + 4));
  for (let id = 0; id < KNOWN.length; id++) {
    const n = LOWER[id]!;
    WORD_AT[id] = WORDS.length;
    if (n.length < 4) {
      WORDS.push(nameWord(n, 0, false));
      FOLDS.push(nameWord(n, 0, true));
      continue;
    }
    for (let k = 0; k + 4 < n.length; k += 4) {
      WORDS.push(nameWord(n, k, false));
      FOLDS.push(nameWord(n, k, true));
    }
    WORDS.push(nameWord(n, n.length - 4, false));
    FOLDS.push(nameWord(n, n.length - 4, true));
  }
}
const WORD = Int32Array.from(WORDS);
const FOLD = Int32Array.from(FOLDS);

/** Is buf[start..start+len) the spelling of id (len = its length), letters in any case? */
function spelledAt(buf: Uint8Array, start: number, len: number, id: number): boolean {
  let w = WORD_AT[id]!;
  if (len < 4) {
    const x = len === 2 ? buf[start]! | (buf[start + 1]! << 8) : buf[start]! | (buf[start + 1]! << 8) | (buf[start + 2]! << 16);
    return (x | FOLD[w]!) === WORD[w];
  }
  const last = start + len - 4;
  for (let k = start; k < last; k += 4, w++) if ((wordAt(buf, k) | FOLD[w]!) !== WORD[w]) return false;
  return (wordAt(buf, last) | FOLD[w]!) === WORD[w];
}

/**
 * spelledAt for the scan buffer (scratch.ts), whose words are read with one unaligned load each
 * (knownNameAt: the scanner's names). Reads b[start..start+len) only (len >= 2).
 */
function spelledInScan(start: number, len: number, id: number): boolean {
  const d = VIEW;
  let w = WORD_AT[id]!;
  if (len < 4) {
    const x = len === 2 ? d.getUint16(start, true) : d.getUint16(start, true) | (d.getUint8(start + 2) << 16);
    return (x | FOLD[w]!) === WORD[w];
  }
  const last = start + len - 4;
  for (let k = start; k < last; k += 4, w++) if ((d.getInt32(k, true) | FOLD[w]!) !== WORD[w]) return false;
  return (d.getInt32(last, true) | FOLD[w]!) === WORD[w];
}

/** Identifies the header name buf[start..end) (any case, full or compact form); 0 when unknown. */
export function idFromBytes(buf: Uint8Array, start: number, end: number): number {
  const len = end - start;
  let c = buf[start]!;
  if (c >= 0x41 && c <= 0x5a) c |= 0x20;
  if (c >= 0x80) return 0;
  if (len === 1) return COMPACT[c]!;
  if (len >= MAX_NAME) return 0;
  let id = FIRST[(len << 7) | c]!;
  while (id !== 0) {
    if (spelledAt(buf, start, len, id)) return id;
    id = NEXT[id]!;
  }
  return 0;
}

/**
 * Known names by their first letter (lowercase char code): BY_FIRST[BY_FIRST_AT[c] ..
 * BY_FIRST_AT[c + 1]) are the ids whose spelling starts with c, in KNOWN order (the common
 * ones first), and NAME_LEN the length of each spelling.
 */
const BY_FIRST_AT = new Int32Array(129);
const NAME_LEN = Uint8Array.from(LOWER, (n) => n.length);
const byFirst: number[] = [];
for (let c = 0; c < 128; c++) {
  BY_FIRST_AT[c] = byFirst.length;
  for (let id = 1; id < KNOWN.length; id++) if (LOWER[id]!.charCodeAt(0) === c) byFirst.push(id);
}
BY_FIRST_AT[128] = byFirst.length;
const BY_FIRST = Uint8Array.from(byFirst);

/**
 * The known header name at the start of a header line buf[start..), found without walking its
 * bytes one by one: each spelling that starts with the first letter is compared in place (its
 * length is known), and matches when a ':', SP or HTAB follows it (what the scanner requires
 * after a name anyway), then the compact forms (RFC 3261 §7.3.3). Returns id | length << 8,
 * 0 when the name is none of them (the scanner then walks it as an unknown token). Reads no
 * byte at or past `limit`. `buf` is the scan buffer (scratch.ts), which the names are read from.
 */
export function knownNameAt(buf: Uint8Array, start: number, limit: number): number {
  let c = buf[start]!;
  if (c >= 0x41 && c <= 0x5a) c |= 0x20;
  if (c >= 0x80) return 0;
  for (let k = BY_FIRST_AT[c]!, end = BY_FIRST_AT[c + 1]!; k < end; k++) {
    const id = BY_FIRST[k]!;
    const len = NAME_LEN[id]!;
    const e = start + len;
    if (e >= limit) continue;
    const t = buf[e];
    if ((t === 0x3a || t === 0x20 || t === 0x09) && spelledInScan(start, len, id)) return id | (len << 8);
  }
  if (start + 1 < limit) {
    const t = buf[start + 1];
    const id = COMPACT[c]!;
    if (id !== 0 && (t === 0x3a || t === 0x20 || t === 0x09)) return id | (1 << 8);
  }
  return 0;
}

const byName = new Map<string, number>();

/** Id of a header name given as a string (any case, full or compact form); 0 when unknown. */
export function idFromName(name: string): number {
  let id = byName.get(name);
  if (id !== undefined) return id;
  const b = Buffer.from(name, 'latin1');
  id = b.length === 0 ? 0 : idFromBytes(b, 0, b.length);
  if (byName.size < 4096) byName.set(name, id);
  return id;
}

/** The canonical (full, conventional case) spelling of a header name. */
export function canonicalName(name: string): string {
  const id = idFromName(name);
  return id === 0 ? name : CANONICAL[id]!;
}
