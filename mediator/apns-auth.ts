/**
 * APNs credentials. Token auth: an ES256 JWT `{alg, kid}{iss: teamId, iat}` signed with the
 * team's .p8 key. Apple refuses tokens older than one hour (ExpiredProviderToken) and ones
 * regenerated more often than every 20 minutes (TooManyProviderTokenUpdates), so the token is
 * cached and refreshed inside that window. Certificate auth: a PKCS#12 (.p12) bundle read with
 * node-forge into the PEM key and certificate node:tls wants.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { MediatorError } from './errors.js';
import { signJwt } from './jwt.js';

/** Refresh after 40 minutes: inside Apple's 20–60 minute window with margin both ways. */
export const PROVIDER_TOKEN_REFRESH_MS = 40 * 60_000;
/**
 * Apple refuses token updates more often than this (429 TooManyProviderTokenUpdates), so no
 * token is replaced younger, not even after an ExpiredProviderToken answer.
 */
export const PROVIDER_TOKEN_MIN_AGE_MS = 20 * 60_000;

export class ProviderTokenSigner {
  private token = '';
  private minted = 0;
  constructor(
    readonly teamId: string,
    readonly keyId: string,
    private readonly key: KeyObject,
    private readonly now: () => number = Date.now,
    private readonly onMint?: () => void,
  ) {
    if (key.asymmetricKeyType !== 'ec') {
      throw new MediatorError('ERR_MEDIATOR_CREDENTIALS', `APNs key ${keyId} is not an EC (P-256) key`);
    }
  }

  /** When the current token was minted (epoch ms on the signer's clock; 0 before the first). */
  get issuedAt(): number {
    return this.minted;
  }

  /** The current `authorization` header value; minted on first use and every 40 minutes. */
  header(now = this.now()): string {
    if (!this.token || now - this.minted >= PROVIDER_TOKEN_REFRESH_MS) this.mint(now);
    return this.token;
  }

  /**
   * Called after APNs said ExpiredProviderToken for `used`. Returns 0 when a token other than
   * `used` is ready (another request already replaced it: many in-flight requests get the same
   * answer at once), after minting one if `used` is at least 20 minutes old. A younger token is
   * kept and the answer is the time until it may be replaced: APNs calling a token expired that
   * it should accept for the hour points at a wrong clock, which a new token would not fix, and
   * replacing it would earn TooManyProviderTokenUpdates for every push instead.
   * InvalidProviderToken is not handled here: a new signature with the same key would not help.
   */
  refresh(used: string): number {
    if (used !== this.token) return 0;
    const now = this.now();
    // A clock stepped back leaves the token at most one floor to wait, never more.
    const wait = Math.min(this.minted + PROVIDER_TOKEN_MIN_AGE_MS - now, PROVIDER_TOKEN_MIN_AGE_MS);
    if (wait > 0) return wait;
    this.mint(now);
    return 0;
  }

  private mint(now: number): void {
    const jwt = signJwt('ES256', { kid: this.keyId }, { iss: this.teamId, iat: Math.floor(now / 1000) }, this.key);
    this.token = `bearer ${jwt}`;
    this.minted = now;
    this.onMint?.();
  }
}

/**
 * One signer per APNs key (team id, key id and the key itself), shared by every app that signs
 * with it and kept across registry reloads (SIGHUP): a provider token serves every topic of the
 * team, and a token of its own per app, or a new one per reload, would update the team's token
 * more often than the 20 minutes Apple allows.
 */
export class ProviderTokenSigners {
  readonly #byKey = new Map<string, ProviderTokenSigner>();

  get(teamId: string, keyId: string, key: KeyObject, onMint?: () => void): ProviderTokenSigner {
    const der = key.export({ format: 'der', type: 'pkcs8' });
    const id = `${teamId}\0${keyId}\0${createHash('sha256').update(der).digest('hex')}`;
    let signer = this.#byKey.get(id);
    if (!signer) this.#byKey.set(id, (signer = new ProviderTokenSigner(teamId, keyId, key, Date.now, onMint)));
    return signer;
  }
}

export function loadP8Key(pem: string | Buffer, field: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ec') throw new Error(`key type is ${key.asymmetricKeyType}, not ec`);
    return key;
  } catch (err) {
    throw new MediatorError('ERR_MEDIATOR_CREDENTIALS', `${field}: not a usable APNs .p8 key (${(err as Error).message})`, { cause: err, field });
  }
}

export interface CertificateCredentials {
  certPem: string;
  keyPem: string;
  /** The certificate's subject CN, e.g. "Apple VoIP Services: com.example.app" (for logs). */
  subject: string;
}

/** Reads a .p12 bundle (DER) with its passphrase; errors name `field` and never the passphrase. */
export function loadP12(der: Buffer, passphrase: string, field: string): CertificateCredentials {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, passphrase);
  } catch (err) {
    throw new MediatorError('ERR_MEDIATOR_CREDENTIALS', `${field}: cannot open PKCS#12 (wrong passphrase or not a .p12 file)`, { cause: err, field });
  }
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? [];
  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag] ?? []),
  ];
  const cert = certBags.find((b) => b.cert)?.cert;
  const key = keyBags.find((b) => b.key)?.key;
  if (!cert) throw new MediatorError('ERR_MEDIATOR_CREDENTIALS', `${field}: PKCS#12 holds no certificate`, { field });
  if (!key) throw new MediatorError('ERR_MEDIATOR_CREDENTIALS', `${field}: PKCS#12 holds no private key`, { field });
  const cn = cert.subject.getField('CN') as { value?: string } | null;
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(key as forge.pki.rsa.PrivateKey),
    subject: cn?.value ?? '',
  };
}
