/**
 * The request methods of RFC 3261 and its extensions as shared string constants: a method read
 * from a message is one of these when it matches (case-sensitive, §7.1), so reading it costs a
 * few byte compares instead of a decode, and later comparisons are between the same strings.
 */
const METHODS = [
  'ACK',
  'BYE',
  'CANCEL',
  'INFO', // RFC 6086
  'INVITE',
  'MESSAGE', // RFC 3428
  'NOTIFY', // RFC 6665
  'OPTIONS',
  'PRACK', // RFC 3262
  'PUBLISH', // RFC 3903
  'REFER', // RFC 3515
  'REGISTER',
  'SUBSCRIBE', // RFC 6665
  'UPDATE', // RFC 3311
];

/**
 * The methods' bytes back to back, and the one candidate for a (first byte, length) pair: no
 * two methods share both (checked below), so a lookup leaves one byte compare per char.
 */
const BYTES = new Uint8Array(METHODS.reduce((n, m) => n + m.length, 0));
const AT = new Int16Array(METHODS.length);
/** index into METHODS + 1 by (first byte & 0x1f) * 16 + length (0: no method). */
const CANDIDATE = new Uint8Array(32 * 16);
{
  let o = 0;
  METHODS.forEach((m, i) => {
    AT[i] = o;
    for (let k = 0; k < m.length; k++) BYTES[o++] = m.charCodeAt(k);
    const key = (m.charCodeAt(0) & 0x1f) * 16 + m.length;
    if (m.length >= 16 || CANDIDATE[key] !== 0) throw new Error(`methods.ts: ${m} needs another lookup`);
    CANDIDATE[key] = i + 1;
  });
}

/** The known method spelled by b[s..e), or undefined. */
export function knownMethod(b: Uint8Array, s: number, e: number): string | undefined {
  const len = e - s;
  if (len < 3 || len >= 16) return undefined;
  const c = b[s]!;
  // the methods are upper-case letters: 0x41-0x5a
  if (c < 0x41 || c > 0x5a) return undefined;
  const i = CANDIDATE[(c & 0x1f) * 16 + len]! - 1;
  if (i < 0) return undefined;
  const o = AT[i]!;
  for (let k = 1; k < len; k++) if (b[s + k] !== BYTES[o + k]) return undefined;
  return METHODS[i];
}

/**
 * Whether sipis knows the method (RFC 3261 §8.2.1): a UAS answers a method it does not know
 * with 501 Not Implemented, one it knows but does not take at that address with 405.
 */
export function isKnownMethod(method: string): boolean {
  return METHODS.includes(method);
}
