/**
 * The register-on-behalf engine: every enabled account owned by this shard kept registered at
 * its provider (DESIGN.md flow 2). It owns
 *  - one `Registration` machine per account (registration.ts: the RFC logic),
 *  - one due-time heap for all refresh/retry timers and ONE native timer for the earliest,
 *  - a token bucket every new REGISTER transaction passes through (start-up and provider
 *    recovery go out at `rate`/s; follow-ups inside an exchange — the answer to a 401, the retry
 *    after a 423 — go first, so exchanges already started finish before new ones start),
 *  - the batched state writer (state-writer.ts).
 * Sending is delegated to a `RegistrationSender` (sender.ts over core/transaction).
 */
import type { Logger } from 'pino';
import { pickChallenge as sipPickChallenge, buildAuthorization } from '../sip/digest.js';
import { DEFAULT_BACKOFF, type BackoffConfig, type Random } from './backoff.js';
import { DueHeap } from './due-heap.js';
import { TokenBucket } from './pacer.js';
import { DEFAULT_POLICY, Registration, type Decision, type MachineContext, type RegistrationPolicy } from './registration.js';
import { StateWriter, type SaveRecords } from './state-writer.js';
import { Fifo } from './fifo.js';
import { UpstreamError } from './errors.js';
import { REGISTRATION_STATES, type Authorizer, type RegisterOutcome, type RegisterSpec, type RegistrationRecord, type RegistrationSender, type RegistrationState, type UpstreamAccount } from './types.js';

export interface EngineOptions {
  sender: RegistrationSender;
  /** batched upsert of registration rows (core/store saveRegistrationStates); none = not persisted. */
  save?: SaveRecords;
  /** REGISTER transactions started per second (default 200). */
  rate?: number;
  /** tokens saved up (default rate/10, at least 1). */
  burst?: number;
  /**
   * REGISTER transactions in flight at most (default 1000), whatever the lane. A registrar that
   * slows down then slows us down instead of drowning in retransmissions (RFC 3261 §17.1.2.2
   * retransmits a slow request up to 10 times): the window clocks itself, like sipp's -l.
   */
  maxInFlight?: number;
  policy?: Partial<Omit<RegistrationPolicy, 'backoff'>> & { backoff?: Partial<BackoffConfig> };
  /** does this shard own the account? (core/shard; default: every account). */
  owns?: (accountId: string) => boolean;
  /** state writer: flush interval (default 1000 ms) and batch size (default 1000). */
  flushIntervalMs?: number;
  flushBatch?: number;
  log?: Logger;
  /** 'real' (default): Date.now and one setTimeout. 'manual': time moves only with advance(). */
  clock?: 'real' | 'manual';
  startTime?: number;
  random?: Random;
  authorize?: Authorizer;
}

export interface EngineCounters {
  registersSent: number;
  unregistersSent: number;
  /** final responses by class: 2xx, 401/407 challenges, other failures. */
  responsesOk: number;
  challenges: number;
  failures: number;
  timeouts: number;
  dbErrors: number;
  dbWrites: number;
}

/** Throws ERR_UPSTREAM_BAD_ACCOUNT for an account no REGISTER can be built from. */
export function checkAccount(a: UpstreamAccount): void {
  const bad = (why: string) => new UpstreamError('ERR_UPSTREAM_BAD_ACCOUNT', `account ${JSON.stringify(a?.id)}: ${why}`);
  if (!a || typeof a.id !== 'string' || a.id === '') throw bad('needs an id');
  if (typeof a.aor !== 'string' || !/^sips?:[^@\s]+@[^\s]+$/i.test(a.aor)) throw bad(`AOR must be sip:user@domain, got ${JSON.stringify(a.aor)}`);
  if (typeof a.registrar !== 'string' || !/^sips?:\S+$/i.test(a.registrar)) throw bad(`registrar must be a sip: URI, got ${JSON.stringify(a.registrar)}`);
  if (a.outboundProxy !== undefined && !/^sips?:\S+$/i.test(a.outboundProxy)) throw bad(`outbound proxy must be a sip: URI, got ${JSON.stringify(a.outboundProxy)}`);
  if (a.transport !== undefined && !['udp', 'tcp', 'tls'].includes(a.transport)) throw bad(`transport must be udp, tcp or tls, got ${JSON.stringify(a.transport)}`);
  if (a.expires !== undefined && (!Number.isInteger(a.expires) || a.expires < 0)) throw bad(`expires must be a non-negative integer, got ${a.expires}`);
}

