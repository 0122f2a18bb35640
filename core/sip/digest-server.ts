/**
 * Server side of SIP Digest (RFC 3261 §22.1/§22.3, RFC 7616 §3.3 and §3.5): write challenges
 * with stateless nonces and verify credentials.
 *
 * Nonces carry their own proof: nonce = base64url(timestamp(8, ms BE) || random(12) ||
 * HMAC-SHA256(secret, timestamp || random || realm)). Any sipis process with the same secret
 * verifies them without shared state, so a phone may be challenged by one shard and answer
 * through another after a restart or a rebalance. The realm is inside the MAC so a nonce
 * minted for one realm is useless in another.
 *
 * Replay: being stateless, we do NOT remember which nc values were used with a nonce, so a
 * captured request can be replayed while its nonce is fresh (default 300 s). We accept that:
 * requests travel over the bridge's TLS or the provider's network, REGISTER is idempotent,
 * and the transaction layer absorbs retransmissions. A caller wanting strict nc tracking can
 * keep (nonce, nc) pairs itself from the `ok` result.
 *
 * Responses are compared with crypto.timingSafeEqual; nothing here logs a response or password.
 */
import { Buffer } from 'node:buffer';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthCredentials } from './types.js';
import { computeHa1, computeResponse, lookupAlgorithm, type DigestAlgorithm, type DigestQop } from './digest-algorithms.js';
import { DigestError, formatDigest } from './digest-params.js';

const TS_BYTES = 8;
const RAND_BYTES = 12;
const MAC_BYTES = 32;
const NONCE_BYTES = TS_BYTES + RAND_BYTES + MAC_BYTES;
/** Tolerated clock difference between shards for a nonce stamped "in the future". */
const FUTURE_SKEW_MS = 30_000;

export interface DigestServerOptions {
  /** HMAC key(s), at least 16 bytes. The first mints nonces; all verify (key rotation). */
  secret: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
  /** nonce lifetime in seconds; an older nonce with a right response yields `stale`. Default 300. */
  nonceTtlSeconds?: number;
  /** algorithms accepted in credentials. Default: every one we implement. */
  algorithms?: readonly DigestAlgorithm[];
  /**
   * Accept credentials without qop (RFC 2069 style). Default false: our challenges always
   * offer qop="auth", so a response without it is a downgrade (no cnonce, no nc).
   */
  allowNoQop?: boolean;
}

export interface ChallengeInput {
  realm: string;
  /** default 'MD5', the one every SIP phone implements; send one challenge per algorithm to offer several (RFC 8760 §2.4). */
  algorithm?: DigestAlgorithm;
  stale?: boolean;
  opaque?: string;
  /** epoch ms stamped into the nonce; default Date.now(). */
  now?: number;
  /** qop offered; default 'auth'. `null` for a legacy challenge without qop. */
  qop?: DigestQop | 'auth,auth-int' | null;
}

export type VerifyFailureReason =
  | 'stale'
  | 'bad-response'
  | 'bad-nonce'
  | 'wrong-realm'
  | 'missing-param'
  | 'unsupported-algorithm'
  | 'unsupported-scheme'
  | 'unsupported-qop'
  | 'uri-mismatch'
  | 'opaque-mismatch';

export interface VerifyInput {
  credentials: AuthCredentials;
  method: string;
  /** expected realm; credentials for another realm fail with `wrong-realm`. */
  realm: string;
  /** the plaintext password, or `ha1` = H(username:realm:password) for the credentials' algorithm (a string), or per algorithm. */
  password?: string;
  ha1?: string | Partial<Record<'MD5' | 'SHA-256' | 'SHA-512-256', string>>;
  /** epoch ms; default Date.now(). */
  now?: number;
  /** when given, the credentials' uri must equal it (RFC 7616 §3.5: digest-uri = request-target). */
  requestUri?: string;
  /** when given, the credentials must echo this opaque. */
  opaque?: string;
  /** body, for qop=auth-int. */
  body?: string | Uint8Array;
}

