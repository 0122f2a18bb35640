/**
 * The hash arithmetic of HTTP Digest as SIP uses it (RFC 3261 §22.4, RFC 2617 §3.2.2,
 * RFC 7616 §3.4, RFC 8760 for SHA-256/SHA-512-256 in SIP). Pure functions: no state, no I/O.
 *
 *   HA1 = H(username ":" realm ":" password)                    (plain algorithms)
 *   HA1 = H(H(username ":" realm ":" password) ":" nonce ":" cnonce)   (-sess, RFC 7616 §3.4.2)
 *   HA2 = H(method ":" digest-uri)                              (qop=auth or no qop)
 *   HA2 = H(method ":" digest-uri ":" H(body))                  (qop=auth-int)
 *   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   (with qop)
 *   response = H(HA1 ":" nonce ":" HA2)                         (RFC 2069 legacy, no qop)
 */
import { createHash } from 'node:crypto';

/** Algorithms we implement, spelled as on the wire (RFC 7616 §6.1 registry). */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

export type DigestQop = 'auth' | 'auth-int';

interface AlgorithmInfo {
  name: DigestAlgorithm;
  /** node:crypto hash name */
  hash: string;
  sess: boolean;
  /** higher is stronger; pickChallenge prefers the highest. */
  strength: number;
  /** length of a hex digest, used to sanity-check stored HA1 values. */
  hexLength: number;
}

const ALGORITHMS: ReadonlyMap<string, AlgorithmInfo> = new Map(
  (
    [
      ['MD5', 'md5', false, 1, 32],
      ['MD5-sess', 'md5', true, 1, 32],
      ['SHA-256', 'sha256', false, 2, 64],
      ['SHA-256-sess', 'sha256', true, 2, 64],
      ['SHA-512-256', 'sha512-256', false, 3, 64],
      ['SHA-512-256-sess', 'sha512-256', true, 3, 64],
    ] as const
  ).map(([name, hash, sess, strength, hexLength]) => [name.toLowerCase(), { name, hash, sess, strength, hexLength }]),
);

/**
 * Looks an algorithm up case-insensitively (RFC 7616 §3.3: the token is case-insensitive in
 * practice; some registrars send `md5`). An absent algorithm means MD5 (RFC 2617 §3.2.1).
 * Returns undefined for algorithms we do not implement.
 */
export function lookupAlgorithm(token: string | undefined): AlgorithmInfo | undefined {
  return ALGORITHMS.get((token ?? 'MD5').toLowerCase());
}

export function hashHex(hash: string, data: string | Uint8Array): string {
  return createHash(hash).update(data).digest('hex');
}

export interface ResponseInputs {
  algorithm: AlgorithmInfo;
  /** H(username:realm:password) for the algorithm's hash, lowercase hex (before any -sess step). */
  ha1: string;
  nonce: string;
  cnonce?: string;
  /** the nc value as sent: 8 hex digits. */
  nc?: string;
  qop?: DigestQop;
  method: string;
  uri: string;
  body?: string | Uint8Array;
}

/** H(username ":" realm ":" password): what a registrar may store instead of the password. */
export function computeHa1(algorithm: AlgorithmInfo, username: string, realm: string, password: string): string {
  return hashHex(algorithm.hash, `${username}:${realm}:${password}`);
}

/** The request-digest of RFC 7616 §3.4.1 (and of RFC 2069 when qop is absent), lowercase hex. */
export function computeResponse(i: ResponseInputs): string {
  const h = i.algorithm.hash;
  // RFC 7616 §3.4.2: for -sess the stored HA1 is folded with both nonces once per request.
  const ha1 = i.algorithm.sess ? hashHex(h, `${i.ha1}:${i.nonce}:${i.cnonce ?? ''}`) : i.ha1;
  const ha2 =
    i.qop === 'auth-int'
      ? hashHex(h, `${i.method}:${i.uri}:${hashHex(h, i.body ?? '')}`)
      : hashHex(h, `${i.method}:${i.uri}`);
  if (i.qop === undefined) return hashHex(h, `${ha1}:${i.nonce}:${ha2}`);
  return hashHex(h, `${ha1}:${i.nonce}:${i.nc ?? ''}:${i.cnonce ?? ''}:${i.qop}:${ha2}`);
}

/** nc is "exactly 8LHEX" (RFC 7616 §3.4); the counter starts at 1 for each new nonce. */
export function formatNc(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) throw new RangeError(`nc out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

/**
 * H(username:realm:password) for the named algorithm's hash (the -sess suffix is ignored: the
 * session step needs the nonces). What a registrar stores instead of the plaintext password.
 */
export function storedHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  const alg = lookupAlgorithm(algorithm);
  if (alg === undefined) throw new RangeError(`unsupported digest algorithm ${algorithm}`);
  return computeHa1(alg, username, realm, password);
}