/** granularity (ms) of the engine's one timer for due-heap items (see arm()). */
const TIMER_QUANTUM_MS = 20;

const defaultAuthorize: Authorizer = (challenge, req) => buildAuthorization({ challenge, ...req });

export class UpstreamEngine {
  readonly counters: EngineCounters = { registersSent: 0, unregistersSent: 0, responsesOk: 0, challenges: 0, failures: 0, timeouts: 0, dbErrors: 0, dbWrites: 0 };
  private readonly accounts = new Map<string, Registration>();
  /** machines sending one last unREGISTER for an old registrar, not tracked in `accounts`. */
  private readonly detached = new Set<Registration>();
  private readonly heap = new DueHeap<Registration>();
  /** follow-ups of running exchanges (answers to 401/407, 423 retries), by lane; entries carry the generation they were queued for. */
  private readonly freeFollowUps = new Fifo<{ m: Registration; gen: number }>();
  private readonly pacedFollowUps = new Fifo<{ m: Registration; gen: number }>();
  /** paced exchanges that are due and wait for a token. */
  private readonly ready = new Fifo<{ m: Registration; gen: number }>();
  /** refreshes that are due and wait for a free transaction slot (maxInFlight). */
  private readonly freeReady = new Fifo<{ m: Registration; gen: number }>();
  private readonly maxInFlight: number;
  private readonly bucket: TokenBucket;
  private readonly writer: StateWriter<Registration> | undefined;
  private readonly ctx: MachineContext;
  private readonly owns: (id: string) => boolean;
  private readonly log: Logger | undefined;
  private readonly manual: boolean;
  private manualNow: number;
  private timer: NodeJS.Timeout | null = null;
  private armedAt = Infinity;
  private started = false;
  private stopped = false;
  inFlight = 0;

  constructor(private readonly opts: EngineOptions) {
    this.manual = opts.clock === 'manual';
    this.manualNow = opts.startTime ?? 0;
    const rate = opts.rate ?? 200;
    if (!(rate > 0) || (opts.burst !== undefined && !(opts.burst >= 1)) || (opts.maxInFlight !== undefined && !(opts.maxInFlight >= 1))) {
      throw new UpstreamError('ERR_UPSTREAM_BAD_OPTION', `rate must be > 0, burst and maxInFlight >= 1, got rate ${rate}, burst ${opts.burst}, maxInFlight ${opts.maxInFlight}`);
    }
    this.maxInFlight = opts.maxInFlight ?? 1000;
    this.bucket = new TokenBucket(rate, opts.burst ?? Math.max(1, Math.floor(rate / 10)), this.now());
    const policy: RegistrationPolicy = { ...DEFAULT_POLICY, ...opts.policy, backoff: { ...DEFAULT_BACKOFF, ...opts.policy?.backoff } };
    this.ctx = { policy, random: opts.random ?? Math.random, authorize: opts.authorize ?? defaultAuthorize, fastDigest: opts.authorize === undefined, pickChallenge: sipPickChallenge };
    this.owns = opts.owns ?? (() => true);
    this.log = opts.log;
    if (opts.save) {
      this.writer = new StateWriter<Registration>(opts.save, {
        intervalMs: opts.flushIntervalMs ?? 1000,
        batchSize: opts.flushBatch ?? 1000,
        onError: (err, n) => {
          this.counters.dbErrors++;
          this.log?.warn({ err, records: n }, 'saving registration states failed; kept for retry');
        },
        onWritten: (n) => {
          this.counters.dbWrites += n;
        },
      });
    }
  }

  now(): number {
    return this.manual ? this.manualNow : Date.now();
  }