export type VerifyResult =
  | { ok: true; username: string; algorithm: DigestAlgorithm; qop?: DigestQop; nc?: number; nonceIssuedAt: number }
  | { ok: false; reason: VerifyFailureReason; param?: string };

const NC_RE = /^[0-9a-fA-F]{8}$/;

function toBuffer(s: string | Uint8Array): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}

export class DigestServer {
  readonly #secrets: Buffer[];
  readonly #ttlMs: number;
  readonly #algorithms: ReadonlySet<string>;
  readonly #allowNoQop: boolean;

  constructor(opts: DigestServerOptions) {
    const list = Array.isArray(opts.secret) ? opts.secret : [opts.secret as string | Uint8Array];
    this.#secrets = list.map(toBuffer);
    if (this.#secrets.length === 0 || this.#secrets.some((s) => s.length < 16)) {
      throw new DigestError('ERR_DIGEST_BAD_SECRET', 'each digest secret must be at least 16 bytes');
    }
    const ttl = opts.nonceTtlSeconds ?? 300;
    if (!(ttl > 0)) throw new DigestError('ERR_DIGEST_BAD_VALUE', 'nonceTtlSeconds must be positive');
    this.#ttlMs = ttl * 1000;
    const algs = opts.algorithms ?? ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess'];
    this.#algorithms = new Set(algs.map((a) => a.toLowerCase()));
    this.#allowNoQop = opts.allowNoQop ?? false;
  }

  /** How long a nonce of this server verifies (ms): what a replay check must remember it for. */
  get nonceTtlMs(): number {
    return this.#ttlMs;
  }

