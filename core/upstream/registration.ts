/**
 * One account's registration at its provider, as pure logic: inputs are the account, responses,
 * timeouts and the time; outputs are the REGISTER to send next (`nextRequest`) and a `Decision`
 * (send again now, or at time T, or stop). The engine (engine.ts) owns timers, pacing, sockets
 * and the database; this file owns RFC 3261 §10.2 and the retry policy.
 *
 * Exchange: one or more REGISTERs until a final verdict (a 2xx, or a failure). Inside one
 * exchange a 401/407 is answered once with credentials for the fresh nonce, a 423 is retried
 * with the Min-Expires asked for, a stale nonce (RFC 2617 §3.2.1 stale=true) is answered without
 * counting as a failure. Between exchanges the last challenge is kept and credentials are sent
 * preemptively with nc+1 (RFC 2617 §3.2.2 nonce reuse), which halves the REGISTERs per refresh
 * when the registrar allows it.
 */
import { randomBytes } from 'node:crypto';
import type { AuthChallenge } from '../sip/types.js';
import { backoffDelay, retryAfterDelay, type BackoffConfig, type Random } from './backoff.js';
import { contactUserFor } from './contact.js';
import { fastAuthorization } from './digest-fast.js';
import type { HeapItem } from './due-heap.js';
import type { Authorizer, RegisterResponse, RegisterSpec, RegistrationRecord, RegistrationState, UpstreamAccount } from './types.js';

export interface RegistrationPolicy {
  /** seconds asked for when the account does not say (default 3600). */
  defaultExpires: number;
  backoff: BackoffConfig;
  /** refresh at a uniformly random point in [refreshMin, refreshMax] of the granted expiry. */
  refreshMin: number;
  refreshMax: number;
  /**
   * seconds to keep free before the binding runs out, when the expiry is long enough: one UDP
   * transaction can take 32 s (Timer F, RFC 3261 §17.1.2.2) before we even know it failed.
   */
  refreshLeadS: number;
  /** CSeq numbers reserved per database write (see `reserveCseq`). */
  cseqBlock: number;
  /** REGISTERs one exchange may use before giving up (auth, stale, 423 retries). */
  maxRequestsPerExchange: number;
}

export const DEFAULT_POLICY: Readonly<Omit<RegistrationPolicy, 'backoff'>> = Object.freeze({
  defaultExpires: 3600,
  refreshMin: 0.5,
  refreshMax: 0.85,
  refreshLeadS: 40,
  cseqBlock: 64,
  maxRequestsPerExchange: 6,
});

export interface MachineContext {
  policy: RegistrationPolicy;
  random: Random;
  authorize: Authorizer;
  /** use digest-fast.ts instead of `authorize` (the engine's default; tests inject their own). */
  fastDigest?: boolean;
  /** picks the challenge to answer among several (strongest supported algorithm), or undefined. */
  pickChallenge: (challenges: readonly AuthChallenge[]) => AuthChallenge | undefined;
}

/** What to do after a response or a timeout. */
export type Decision =
  /** send the next REGISTER of this exchange right away (priority over new exchanges). */
  | { next: 'now' }
  /** start a new exchange at `at` (ms). */
  | { next: 'at'; at: number }
  /** nothing more: an unregistration finished, the engine drops the machine. */
  | { next: 'done' };

/** A fresh Call-ID: 16 random bytes, hex (RFC 3261 §8.1.1.4: globally unique over space and time). */
export function newCallId(): string {
  return randomBytes(16).toString('hex') + '@sipis';
}

/** Delay (ms) from a 2xx granting `granted` seconds to the refresh. */
export function refreshDelay(granted: number, policy: RegistrationPolicy, random: Random): number {
  const g = Math.max(granted, 1);
  let s = g * (policy.refreshMin + (policy.refreshMax - policy.refreshMin) * random());
  // keep room for a failed transaction and a retry before the binding runs out
  if (g - s < policy.refreshLeadS && g > 2 * policy.refreshLeadS) s = g - policy.refreshLeadS;
  return Math.max(Math.round(s * 1000), 500);
}

export class Registration implements HeapItem {
  dueAt = 0;
  heapIndex = -1;

