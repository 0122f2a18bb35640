/**
 * Client side of SIP Digest (RFC 3261 §22.2–§22.4, RFC 7616 §3.4, RFC 8760): choose a
 * challenge, compute the response, write the Authorization / Proxy-Authorization value, and
 * keep the nonce count per realm so a nonce can be reused for the next request (RFC 7616
 * §3.4: nc counts the requests sent with one nonce, starting at 00000001).
 */
import { randomBytes } from 'node:crypto';
import type { AuthChallenge, AuthCredentials } from './types.js';
import { computeHa1, computeResponse, formatNc, lookupAlgorithm, type DigestQop } from './digest-algorithms.js';
import { DigestError, formatDigest, splitQopOptions } from './digest-params.js';

export interface AuthorizationInput {
  /** the WWW-Authenticate / Proxy-Authenticate being answered. */
  challenge: AuthChallenge;
  method: string;
  /** digest-uri: the Request-URI exactly as it will be sent (RFC 3261 §22.4). */
  uri: string;
  username: string;
  /** the plaintext password, or instead `ha1` = H(username:realm:password) for the challenge's algorithm. */
  password?: string;
  ha1?: string;
  /** nonce count for this nonce, 1 for its first use. */
  nc: number;
  /** client nonce; random when absent. Only sent with qop or a -sess algorithm. */
  cnonce?: string;
  /** message body, hashed only for qop=auth-int. */
  body?: string | Uint8Array;
}

function isDigest(ch: AuthChallenge): boolean {
  return ch.scheme.toLowerCase() === 'digest';
}

/**
 * The qop we answer with: `auth` when offered (cheapest, and all SIP servers offer it),
 * `auth-int` only when it is the sole option, none when the challenge has no qop
 * (RFC 2069 compatibility, RFC 2617 §3.2.2). Undefined in the tuple = unusable challenge.
 */
function chooseQop(ch: AuthChallenge): [usable: boolean, qop: DigestQop | undefined] {
  const options = splitQopOptions(ch.params.get('qop'));
  if (options.length === 0) return [true, undefined];
  if (options.includes('auth')) return [true, 'auth'];
  if (options.includes('auth-int')) return [true, 'auth-int'];
  return [false, undefined];
}

/**
 * Of several challenges (one 401 may carry a WWW-Authenticate per algorithm, RFC 8760 §2.4),
 * the Digest one with the strongest algorithm we implement and a qop we can answer. RFC 7616
 * §3.7 lets the client pick; we prefer strength over the server's order, ties keep that order.
 */
export function pickChallenge(challenges: readonly AuthChallenge[]): AuthChallenge | undefined {
  let best: AuthChallenge | undefined;
  let bestStrength = 0;
  for (const ch of challenges) {
    if (!isDigest(ch)) continue;
    const alg = lookupAlgorithm(ch.params.get('algorithm'));
    if (alg === undefined || !chooseQop(ch)[0]) continue;
    if (!ch.params.has('realm') || !ch.params.has('nonce')) continue;
    if (alg.strength > bestStrength) {
      best = ch;
      bestStrength = alg.strength;
    }
  }
  return best;
}