  #mac(secret: Buffer, stampAndRandom: Buffer, realm: string): Buffer {
    return createHmac('sha256', secret).update(stampAndRandom).update(realm, 'utf8').digest();
  }

  /** A fresh nonce for `realm`, stamped with `now` (epoch ms). */
  createNonce(realm: string, now: number = Date.now()): string {
    const head = Buffer.allocUnsafe(TS_BYTES + RAND_BYTES);
    head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 0);
    randomBytes(RAND_BYTES).copy(head, TS_BYTES);
    return Buffer.concat([head, this.#mac(this.#secrets[0], head, realm)]).toString('base64url');
  }

  /**
   * Checks a nonce's MAC and returns its timestamp (epoch ms), or undefined when it was not
   * minted by us for this realm. Expiry is judged by the caller.
   */
  checkNonce(nonce: string, realm: string): number | undefined {
    // base64url of 52 bytes is exactly 70 characters, the last one with its 4 unused bits zero
    // (A, Q, g or w): anything else is not ours, not even a spelling of one of ours that
    // decodes to the same bytes (a replay cache keyed on the text would see 16 nonces)
    if (nonce.length !== 70 || !/^[A-Za-z0-9_-]+[AQgw]$/.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES) return undefined;
    const head = raw.subarray(0, TS_BYTES + RAND_BYTES);
    const mac = raw.subarray(TS_BYTES + RAND_BYTES);
    let good = false;
    for (const secret of this.#secrets) {
      if (timingSafeEqual(mac, this.#mac(secret, head, realm))) good = true;
    }
    if (!good) return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  /** The WWW-Authenticate / Proxy-Authenticate value (RFC 3261 §22.1, RFC 7616 §3.3). */
  buildChallenge(input: ChallengeInput): string {
    const algorithm = input.algorithm ?? 'MD5';
    if (lookupAlgorithm(algorithm) === undefined) {
      throw new DigestError('ERR_DIGEST_UNSUPPORTED_ALGORITHM', `unsupported algorithm ${String(algorithm)}`);
    }
    const qop = input.qop === undefined ? 'auth' : (input.qop ?? undefined);
    return formatDigest(
      [
        ['realm', input.realm],
        ['nonce', this.createNonce(input.realm, input.now)],
        ['opaque', input.opaque],
        ['stale', input.stale ? 'true' : undefined],
        ['algorithm', algorithm],
        ['qop', qop],
      ],
      'challenge',
    );
  }

  /**
   * Verifies Authorization / Proxy-Authorization credentials. Order of checks: syntax and
   * policy first (cheap, no secret involved), then the nonce's MAC, then the response, and
   * only a right response on an expired nonce yields `stale` (RFC 7616 §3.3: stale means
   * "the client knew the password, ask again with a fresh nonce, do not prompt the user").
   */
  verifyCredentials(input: VerifyInput): VerifyResult {
    const c = input.credentials;
    if (c.scheme.toLowerCase() !== 'digest') return { ok: false, reason: 'unsupported-scheme' };
    const p = c.params;
    for (const name of ['username', 'realm', 'nonce', 'uri', 'response'] as const) {
      if (!p.has(name)) return { ok: false, reason: 'missing-param', param: name };
    }
    const username = p.get('username') as string;
    const nonce = p.get('nonce') as string;
    const uri = p.get('uri') as string;
    const response = p.get('response') as string;
    if (p.get('realm') !== input.realm) return { ok: false, reason: 'wrong-realm' };

    const algToken = p.get('algorithm');
    const alg = lookupAlgorithm(algToken);
    if (alg === undefined || !this.#algorithms.has(alg.name.toLowerCase())) {
      return { ok: false, reason: 'unsupported-algorithm' };
    }

    const qopToken = p.get('qop')?.toLowerCase();
    let qop: DigestQop | undefined;
    if (qopToken === 'auth' || qopToken === 'auth-int') qop = qopToken;
    else if (qopToken !== undefined) return { ok: false, reason: 'unsupported-qop' };
    else if (!this.#allowNoQop) return { ok: false, reason: 'unsupported-qop' };

    const cnonce = p.get('cnonce');
    const nc = p.get('nc');
    if (qop !== undefined || alg.sess) {
      if (cnonce === undefined) return { ok: false, reason: 'missing-param', param: 'cnonce' };
    }
    if (qop !== undefined) {
      if (nc === undefined) return { ok: false, reason: 'missing-param', param: 'nc' };
      if (!NC_RE.test(nc)) return { ok: false, reason: 'missing-param', param: 'nc' };
    }
    if (input.requestUri !== undefined && uri !== input.requestUri) return { ok: false, reason: 'uri-mismatch' };
    if (input.opaque !== undefined && p.get('opaque') !== input.opaque) return { ok: false, reason: 'opaque-mismatch' };

    const issuedAt = this.checkNonce(nonce, input.realm);
    const now = input.now ?? Date.now();
    if (issuedAt === undefined || issuedAt > now + FUTURE_SKEW_MS) return { ok: false, reason: 'bad-nonce' };

    let ha1: string | undefined;
    if (typeof input.ha1 === 'string') ha1 = input.ha1.toLowerCase();
    else if (input.ha1 !== undefined) {
      const base = alg.name.replace(/-sess$/, '') as 'MD5' | 'SHA-256' | 'SHA-512-256';
      ha1 = input.ha1[base]?.toLowerCase();
      if (ha1 === undefined) return { ok: false, reason: 'unsupported-algorithm' };
    } else if (input.password !== undefined) ha1 = computeHa1(alg, username, input.realm, input.password);
    else throw new DigestError('ERR_DIGEST_MISSING_PARAM', 'verifyCredentials needs password or ha1');
    // A stored HA1 of another hash cannot match; say so rather than "bad-response".
    if (ha1.length !== alg.hexLength) return { ok: false, reason: 'unsupported-algorithm' };

    const expected = computeResponse({
      algorithm: alg,
      ha1,
      nonce,
      cnonce,
      nc,
      qop,
      method: input.method,
      uri,
      body: input.body,
    });
    const given = Buffer.from(response.toLowerCase(), 'latin1');
    const want = Buffer.from(expected, 'latin1');
    // The length of a digest is public (it follows from the algorithm); only the bytes are secret.
    if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, reason: 'bad-response' };

    if (now - issuedAt > this.#ttlMs) return { ok: false, reason: 'stale' };
    const result: VerifyResult = { ok: true, username, algorithm: alg.name, nonceIssuedAt: issuedAt };
    if (qop !== undefined) {
      result.qop = qop;
      result.nc = parseInt(nc as string, 16);
    }
    return result;
  }
}