  get size(): number {
    return this.accounts.size;
  }

  /** exchanges due and waiting for a token or a transaction slot (start-up backlog). */
  get backlog(): number {
    return this.ready.length + this.pacedFollowUps.length + this.freeReady.length + this.freeFollowUps.length;
  }

  get pendingWrites(): number {
    return this.writer?.size ?? 0;
  }

  get(accountId: string): Registration | undefined {
    return this.accounts.get(accountId);
  }

  countByState(): Record<RegistrationState, number> {
    const out = Object.fromEntries(REGISTRATION_STATES.map((s) => [s, 0])) as Record<RegistrationState, number>;
    for (const m of this.accounts.values()) out[m.state]++;
    return out;
  }

  /**
   * Loads the accounts and their stored rows at start-up. An account whose binding is still
   * valid is scheduled for its refresh time instead of being re-registered now, so a restart
   * costs the provider nothing extra; the rest are due now and leave at the paced rate.
   */
  load(accounts: Iterable<UpstreamAccount>, records: ReadonlyMap<string, RegistrationRecord> | ((id: string) => RegistrationRecord | undefined)): void {
    const lookup = typeof records === 'function' ? records : (id: string) => records.get(id);
    const now = this.now();
    for (const a of accounts) {
      try {
        checkAccount(a);
      } catch (err) {
        this.log?.warn({ err }, 'account skipped');
        continue;
      }
      if (!a.enabled || !this.owns(a.id) || this.accounts.has(a.id)) continue;
      const rec = lookup(a.id);
      const m = new Registration(a, rec, this.ctx.policy);
      // a binding that ran out while we were down is not Registered any more
      if (m.state === 'Registered' && m.registeredUntil <= now) {
        m.state = m.failures > 0 ? 'Error' : 'Idle';
        m.registeredUntil = 0;
      }
      this.accounts.set(a.id, m);
      this.markDirty(m);
      this.heap.schedule(m, this.firstDue(m, now));
    }
    this.arm();
  }

  private firstDue(m: Registration, now: number): number {
    if (m.retryAt > now) {
      // a failing account waits for its stored retry time (backoff, Retry-After), bounded in
      // case the row was written by a clock far ahead of ours
      m.retryAt = Math.min(m.retryAt, now + Math.ceil(this.ctx.policy.backoff.retryAfterMaxMs * 1.1));
      return m.wakeFor(m.retryAt, now);
    }
    if (m.registeredUntil <= now) return now;
    const p = this.ctx.policy;
    const expires = m.wantedExpires(p);
    const lead = expires * (1 - (p.refreshMin + (p.refreshMax - p.refreshMin) * this.ctx.random())) * 1000;
    const at = m.registeredUntil - lead;
    if (at > now) return Math.round(at);
    // less left than the usual lead: refresh within the first half of what is left, spread so
    // that a restart does not refresh every nearly-due binding in the same second
    return Math.round(now + (this.ctx.random() * (m.registeredUntil - now)) / 2);
  }

  start(): void {
    this.started = true;
    this.arm();
  }

