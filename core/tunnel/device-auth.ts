/**
 * Digest for the phones' own requests (RFC 3261 §22.3: 407 with Proxy-Authenticate, then
 * Proxy-Authorization), before sipis places them at the provider with the account's credentials.
 *
 * sipis recognises a device's request by the flow of its binding. Through sipis-bridge that flow
 * is a connection the phone opened (TCP, TLS, WebSocket; RFC 5626 §5.2) and authenticated with
 * its REGISTER, and the bridge names it in X-Sipis-Flow, which only a trusted bridge may send.
 * Over plain UDP the flow is a source address, which anyone can forge: without a challenge, a
 * forged INVITE from a registered phone's address would be placed in the account's name, at the
 * account's expense (toll fraud), and only the answers would go to the real phone.
 *
 * Scope (`devices.requestAuth`): `udp` (default) challenges requests on plain UDP flows, `all`
 * every device request, `none` none (the flow alone is trusted). ACK and CANCEL are never
 * challenged (§22.1: they cannot be resubmitted), nor are requests inside a dialog sipis paired.
 */
import type { AuthGuard } from '../registrar/auth-guard.js';
import { digestFailure } from '../registrar/digest-failure.js';
import { aorUser } from '../registrar/accounts.js';
import { NonceCounts } from '../registrar/nonce-counts.js';
import { DigestServer, type DigestAlgorithm } from '../sip/digest.js';
import type { SipMessage } from '../sip/index.js';
import type { UpstreamAccount } from '../upstream/types.js';

export type DeviceAuthScope = 'udp' | 'all' | 'none';
export const DEVICE_AUTH_SCOPES: readonly DeviceAuthScope[] = ['udp', 'all', 'none'];

export interface DeviceAuthOptions {
  /** the nonce key: the registrar's, so a nonce from a REGISTER's 401 verifies here too. */
  secret: string;
  /** the realm: the sipis domain, as for REGISTER. */
  realm: string;
  /** challenges offered, one Proxy-Authenticate each, in this order (RFC 8760 §2.4). */
  algorithms: readonly DigestAlgorithm[];
  scope: DeviceAuthScope;
  nonceTtlSeconds?: number;
  /** password guessing: the registrar's guard, so REGISTERs and requests count together. */
  guard?: AuthGuard;
}

/** Why a request was not accepted: 407 to challenge (again), 403 for wrong credentials, 400 for broken ones. */
export interface AuthRefusal {
  status: 400 | 403 | 407;
  reason?: string;
  headers: Array<[string, string]>;
  /** for the log and the counters: never the credentials themselves. */
  why: 'no-credentials' | 'stale' | 'bad-nonce' | 'replayed' | 'wrong-user' | 'wrong-password' | 'malformed' | 'blocked';
  /** this failure started a block of the address (log it once). */
  blockStarted?: boolean;
}

export class DeviceAuth {
  readonly scope: DeviceAuthScope;
  private readonly digest: DigestServer;
  /** replayed answers (core/registrar/nonce-counts.ts): a captured INVITE sent again. */
  private readonly nonces: NonceCounts;

  constructor(private readonly opts: DeviceAuthOptions) {
    this.scope = opts.scope;
    this.digest = new DigestServer({ secret: opts.secret, ...(opts.nonceTtlSeconds !== undefined ? { nonceTtlSeconds: opts.nonceTtlSeconds } : {}) });
    this.nonces = new NonceCounts(this.digest.nonceTtlMs);
  }

  /** Must a request on this flow prove the account's password? */
  applies(viaBridge: boolean): boolean {
    return this.scope === 'all' || (this.scope === 'udp' && !viaBridge);
  }

  /**
   * undefined when `req` carries valid Proxy-Authorization for `account` (its auth user or AOR
   * user as the username, its password), else the answer to send. `ip`: the device's address
   * (the guard's key).
   */
  check(req: SipMessage, account: UpstreamAccount, now: number, ip: string): AuthRefusal | undefined {
    const guard = this.opts.guard;
    if (guard?.blocked(ip, now)) return { status: 403, reason: 'Too Many Failed Attempts', headers: [], why: 'blocked' };
    const r = this.verify(req, account, now);
    if (!guard) return r;
    if (r === undefined) guard.succeeded(ip);
    else if (r.why === 'wrong-password' || r.why === 'wrong-user') r.blockStarted = guard.failed(ip, now);
    return r;
  }

  private verify(req: SipMessage, account: UpstreamAccount, now: number): AuthRefusal | undefined {
    const realm = this.opts.realm;
    const creds = req.proxyAuthorization.find((c) => c.params.get('realm') === realm);
    if (!creds) return this.challenge(false, now, 'no-credentials');
    const username = creds.params.get('username') ?? '';
    const v = this.digest.verifyCredentials({ credentials: creds, method: req.method, realm, password: account.password, now, requestUri: req.uri });
    if (v.ok) {
      // the password proves the account only under one of its names (§22.4)
      if (username !== account.authUser && username !== aorUser(account.aor)) return { status: 403, headers: [], why: 'wrong-user' };
      // the same nonce count again is a replay: a new nonce (an honest client just retries)
      return this.nonces.fresh(username, creds.params.get('nonce') ?? '', v.nc, v.nonceIssuedAt, now) ? undefined : this.challenge(true, now, 'replayed');
    }
    const f = digestFailure(v, 'Proxy-Authorization');
    if (f.answer === 'challenge') return this.challenge(f.stale, now, f.stale ? 'stale' : 'bad-nonce');
    // (a wrong answer on a nonce we did not mint is a challenge above, not a 403)
    if (f.answer === 'forbidden') return { status: 403, headers: [], why: 'wrong-password' };
    return { status: 400, reason: f.reason, headers: [], why: 'malformed' };
  }

  private challenge(stale: boolean, now: number, why: AuthRefusal['why']): AuthRefusal {
    const headers: Array<[string, string]> = this.opts.algorithms.map((algorithm) => ['Proxy-Authenticate', this.digest.buildChallenge({ realm: this.opts.realm, algorithm, stale, now })]);
    return { status: 407, headers, why };
  }
}
