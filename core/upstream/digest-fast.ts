/**
 * The Authorization value of a refresh, computed the cheap way. A million accounts refresh about
 * 400 times a second; through the general `buildAuthorization` each one rebuilt a challenge Map,
 * hashed H(username:realm:password) again, drew a cnonce from the OS and formatted through
 * parameter arrays. Here:
 *  - what depends only on the provider's challenge (algorithm, chosen qop, realm, opaque, the
 *    fixed parameter text) is prepared once per shared challenge base (registration.ts interns
 *    them per provider);
 *  - HA1 = H(username:realm:password) is NOT cached per account: measured, a cached HA1 costs
 *    ~64 heap bytes an account (61 MiB for a million) to save one hash (~2 µs) per refresh,
 *    about 0.1 % of a core at the steady rate — the wrong side of the 1.5 GiB budget;
 *  - cnonces come from a pooled random buffer (RFC 7616 §3.4: chosen by the client, unique per
 *    request; 96 random bits each, as before).
 * The text is byte-for-byte what `buildAuthorization` writes (same order, same quoting, RFC 3261
 * §22.4); digest-fast.test.ts checks that for every algorithm and qop.
 */
import { randomBytes } from 'node:crypto';
import { computeHa1, computeResponse, formatNc, lookupAlgorithm, quoteString, splitQopOptions, DigestError, type DigestQop } from '../sip/digest.js';
import type { AuthChallenge } from '../sip/types.js';

type AlgorithmInfo = NonNullable<ReturnType<typeof lookupAlgorithm>>;

interface Prepared {
  algorithm: AlgorithmInfo;
  qop: DigestQop | undefined;
  realm: string;
  /** `, realm="…"` */
  realmPart: string;
  /** `, algorithm=MD5` or '' when the challenge named none (RFC 2069-era servers). */
  algorithmPart: string;
  /** `, opaque="…"` or ''. */
  opaquePart: string;
  /** `, qop=auth` or ''. */
  qopPart: string;
  needsCnonce: boolean;
}

const prepared = new WeakMap<AuthChallenge, Prepared>();

function prepare(base: AuthChallenge): Prepared {
  let p = prepared.get(base);
  if (p) return p;
  if (base.scheme.toLowerCase() !== 'digest') throw new DigestError('ERR_DIGEST_UNSUPPORTED_SCHEME', `cannot answer a ${base.scheme} challenge`);
  const realm = base.params.get('realm');
  if (realm === undefined) throw new DigestError('ERR_DIGEST_MISSING_PARAM', 'the challenge lacks realm or nonce');
  const algToken = base.params.get('algorithm');
  const algorithm = lookupAlgorithm(algToken);
  if (algorithm === undefined) throw new DigestError('ERR_DIGEST_UNSUPPORTED_ALGORITHM', `unsupported algorithm ${algToken}`);
  // the same qop choice as digest-client.ts: auth when offered, auth-int when alone, none when absent
  const options = splitQopOptions(base.params.get('qop'));
  let qop: DigestQop | undefined;
  if (options.length > 0) {
    if (options.includes('auth')) qop = 'auth';
    else if (options.includes('auth-int')) qop = 'auth-int';
    else throw new DigestError('ERR_DIGEST_UNSUPPORTED_QOP', 'the challenge offers no qop we implement');
  }
  const opaque = base.params.get('opaque');
  p = {
    algorithm,
    qop,
    realm,
    realmPart: `, realm=${quoteString('realm', realm)}`,
    algorithmPart: algToken === undefined ? '' : `, algorithm=${algorithm.name}`,
    opaquePart: opaque === undefined ? '' : `, opaque=${quoteString('opaque', opaque)}`,
    qopPart: qop === undefined ? '' : `, qop=${qop}`,
    needsCnonce: qop !== undefined || algorithm.sess,
  };
  prepared.set(base, p);
  return p;
}

const POOL_REQUESTS = 1024;
let pool = randomBytes(12 * POOL_REQUESTS);
let poolAt = 0;

/** 24 hex digits of fresh randomness (96 bits, as digest-client's randomBytes(12)). */
function nextCnonce(): string {
  if (poolAt >= pool.length) {
    pool = randomBytes(12 * POOL_REQUESTS);
    poolAt = 0;
  }
  const s = pool.toString('hex', poolAt, poolAt + 12);
  poolAt += 12;
  return s;
}

/**
 * `Digest username="…", realm="…", nonce="…", uri="…", response="…", algorithm=…, cnonce="…",
 * opaque="…", qop=auth, nc=…` for a REGISTER (no body: qop=auth-int hashes the empty body).
 */
export function fastAuthorization(
  base: AuthChallenge,
  nonce: string,
  req: { method: string; uri: string; username: string; password: string; nc: number; cnonce?: string },
): string {
  const p = prepare(base);
  const ha1 = computeHa1(p.algorithm, req.username, p.realm, req.password);
  const cnonce = p.needsCnonce ? (req.cnonce ?? nextCnonce()) : undefined;
  const nc = p.qop !== undefined ? formatNc(req.nc) : undefined;
  const response = computeResponse({ algorithm: p.algorithm, ha1, nonce, cnonce, nc, qop: p.qop, method: req.method, uri: req.uri, body: p.qop === 'auth-int' ? '' : undefined });
  let out = `Digest username=${quoteString('username', req.username)}${p.realmPart}, nonce=${quoteString('nonce', nonce)}, uri=${quoteString('uri', req.uri)}, response="${response}"${p.algorithmPart}`;
  if (cnonce !== undefined) out += `, cnonce="${cnonce}"`;
  out += p.opaquePart + p.qopPart;
  if (nc !== undefined) out += `, nc=${nc}`;
  return out;
}