  /**
   * An account was added or changed (store LISTEN/NOTIFY). A disabled account is unregistered;
   * a new password or auth user re-registers at once; a new registrar or outbound proxy removes
   * the binding at the old registrar first (a detached last unREGISTER) and registers at the new
   * one with a new Call-ID (RFC 3261 §10.2.4: one Call-ID per registrar).
   */
  upsertAccount(a: UpstreamAccount): void {
    if (this.stopped) return;
    checkAccount(a);
    if (!this.owns(a.id)) {
      this.drop(a.id, false);
      return;
    }
    const m = this.accounts.get(a.id);
    if (!a.enabled) {
      if (m) this.removeAccount(a.id, { deleted: false });
      return;
    }
    const now = this.now();
    if (!m) {
      const fresh = new Registration(a, undefined, this.ctx.policy);
      this.accounts.set(a.id, fresh);
      this.markDirty(fresh);
      this.restart(fresh, now, false);
      return;
    }
    if (m.removeWhenDone) {
      // re-enabled while its unREGISTER was pending: register again instead
      m.removeWhenDone = false;
      m.persist = true;
      m.account = a;
      m.resetAuth();
      this.markDirty(m);
      this.restart(m, now, false);
      return;
    }
    const old = m.account;
    // a new transport is a new way to the registrar: the binding made over the old one is removed
    const moved = old.registrar !== a.registrar || old.aor !== a.aor || (old.outboundProxy ?? '') !== (a.outboundProxy ?? '') || (old.transport ?? 'udp') !== (a.transport ?? 'udp');
    const authChanged = old.password !== a.password || old.authUser !== a.authUser || (old.realm ?? '') !== (a.realm ?? '');
    const expiresChanged = (old.expires ?? 0) !== (a.expires ?? 0);
    if (!moved && !authChanged && !expiresChanged) {
      m.account = a;
      return;
    }
    if (moved && m.mayHaveBinding(now)) this.unregisterDetached(m, old, now);
    m.account = a;
    if (authChanged || moved) m.resetAuth();
    if (moved) {
      m.newDialogIdentity();
      m.registeredUntil = 0;
    }
    this.markDirty(m);
    this.restart(m, now, false);
  }

  /** Disable/delete: one unREGISTER when a binding may exist, then the machine is dropped. */
  removeAccount(accountId: string, opts: { deleted: boolean }): void {
    const m = this.accounts.get(accountId);
    if (!m) return;
    const now = this.now();
    if (!m.mayHaveBinding(now)) {
      this.drop(accountId, !opts.deleted);
      return;
    }
    m.removeWhenDone = true;
    if (opts.deleted) {
      this.writer?.forget(m);
      m.persist = false;
    }
    this.restart(m, now, true);
  }

  /** After a LISTEN reconnect ('resync'): the full list of accounts, diffed against memory. */
  syncAccounts(all: Iterable<UpstreamAccount>): void {
    const seen = new Set<string>();
    for (const a of all) {
      seen.add(a.id);
      try {
        if (this.accounts.has(a.id) || (a.enabled && this.owns(a.id))) this.upsertAccount(a);
      } catch (err) {
        this.log?.warn({ err }, 'account skipped in resync');
      }
    }
    for (const id of [...this.accounts.keys()]) if (!seen.has(id)) this.removeAccount(id, { deleted: true });
  }

  private drop(accountId: string, persistIdle: boolean): void {
    const m = this.accounts.get(accountId);
    if (!m) return;
    this.accounts.delete(accountId);
    this.heap.cancel(m);
    m.generation++;
    if (persistIdle && (m.state !== 'Idle' || m.failingSince !== 0 || m.failures !== 0)) this.retire(m);
    else this.writer?.forget(m);
  }

  private unregisterDetached(m: Registration, old: UpstreamAccount, now: number): void {
    const d = new Registration(old, undefined, this.ctx.policy);
    d.callId = m.callId;
    d.cseq = m.cseq;
    d.cseqCeiling = m.cseqCeiling;
    d.registeredUntil = m.registeredUntil;
    d.removeWhenDone = true;
    d.persist = false;
    d.wantUnregister = true;
    this.detached.add(d);
    this.heap.schedule(d, now);
    this.arm();
  }

  /** Drops whatever the machine was doing and starts a new exchange now (paced). */
  private restart(m: Registration, now: number, unregister: boolean): void {
    m.generation++;
    m.inFlight = false;
    // a change is acted on now, whatever retry was waiting (it was for the old settings)
    m.retryAt = 0;
    m.wantUnregister = unregister;
    this.heap.schedule(m, now);
    this.arm();
  }

  private markDirty(m: Registration): void {
    if (this.writer && m.persist) this.writer.mark(m);
    else m.dirty = false;
  }

  /** Manual clock only: moves time forward and runs what became due. */
  advance(ms: number): void {
    if (!this.manual) throw new Error('advance() needs clock: manual');
    this.manualNow += ms;
    this.pump();
  }