  state: RegistrationState = 'Idle';
  callId: string;
  /** last CSeq used on callId. */
  cseq: number;
  /** every CSeq ≤ this is covered by a database write (or pending one). */
  cseqCeiling: number;
  /** epoch ms the current binding runs out; 0 when none. */
  registeredUntil = 0;
  /** the expiry the registrar granted last (s). */
  granted = 0;
  /** learned from 423 Min-Expires; asked for from then on. */
  minExpires = 0;
  lastStatus: number | null = null;
  lastReason: string | null = null;

  /** bumped on every account change: responses to older requests are ignored. */
  generation = 0;
  inFlight = false;
  /** true while the current exchange removes our binding (disable, delete, registrar move). */
  unregistering = false;
  /** set when the engine should drop the machine after the unregistration. */
  removeWhenDone = false;
  /** has unsaved changes for the state writer. */
  dirty = false;
  /** false for machines whose row must not be written (deleted account, detached unREGISTER). */
  persist = true;
  /** the next exchange the engine starts removes our binding. */
  wantUnregister = false;
  /** the running exchange goes through the token bucket (not a refresh of a live binding). */
  paced = true;

  /** consecutive failed exchanges (transient), for the exponential backoff. */
  failures = 0;
  /** epoch ms of the first failure since the last success; 0 when not failing. */
  failingSince = 0;
  /**
   * epoch ms the next exchange after a failure may start (backoff, Retry-After); 0 when none is
   * waiting. Kept apart from `dueAt`, which may be earlier: the end of a binding whose refresh
   * failed is a wake-up of its own (`wakeFor`), and it is what the row's retry_at says.
   */
  retryAt = 0;
  private challenge: KeptChallenge | undefined;
  private challengeIsProxy = false;
  private nc = 0;
  /** requests sent in the current exchange. */
  private exchangeRequests = 0;
  /** requests in this exchange whose credentials answered a challenge received in this exchange. */
  private freshAuthSent = 0;
  private lastSentFresh = false;
  /** expires the current exchange asks for (raised by 423). */
  private asking = 0;

  constructor(
    public account: UpstreamAccount,
    record?: Pick<RegistrationRecord, 'callId' | 'cseq' | 'state' | 'expiresAt'> & Partial<RegistrationRecord>,
    policy?: Pick<RegistrationPolicy, 'cseqBlock'>,
  ) {
    if (record) {
      this.callId = record.callId;
      // Resume one block above the stored ceiling: a block reserved just before a crash may not
      // have reached the database, and a CSeq must never be reused on a Call-ID (RFC 3261 §10.2.4).
      this.cseq = record.cseq + (policy?.cseqBlock ?? DEFAULT_POLICY.cseqBlock);
      this.cseqCeiling = this.cseq;
      this.dirty = true;
      if (record.state === 'Registered' && record.expiresAt) this.registeredUntil = record.expiresAt;
      this.state = record.state === 'Registered' ? 'Registered' : record.state === 'Registering' ? 'Idle' : record.state;
      this.restoreFailures(record);
    } else {
      this.callId = newCallId();
      this.cseq = 0;
      this.cseqCeiling = 0;
      this.dirty = true;
    }
  }

  /**
   * A restart continues a failing account where it was: the backoff goes on from the stored
   * failure count, and a stored retry time (long backoff after 401/403/404, a Retry-After) is
   * kept, so a crash loop does not send every misconfigured account to the provider again.
   */
  private restoreFailures(record: Partial<RegistrationRecord>): void {
    this.lastStatus = record.lastStatus ?? null;
    this.lastReason = record.lastReason ?? null;
    const failures = record.failures ?? 0;
    if (!(Number.isInteger(failures) && failures > 0)) return;
    this.failures = failures;
    this.failingSince = record.failingSince ?? 0;
    this.retryAt = record.retryAt ?? 0;
  }

  /**
   * When to wake for an exchange due at `at`: at the end of the binding first when it runs out
   * before, so that the account stops being reported Registered then (`expireBinding`).
   */
  wakeFor(at: number, now: number): number {
    return this.state === 'Registered' && this.registeredUntil > now && this.registeredUntil < at ? this.registeredUntil : at;
  }

