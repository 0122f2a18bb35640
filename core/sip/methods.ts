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

const BY_LENGTH: string[][] = [];
for (const m of METHODS) (BY_LENGTH[m.length] ??= []).push(m);

/** The known method spelled by b[s..e), or undefined. */
export function knownMethod(b: Uint8Array, s: number, e: number): string | undefined {
  const list = BY_LENGTH[e - s];
  if (list === undefined) return undefined;
  for (const m of list) {
    let k = 0;
    while (k < m.length && b[s + k] === m.charCodeAt(k)) k++;
    if (k === m.length) return m;
  }
  return undefined;
}