  /**
   * Starts what is due. Two lanes:
   *  - refreshes of live bindings (and their follow-ups) go out at their own time, unpaced:
   *    their times are already spread over the expiry window (random 50–85 %), and holding them
   *    back behind a start-up queue would let bindings expire;
   *  - everything else (first registrations, re-registrations after a change or an expired
   *    binding, retries after failures, unREGISTERs) takes one token per REGISTER from the
   *    bucket, answers to challenges first so started exchanges finish before new ones begin.
   */
  pump(): void {
    if (this.stopped || !this.started) return;
    const now = this.now();
    // unpaced follow-ups, then refreshes that waited for a free transaction slot
    for (const q of [this.freeFollowUps, this.freeReady]) {
      for (let e = this.peekLive(q); e && this.inFlight < this.maxInFlight; e = this.peekLive(q)) {
        q.shift();
        this.send(e.m);
      }
    }
    // due heap entries: refreshes go now (slots permitting), the rest wait for tokens in order
    for (let m = this.heap.popDue(now); m; m = this.heap.popDue(now)) {
      if (m.expireBinding(now)) {
        // the end of a binding whose refresh failed, before the retry: report it, wait on
        if (m.dirty) this.markDirty(m);
        this.heap.schedule(m, m.retryAt);
        continue;
      }
      m.beginExchange(m.wantUnregister);
      m.paced = !(m.state === 'Registered' && m.registeredUntil > now && !m.wantUnregister);
      if (m.paced) this.ready.push({ m, gen: m.generation });
      else if (this.inFlight < this.maxInFlight && this.freeReady.length === 0) this.send(m);
      else this.freeReady.push({ m, gen: m.generation });
    }
    // paced follow-ups, then paced new exchanges, while tokens and slots last
    for (const q of [this.pacedFollowUps, this.ready]) {
      for (;;) {
        const e = this.peekLive(q);
        if (!e || this.inFlight >= this.maxInFlight || !this.bucket.tryTake(now)) break;
        q.shift();
        this.send(e.m);
      }
    }
    this.arm();
  }

  private live(e: { m: Registration; gen: number }): boolean {
    return e.gen === e.m.generation && !e.m.inFlight && (this.accounts.get(e.m.account.id) === e.m || this.detached.has(e.m));
  }

  /** First live entry of a queue (stale ones, for accounts changed since, are dropped). */
  private peekLive(q: Fifo<{ m: Registration; gen: number }>): { m: Registration; gen: number } | undefined {
    for (let e = q.peek(); e; e = q.peek()) {
      if (this.live(e)) return e;
      q.shift();
    }
    return undefined;
  }

  private *drain(q: Fifo<{ m: Registration; gen: number }>): Generator<{ m: Registration; gen: number }> {
    for (let e = q.shift(); e; e = q.shift()) if (this.live(e)) yield e;
  }

  private send(m: Registration): void {
    let spec: RegisterSpec;
    try {
      spec = m.nextRequest(this.ctx);
    } catch (err) {
      // e.g. a challenge the digest code cannot answer after all: one account's failure, never
      // the engine's (this runs inside the timer that serves every account)
      this.log?.warn({ err, account: m.account.id }, 'cannot build REGISTER');
      m.inFlight = true;
      this.inFlight++;
      const gen = m.generation;
      queueMicrotask(() => this.onOutcome(m, { generation: gen } as RegisterSpec, { kind: 'timeout', reason: `cannot build REGISTER: ${(err as Error)?.message ?? String(err)}` }));
      return;
    }
    if (spec.expires === 0) this.counters.unregistersSent++;
    else this.counters.registersSent++;
    if (m.dirty) this.markDirty(m);
    this.inFlight++;
    this.opts.sender.send(spec).then(
      (outcome) => this.onOutcome(m, spec, outcome),
      (err: unknown) => this.onOutcome(m, spec, { kind: 'timeout', reason: `send failed: ${(err as Error)?.message ?? String(err)}` }),
    );
  }