  /**
   * The due time came while the retry is still ahead: it was the end of the binding (see
   * `wakeFor`). The account has no binding any more and its refreshes fail: Error. True when
   * nothing is to be sent yet; the engine waits for `retryAt` then.
   */
  expireBinding(now: number): boolean {
    if (this.retryAt <= now) return false;
    if (this.registeredUntil <= now && this.state === 'Registered') {
      this.registeredUntil = 0;
      this.setState('Error');
    }
    return true;
  }

  /** Expires to ask for on the next registering REGISTER. */
  wantedExpires(policy: RegistrationPolicy): number {
    const e = this.account.expires && this.account.expires > 0 ? this.account.expires : policy.defaultExpires;
    return Math.max(e, this.minExpires);
  }

  /** Is a binding of ours possibly present at the registrar (so an unREGISTER is worth sending)? */
  mayHaveBinding(now: number): boolean {
    return this.inFlight || this.registeredUntil > now;
  }

  /** Marks the start of a new exchange (a refresh, a first registration, an unregistration). */
  beginExchange(unregister: boolean): void {
    this.unregistering = unregister;
    this.retryAt = 0;
    this.exchangeRequests = 0;
    this.freshAuthSent = 0;
    this.asking = 0;
  }

  /** Builds the next REGISTER of the current exchange; bumps the CSeq (RFC 3261 §10.2.4). */
  nextRequest(ctx: MachineContext): RegisterSpec {
    const a = this.account;
    if (this.asking === 0) this.asking = this.wantedExpires(ctx.policy);
    this.cseq += 1;
    if (this.cseq > this.cseqCeiling) {
      this.cseqCeiling = this.cseq + ctx.policy.cseqBlock - 1;
      this.dirty = true;
    }
    this.exchangeRequests += 1;
    this.inFlight = true;
    if (!this.unregistering && this.state !== 'Registered' && this.state !== 'Registering') {
      this.state = 'Registering';
      this.dirty = true;
    }
    const spec: RegisterSpec = {
      accountId: a.id,
      requestUri: a.registrar,
      aor: a.aor,
      callId: this.callId,
      cseq: this.cseq,
      contactUser: contactUserFor(a.id),
      expires: this.unregistering ? 0 : this.asking,
      generation: this.generation,
    };
    if (a.outboundProxy) spec.outboundProxy = a.outboundProxy;
    if (a.transport && a.transport !== 'udp') spec.transport = a.transport;
    this.lastSentFresh = false;
    if (this.challenge) {
      this.nc += 1;
      const k = this.challenge;
      const req = { method: 'REGISTER', uri: a.registrar, username: a.authUser, password: a.password, nc: this.nc };
      spec.authorization = {
        header: this.challengeIsProxy ? 'Proxy-Authorization' : 'Authorization',
        // the engine's default digest: no per-request challenge Map, prepared provider parts (digest-fast.ts)
        value: ctx.fastDigest ? fastAuthorization(k.base, k.nonce, req) : ctx.authorize(challengeOf(k), req),
      };
      this.lastSentFresh = this.nc === 1;
      if (this.lastSentFresh) this.freshAuthSent += 1;
    }
    return spec;
  }

  /** A final response to the request built by the last `nextRequest`. */
  onResponse(res: RegisterResponse, now: number, ctx: MachineContext): Decision {
    this.inFlight = false;
    this.lastStatus = res.status;
    this.lastReason = res.reason ?? null;
    const s = res.status;
    if (s >= 200 && s < 300) return this.onSuccess(res, now, ctx);
    if (s === 401 || s === 407) return this.onChallenge(res, now, ctx);
    if (s === 423) {
      // RFC 3261 §10.2.8 / §10.3 step 7: retry at once asking for at least Min-Expires.
      const min = res.minExpires;
      if (min !== undefined && min > this.asking && !this.unregistering && this.exchangeRequests < ctx.policy.maxRequestsPerExchange) {
        this.minExpires = min;
        this.asking = min;
        return { next: 'now' };
      }
      return this.transientFailure(res.retryAfter, now, ctx);
    }
    if (s === 403 || s === 404) {
      // The provider says this account may not register here: wrong user, barred, unknown AOR.
      return this.permanentFailure(s === 403 ? 'Unauthorized' : 'Error', now, ctx);
    }
    if ((s >= 300 && s < 400) || s >= 600) {
      // A redirect (not followed: the account names its registrar) or a global failure, which
      // §21.6 calls definitive: the same REGISTER soon would get the same answer
      return this.permanentFailure('Error', now, ctx);
    }
    return this.transientFailure(res.retryAfter, now, ctx);
  }