/** The credentials as a parameter map (values unquoted), the same shape the parser yields. */
export function createCredentials(input: AuthorizationInput): AuthCredentials {
  const ch = input.challenge;
  if (!isDigest(ch)) throw new DigestError('ERR_DIGEST_UNSUPPORTED_SCHEME', `cannot answer a ${ch.scheme} challenge`);
  const realm = ch.params.get('realm');
  const nonce = ch.params.get('nonce');
  if (realm === undefined || nonce === undefined) {
    throw new DigestError('ERR_DIGEST_MISSING_PARAM', 'the challenge lacks realm or nonce');
  }
  const algToken = ch.params.get('algorithm');
  const alg = lookupAlgorithm(algToken);
  if (alg === undefined) throw new DigestError('ERR_DIGEST_UNSUPPORTED_ALGORITHM', `unsupported algorithm ${algToken}`);
  const [usable, qop] = chooseQop(ch);
  if (!usable) throw new DigestError('ERR_DIGEST_UNSUPPORTED_QOP', 'the challenge offers no qop we implement');

  let ha1 = input.ha1;
  if (ha1 === undefined) {
    if (input.password === undefined) throw new DigestError('ERR_DIGEST_MISSING_PARAM', 'neither password nor ha1 given');
    ha1 = computeHa1(alg, input.username, realm, input.password);
  }
  const needsCnonce = qop !== undefined || alg.sess;
  const cnonce = needsCnonce ? (input.cnonce ?? randomBytes(12).toString('hex')) : undefined;
  const nc = qop !== undefined ? formatNc(input.nc) : undefined;
  const response = computeResponse({
    algorithm: alg,
    ha1,
    nonce,
    cnonce,
    nc,
    qop,
    method: input.method,
    uri: input.uri,
    body: input.body,
  });

  const params = new Map<string, string>();
  const set = (k: string, v: string | undefined): void => {
    if (v !== undefined) params.set(k, v);
  };
  // Order as in RFC 3261 §22.4 / RFC 7616 §3.9.1 examples; several registrars are picky.
  set('username', input.username);
  set('realm', realm);
  set('nonce', nonce);
  set('uri', input.uri);
  set('response', response);
  // Echo the algorithm only when the challenge named one: RFC 2069-era servers choke on it.
  set('algorithm', algToken === undefined ? undefined : alg.name);
  set('cnonce', cnonce);
  set('opaque', ch.params.get('opaque')); // RFC 7616 §3.4: returned unchanged
  set('qop', qop);
  set('nc', nc);
  return { scheme: 'Digest', params };
}

/** The Authorization / Proxy-Authorization header value answering `input.challenge`. */
export function buildAuthorization(input: AuthorizationInput): string {
  return formatCredentials(createCredentials(input));
}

export function formatCredentials(credentials: AuthCredentials): string {
  return formatDigest([...credentials.params], 'credentials');
}

interface RealmEntry {
  challenge: AuthChallenge;
  nonce: string;
  nc: number;
}

export type AuthorizeInput = Omit<AuthorizationInput, 'challenge' | 'nc'> & {
  /** a fresh challenge from a 401/407; omitted to reuse the last nonce of `realm`. */
  challenge?: AuthChallenge;
  realm?: string;
};

/**
 * Remembers the last challenge per realm and counts nc for its nonce, so a client (one per
 * account in the upstream registration engine) can answer the next request pre-emptively
 * with the same nonce and nc+1. A new nonce (including a `stale=true` challenge, RFC 7616
 * §3.3) restarts nc at 1. Bounded: the oldest realm is forgotten past `maxRealms`.
 */
export class DigestClientState {
  readonly #realms = new Map<string, RealmEntry>();
  readonly #maxRealms: number;

  constructor(maxRealms = 16) {
    this.#maxRealms = maxRealms;
  }

  /** Records a challenge; keeps the count when it carries the nonce we already use. */
  update(challenge: AuthChallenge): void {
    const realm = challenge.params.get('realm');
    const nonce = challenge.params.get('nonce');
    if (realm === undefined || nonce === undefined) {
      throw new DigestError('ERR_DIGEST_MISSING_PARAM', 'the challenge lacks realm or nonce');
    }
    const prev = this.#realms.get(realm);
    this.#realms.delete(realm); // re-insert: Map order = recency
    this.#realms.set(realm, { challenge, nonce, nc: prev?.nonce === nonce ? prev.nc : 0 });
    if (this.#realms.size > this.#maxRealms) {
      const oldest = this.#realms.keys().next().value;
      if (oldest !== undefined) this.#realms.delete(oldest);
    }
  }

  /** Increments and returns the nonce count for `realm`'s current nonce (1 on first use). */
  nextNc(realm: string): number | undefined {
    const e = this.#realms.get(realm);
    if (e === undefined) return undefined;
    e.nc += 1;
    return e.nc;
  }

  has(realm: string): boolean {
    return this.#realms.has(realm);
  }

  forget(realm: string): void {
    this.#realms.delete(realm);
  }

  /**
   * Header value for a request: answers `challenge` when given (and remembers it), else reuses
   * the remembered nonce of `realm`. Undefined when nothing is known for that realm.
   */
  authorize(input: AuthorizeInput): string | undefined {
    const { challenge, realm: wanted, ...rest } = input;
    if (challenge !== undefined) this.update(challenge);
    const realm = challenge?.params.get('realm') ?? wanted;
    if (realm === undefined) return undefined;
    const entry = this.#realms.get(realm);
    if (entry === undefined) return undefined;
    entry.nc += 1;
    return buildAuthorization({ ...rest, challenge: entry.challenge, nc: entry.nc });
  }
}