  private onOutcome(m: Registration, spec: RegisterSpec, outcome: RegisterOutcome): void {
    this.inFlight--;
    if (this.stopped) return;
    // a slot freed: let a waiting exchange have it
    if (this.inFlight === this.maxInFlight - 1 && (this.freeReady.length || this.ready.length || this.pacedFollowUps.length || this.freeFollowUps.length)) this.arm(true);
    if (spec.generation !== m.generation || !m.inFlight) return; // superseded by an account change
    const now = this.now();
    const before = m.state;
    let d: Decision;
    if (outcome.kind === 'response') {
      const s = outcome.response.status;
      if (s >= 200 && s < 300) this.counters.responsesOk++;
      else if (s === 401 || s === 407) this.counters.challenges++;
      else this.counters.failures++;
      d = m.onResponse(outcome.response, now, this.ctx);
    } else {
      this.counters.timeouts++;
      d = m.onTimeout(outcome.reason, now, this.ctx);
    }
    if (m.state !== before && this.log) {
      const level = m.state === 'Unauthorized' || m.state === 'Error' ? 'info' : 'debug';
      this.log[level]({ account: m.account.id, from: before, to: m.state, status: m.lastStatus, reason: m.lastReason }, 'registration state');
    }
    if (m.dirty) this.markDirty(m);
    this.apply(m, d);
  }

  private apply(m: Registration, d: Decision): void {
    switch (d.next) {
      case 'now':
        (m.paced ? this.pacedFollowUps : this.freeFollowUps).push({ m, gen: m.generation });
        this.arm(true);
        return;
      case 'at':
        m.wantUnregister = false;
        this.heap.schedule(m, d.at);
        this.arm();
        return;
      case 'done':
        if (this.detached.delete(m)) return;
        if (this.accounts.get(m.account.id) === m) {
          this.accounts.delete(m.account.id);
          this.heap.cancel(m);
        }
        if (m.persist) this.retire(m);
        return;
    }
  }

  /**
   * The last row of an account this engine lets go of while it stays (disabled): Idle, and no
   * failure clock. A disabled account is failing no more, and a row written late must not bring
   * back a failing_since that a re-enable has cleared (the clean-up would switch it off again).
   */
  private retire(m: Registration): void {
    m.state = 'Idle';
    m.registeredUntil = 0;
    m.failingSince = 0;
    m.failures = 0;
    m.retryAt = 0;
    this.markDirty(m);
  }

  /** Keeps exactly one native timer, set for the earliest thing that can happen. */
  private arm(immediate = false): void {
    if (this.manual || this.stopped || !this.started) return;
    const now = this.now();
    let at = Infinity;
    const slot = this.inFlight < this.maxInFlight;
    if (slot && (this.freeFollowUps.length || this.freeReady.length)) at = now;
    else if (slot && (immediate || this.pacedFollowUps.length || this.ready.length)) at = now + this.bucket.waitMs(now);
    const top = this.heap.peek();
    if (top) {
      // Refresh and retry times are spread at random over the expiry window (~400 distinct
      // milliseconds a second for a million accounts): firing the timer at the next multiple of
      // TIMER_QUANTUM_MS instead of each exact millisecond wakes the process ~50 times a second
      // and sends the due REGISTERs in small batches. A refresh is at most that much late.
      const t = Math.max(Math.ceil(top.dueAt / TIMER_QUANTUM_MS) * TIMER_QUANTUM_MS, now);
      if (t < at) at = t;
    }
    if (at === Infinity) return;
    if (this.timer && this.armedAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = at;
    // setTimeout holds at most 2^31−1 ms; a later timer simply re-arms on firing
    this.timer = setTimeout(() => {
      this.timer = null;
      this.armedAt = Infinity;
      this.pump();
    }, Math.min(Math.max(at - now, 0), 0x7fffffff));
  }

  /**
   * SIGTERM: unregister nothing (the bindings stay valid at the providers and are refreshed by
   * the next start), stop the timer, write the pending states.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writer) {
      this.writer.stop();
      await this.writer.flush();
    }
  }

  /** Writes pending states now (tests, shutdown). */
  async flush(): Promise<void> {
    await this.writer?.flush();
  }
}