  /** No final response: Timer F or a transport error (RFC 3261 §8.1.3.1 treats both as failure). */
  onTimeout(reason: string, now: number, ctx: MachineContext): Decision {
    this.inFlight = false;
    this.lastStatus = 0;
    this.lastReason = reason;
    return this.transientFailure(undefined, now, ctx);
  }

  private onSuccess(res: RegisterResponse, now: number, ctx: MachineContext): Decision {
    this.failures = 0;
    this.failingSince = 0;
    this.retryAt = 0;
    if (this.unregistering) return this.finishUnregister(now, ctx);
    // RFC 3261 §10.2.4: the expiry granted is the one in our Contact in the 200, else Expires.
    const user = contactUserFor(this.account.id);
    let granted: number | undefined;
    for (const c of res.contacts) {
      if (c.uri.user === user || c.uri.raw.includes(`:${user}@`)) {
        granted = c.expires ?? res.expires;
        break;
      }
    }
    if (granted === undefined) granted = res.expires ?? this.asking;
    if (granted <= 0) {
      // a 2xx that does not keep our binding: treat like a server failure
      this.lastReason = 'binding not kept';
      return this.transientFailure(undefined, now, ctx);
    }
    this.granted = granted;
    this.registeredUntil = now + granted * 1000;
    this.setState('Registered');
    this.dirty = true; // expiresAt changed
    return { next: 'at', at: now + refreshDelay(granted, ctx.policy, ctx.random) };
  }

  private onChallenge(res: RegisterResponse, now: number, ctx: MachineContext): Decision {
    const chosen = ctx.pickChallenge(res.challenges);
    if (!chosen) {
      this.lastReason = 'no usable challenge';
      return this.permanentFailure('Unauthorized', now, ctx);
    }
    const realm = this.account.realm;
    if (realm && chosen.params.get('realm') !== realm) {
      // RFC 3261 §22.1: credentials are for a realm; do not hand ours to someone else's
      this.challenge = undefined;
      this.lastReason = `challenge for realm ${JSON.stringify(chosen.params.get('realm'))}, expected ${JSON.stringify(realm)}`;
      return this.permanentFailure('Unauthorized', now, ctx);
    }
    const stale = (chosen.params.get('stale') ?? '').toLowerCase() === 'true';
    this.challenge = keepChallenge(chosen);
    this.challengeIsProxy = res.status === 407;
    this.nc = 0;
    if (this.exchangeRequests >= ctx.policy.maxRequestsPerExchange) return this.permanentFailure('Unauthorized', now, ctx);
    // stale=true: our credentials were right, only the nonce aged; answer at no cost (RFC 2617 §3.2.1).
    if (stale) return { next: 'now' };
    // A second rejection of credentials made for a fresh nonce: the password is wrong.
    if (this.freshAuthSent >= 1 && this.lastSentFresh) {
      this.challenge = undefined;
      return this.permanentFailure('Unauthorized', now, ctx);
    }
    return { next: 'now' };
  }

  private finishUnregister(now: number, ctx: MachineContext): Decision {
    this.registeredUntil = 0;
    this.unregistering = false;
    this.setState('Idle');
    if (this.removeWhenDone) return { next: 'done' };
    // a registrar move: register at the new one right away (engine swaps the account first)
    return { next: 'at', at: now };
  }

  private transientFailure(retryAfter: number | undefined, now: number, ctx: MachineContext): Decision {
    if (this.unregistering) return this.finishUnregisterFailed(now);
    this.failures += 1;
    if (!this.failingSince) this.failingSince = now;
    this.dirty = true;
    const delay = retryAfter !== undefined ? retryAfterDelay(retryAfter, ctx.policy.backoff, ctx.random) : backoffDelay(this.failures, ctx.policy.backoff, ctx.random);
    this.retryAt = now + delay;
    // the old binding may still hold: keep saying Registered until it runs out, and no longer
    // (wakeFor: a retry after its end wakes us at the end too)
    this.setState(this.registeredUntil > now ? 'Registered' : 'Error');
    return { next: 'at', at: this.wakeFor(this.retryAt, now) };
  }

  private permanentFailure(state: 'Unauthorized' | 'Error', now: number, ctx: MachineContext): Decision {
    if (this.unregistering) return this.finishUnregisterFailed(now);
    this.failures += 1;
    if (!this.failingSince) this.failingSince = now;
    this.dirty = true;
    this.setState(state);
    this.retryAt = now + backoffDelayLong(ctx);
    return { next: 'at', at: this.retryAt };
  }

  /** One unREGISTER attempt only: the binding expires on its own anyway. */
  private finishUnregisterFailed(now: number): Decision {
    this.unregistering = false;
    this.registeredUntil = 0;
    this.setState('Idle');
    return this.removeWhenDone ? { next: 'done' } : { next: 'at', at: now };
  }

  private setState(s: RegistrationState): void {
    if (this.state !== s) {
      this.state = s;
      this.dirty = true;
    }
  }

  /**
   * Forgets auth state (new password or user, or re-enabled): the next REGISTER starts without
   * credentials, and the failure clock starts over (new settings, new run: the clean-up's 12 h
   * count from a failure of these, not of what came before).
   */
  resetAuth(): void {
    this.challenge = undefined;
    this.nc = 0;
    this.failures = 0;
    this.failingSince = 0;
  }

  /** Starts over with a new Call-ID (new registrar: RFC 3261 §10.2.4 keeps one Call-ID per registrar). */
  newDialogIdentity(): void {
    this.callId = newCallId();
    this.minExpires = 0;
    this.dirty = true;
  }

  toRecord(): RegistrationRecord {
    return {
      accountId: this.account.id,
      state: this.state,
      callId: this.callId,
      cseq: this.cseqCeiling,
      expiresAt: this.registeredUntil > 0 ? this.registeredUntil : null,
      lastStatus: this.lastStatus,
      lastReason: this.lastReason,
      failures: this.failures,
      retryAt: this.failures > 0 && this.retryAt > 0 ? this.retryAt : null,
      failingSince: this.failingSince || null,
    };
  }
}

/** Copies a string so it no longer shares memory with the message it was parsed from. */
const own = (v: string): string => (v.length > 12 ? Buffer.from(v, 'latin1').toString('latin1') : v);

/**
 * The challenge kept for nonce reuse lives as long as its account, a million of them: it is
 * kept as a shared base (realm, opaque, algorithm, qop: the same for every account of a
 * provider, interned) plus the account's own nonce as a flat string (a value sliced from a
 * parsed message would keep the whole message alive). A Map per account would cost ~400 bytes.
 */
export interface KeptChallenge {
  base: AuthChallenge;
  nonce: string;
}

const bases = new Map<string, AuthChallenge>();

export function keepChallenge(ch: AuthChallenge): KeptChallenge {
  const p = ch.params;
  const key = `${ch.scheme}\0${p.get('realm') ?? ''}\0${p.get('opaque') ?? '\u0001'}\0${p.get('algorithm') ?? '\u0001'}\0${p.get('qop') ?? '\u0001'}`;
  let base = bases.get(key);
  if (!base) {
    if (bases.size > 10_000) bases.clear();
    const params = new Map<string, string>();
    for (const name of ['realm', 'opaque', 'algorithm', 'qop']) {
      const v = p.get(name);
      if (v !== undefined) params.set(name, own(v));
    }
    base = { scheme: ch.scheme, params };
    bases.set(key, base);
  }
  return { base, nonce: own(p.get('nonce') ?? '') };
}

/** The challenge to answer, rebuilt from what was kept (one small Map per REGISTER sent). */
export function challengeOf(k: KeptChallenge): AuthChallenge {
  const params = new Map(k.base.params);
  params.set('nonce', k.nonce);
  return { scheme: k.base.scheme, params };
}

function backoffDelayLong(ctx: MachineContext): number {
  const b = ctx.policy.backoff;
  return Math.round(b.authFailureMs * (1 - b.jitter / 2 + b.jitter * ctx.random()));
}
