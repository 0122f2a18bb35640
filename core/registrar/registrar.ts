/**
 * The device-facing registrar (DESIGN.md flow 3): phones REGISTER to sipis, over UDP or through
 * sipis-bridge, authenticate by digest against their account (realm = the sipis domain), and
 * leave one binding per device instance with its flow, Path and push tokens. Bindings live in
 * PostgreSQL and in memory (loaded at start, looked up without a query); one sweep timer
 * expires them.
 *
 * RFC 3261 §10.3 is followed step by step in `process`; the checks that need no state are in
 * plan.ts, the push parameters in pn-params.ts, the flow and Path rules in flow.ts.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DigestAlgorithm } from '../sip/digest.js';
import { DigestServer } from '../sip/digest.js';
import { unsupportedRequire, type AuthCredentials, type SipMessage } from '../sip/index.js';
import { RegistrarBindingStore } from '../store/bindings-registrar.js';
import { isStoreError, type DeviceBinding, type Store } from '../store/index.js';
import type { ServerTransaction } from '../transaction/index.js';
import { StoreAccountDirectory, type AccountDirectory, type DeviceAccount } from './accounts.js';
import { RegistrarError } from './errors.js';
import { AuthGuard } from './auth-guard.js';
import { digestFailure } from './digest-failure.js';
import { NonceCounts } from './nonce-counts.js';
import { BridgeTrust, decideFlow, deviceAddress, encodeStoredFlow, type FlowDecision } from './flow.js';
import { bindingFromStored, byKind } from './stored.js';
import { planRegister, type ContactPlan, type ExpiryPolicy } from './plan.js';
import { featureCaps, redactToken, SUPPORTED_PROVIDERS } from './pn-params.js';
import { SUPPORTED_OPTIONS } from './options.js';
import type { BindingRecord } from './table.js';
import { BindingTable } from './table.js';
import type { Binding, PushTarget, RegisteredInfo, RemovalReason, SourceAddress } from './types.js';

export interface DeviceRegistrarOptions {
  store: Store;
  /** the sipis domain: digest realm. */
  domain: string;
  /** HMAC key(s) of the stateless nonces (≥ 16 bytes each; the same on every shard). */
  digestSecret: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
  nonceTtlSeconds?: number;
  /**
   * Algorithms offered, one challenge each, in this order (RFC 8760 §2.4). Default MD5 first, then
   * SHA-256: many deployed phones (and sipp 3.6) answer only the first challenge and only know MD5,
   * while clients that read the whole list take one they support (ours takes the strongest).
   * Operators whose phones all do SHA-256 set ['SHA-256', 'MD5'].
   */
  algorithms?: readonly DigestAlgorithm[];
  /** sipis-bridge source addresses (`ip` or `ip:port`) whose X-Sipis-Flow is believed. */
  bridges?: readonly string[];
  /**
   * RFC 5626 §5.4/§6: the keep-alive interval (seconds) suggested to outbound phones in a
   * Flow-Timer header; 0 = none (the phone's default, 95-120 s on TCP/TLS, well inside the
   * bridge's idle timeout of 300 s).
   */
  flowTimerS?: number;
  expires?: Partial<ExpiryPolicy>;
  push?: { providers?: readonly string[]; appIds?: Readonly<Record<string, string>> };
  /** live bindings one account may hold (default 32): more is refused with 403, not stored. */
  maxBindingsPerAccount?: number;
  /** where accounts come from; default: the store, cached 30 s. */
  accounts?: AccountDirectory;
  /**
   * Password guessing: failed digests per device address (auth-guard.ts); shared with the
   * tunnel's device-request digest so both count together. Default: its own, 10 in 60 s → 300 s.
   */
  guard?: AuthGuard;
  sweepIntervalMs?: number;
  log?: Logger;
  /** clock (ms), for tests. */
  now?: () => number;
}

/**
 * RFC 5626 §6: outbound processing applies to a REGISTER whose UA supports it, with a Contact
 * that has both +sip.instance and reg-id, received over a flow the edge keeps (the bridge's Path
 * carries `ob`). Then the 2xx says `Require: outbound`, and only then does the phone send its
 * CRLF keep-alives on the flow (§4.4). A REGISTER straight to sipis over UDP does not qualify:
 * sipis answers no STUN keep-alives.
 */
function outboundApplies(req: SipMessage, decision: FlowDecision): boolean {
  return decision.flow.viaBridge && req.supported.includes('outbound') && req.contact.some((c) => c.instance !== undefined && c.params.has('reg-id'));
}

export interface RegistrarCounters {
  registers: number;
  challenges: number;
  /** 403: wrong password, unknown or disabled account, username not the account's. */
  forbidden: number;
  /** answers whose nonce count did not grow (a replay): challenged again with stale=true. */
  replayed: number;
  ok: number;
  rejected: number;
  unsupportedPush: number;
  /** X-Sipis-Flow from a source that is not a bridge: ignored. */
  spoofedFlow: number;
  /** REGISTERs refused (400) for a CSeq not above a binding's last one, same Call-ID (§10.3 steps 6–7). */
  staleCseq: number;
  storeErrors: number;
  expired: number;
  removed: number;
}

/**
 * Did the REGISTER fail because the database is down or busy for now (no connection, a query
 * deadline, a lost race), rather than because it refused what we sent?
 */
function storeUnavailable(err: unknown): boolean {
  const cause = err instanceof RegistrarError && err.code === 'ERR_REGISTRAR_STORE' ? err.cause : err;
  return isStoreError(cause) && cause.retryable;
}

export const DEFAULT_EXPIRY: ExpiryPolicy = { min: 60, max: 7 * 24 * 3600, default: 3600 };

type Listener<A extends unknown[]> = (...args: A) => void;

export class DeviceRegistrar extends EventEmitter {
  readonly counters: RegistrarCounters = {
    registers: 0,
    challenges: 0,
    forbidden: 0,
    ok: 0,
    rejected: 0,
    unsupportedPush: 0,
    spoofedFlow: 0,
    replayed: 0,
    staleCseq: 0,
    storeErrors: 0,
    expired: 0,
    removed: 0,
  };
  private readonly table = new BindingTable();
  private readonly db: RegistrarBindingStore;
  private readonly digest: DigestServer;
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly trust: BridgeTrust;
  private readonly expiry: ExpiryPolicy;
  private readonly push: { providers: readonly string[]; appIds?: Readonly<Record<string, string>> };
  private readonly accounts: AccountDirectory;
  readonly guard: AuthGuard;
  /** replayed answers (nonce-counts.ts). */
  private readonly nonces: NonceCounts;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** REGISTERs of one account run one after another (two refreshes racing on one binding). */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly opts: DeviceRegistrarOptions) {
    super();
    this.db = new RegistrarBindingStore(opts.store.pool);
    this.digest = new DigestServer({ secret: opts.digestSecret, nonceTtlSeconds: opts.nonceTtlSeconds });
    this.algorithms = opts.algorithms ?? ['MD5', 'SHA-256'];
    this.trust = new BridgeTrust(opts.bridges ?? []);
    this.expiry = { ...DEFAULT_EXPIRY, ...opts.expires };
    if (!(this.expiry.min > 0 && this.expiry.min <= this.expiry.default && this.expiry.default <= this.expiry.max)) {
      throw new RegistrarError('ERR_REGISTRAR_CONFIG', `expires must satisfy 0 < min ≤ default ≤ max, got ${JSON.stringify(this.expiry)}`);
    }
    this.push = { providers: opts.push?.providers ?? SUPPORTED_PROVIDERS, ...(opts.push?.appIds ? { appIds: opts.push.appIds } : {}) };
    this.accounts = opts.accounts ?? new StoreAccountDirectory(opts.store);
    this.guard = opts.guard ?? new AuthGuard();
    this.nonces = new NonceCounts(this.digest.nonceTtlMs);
    this.log = opts.log?.child({ component: 'registrar' });
    this.now = opts.now ?? Date.now;
  }

  override on(event: 'registered', cb: Listener<[Binding, RegisteredInfo]>): this;
  override on(event: 'removed', cb: Listener<[Binding, RemovalReason]>): this;
  override on(event: string | symbol, cb: (...args: never[]) => void): this {
    return super.on(event, cb as (...args: unknown[]) => void);
  }

  /** Loads every live binding from the database and starts the expiry sweep. Returns the count. */
  async start(): Promise<number> {
    await this.db.removeExpired(new Date(this.now()));
    let n = 0;
    for await (const page of this.db.live()) {
      for (const d of page) {
        const binding = this.fromStored(d);
        if (!binding) continue;
        // Call-ID/CSeq are not persisted: after a restart the next REGISTER is accepted as newer.
        const rec: BindingRecord = { binding, callId: '', cseq: -1, dueAt: 0, heapIndex: -1 };
        // an instance id other than the Contact came from +sip.instance: echo it again in 200s
        if (binding.instanceId !== binding.contact) rec.instanceParam = `"<${binding.instanceId}>"`;
        this.table.put(rec);
        n++;
      }
    }
    const every = this.opts.sweepIntervalMs ?? 1000;
    this.sweepTimer = setInterval(() => void this.sweep(), every);
    this.sweepTimer.unref();
    this.log?.info({ bindings: n }, 'device bindings loaded');
    return n;
  }

  private fromStored(d: DeviceBinding): Binding | undefined {
    try {
      return bindingFromStored(d);
    } catch (err) {
      this.log?.warn({ id: d.id, code: (err as RegistrarError).code }, 'binding with an unreadable flow skipped');
      return undefined;
    }
  }

  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** live (unexpired) bindings of the account, from memory. */
  bindingsOf(accountId: string): Binding[] {
    const now = this.now();
    const out: Binding[] = [];
    for (const r of this.table.ofAccount(accountId)) if (r.binding.expiresAt > now) out.push(r.binding);
    return out;
  }

  get size(): number {
    return this.table.size;
  }

  /** bindings with at least one push token (the rest cannot be woken). */
  get withPush(): number {
    let n = 0;
    for (const r of this.table.all()) if (r.binding.pushTargets.length > 0) n++;
    return n;
  }

  /** metric families for /metrics (the shape core/server/metrics.ts `formatMetrics` takes). */
  metricFamilies(): Array<{ name: string; help: string; type: 'counter' | 'gauge'; samples: Array<{ labels?: Record<string, string>; value: number }> }> {
    const c = this.counters;
    const counter = (name: string, help: string, value: number) => ({ name, help, type: 'counter' as const, samples: [{ value }] });
    const push = this.withPush;
    return [
      { name: 'sipis_devices', help: 'device bindings in memory, with and without push tokens', type: 'gauge', samples: [{ labels: { push: 'yes' }, value: push }, { labels: { push: 'no' }, value: this.table.size - push }] },
      counter('sipis_device_registers_total', 'REGISTER requests from devices', c.registers),
      counter('sipis_device_register_ok_total', '2xx answers to device REGISTERs', c.ok),
      counter('sipis_device_register_challenges_total', '401 challenges sent to devices', c.challenges),
      counter('sipis_device_register_forbidden_total', '403: wrong password, unknown or disabled account', c.forbidden),
      counter('sipis_device_register_rejected_total', 'device REGISTERs answered with an error (403, 4xx, 555, 503 database unavailable, 500)', c.rejected),
      counter('sipis_device_register_unsupported_push_total', '555 Push Notification Service Not Supported', c.unsupportedPush),
      counter('sipis_device_digest_replays_total', 'device digest answers whose nonce count did not grow (replays), challenged again', c.replayed),
      counter('sipis_device_spoofed_flow_total', 'X-Sipis-Flow headers ignored from addresses that are not bridges', c.spoofedFlow),
      counter('sipis_device_bindings_expired_total', 'bindings removed by expiry', c.expired),
      counter('sipis_device_bindings_removed_total', 'bindings removed by the device, a dead token, a failed flow or the clean-up of stale devices', c.removed),
      counter('sipis_device_store_errors_total', 'binding writes the database refused or missed', c.storeErrors),
      counter('sipis_device_auth_blocks_total', 'device addresses refused for a while after too many failed digests (REGISTER and own requests)', this.guard.counters.blocksStarted),
      counter('sipis_device_auth_blocked_requests_total', 'requests from blocked device addresses, refused with 403 unread', this.guard.counters.refused),
      { name: 'sipis_device_auth_blocked_addresses', help: 'device addresses refused right now', type: 'gauge', samples: [{ value: this.guard.blockedCount(this.now()) }] },
    ];
  }

  /** the binding with this id, if live. */
  binding(id: string): Binding | undefined {
    const r = this.table.get(id);
    return r && r.binding.expiresAt > this.now() ? r.binding : undefined;
  }

  /**
   * Follows account changes from the store (LISTEN/NOTIFY; the store must be opened with
   * listen: true): see `accountChanged`; a resync drops every cached credential. Returns the
   * unsubscribe function.
   */
  followAccountChanges(store: Store): () => void {
    return store.onAccountChange((ev) => {
      if (ev.type === 'resync') this.accounts.invalidate();
      else this.accountChanged(String(ev.change.id), ev.change.op === 'DELETE');
    });
  }

  /** the account changed: forget its cached credentials; a deleted account's bindings go ('unregistered'). */
  accountChanged(accountId: string, deleted: boolean): void {
    this.accounts.invalidate(accountId);
    if (!deleted) return;
    for (const r of [...this.table.ofAccount(accountId)]) {
      this.table.remove(r.binding.id);
      this.counters.removed++;
      this.emit('removed', r.binding, 'unregistered');
    }
  }

  /**
   * A binding that cannot be used any more. For 'flow-failed' (430 from the bridge: the phone's
   * connection is gone) a device with push tokens is kept: iOS and Android close the connections
   * of a sleeping app, and dropping its tokens would leave the next call nobody to wake. Only its
   * flow is marked dead until the phone registers again.
   */
  async removeBinding(id: string, reason: 'flow-failed' | 'token-dead'): Promise<void> {
    if (reason === 'flow-failed') {
      const kept = this.table.get(id);
      if (kept && kept.binding.pushTargets.length > 0) {
        kept.binding.flowFailed = true;
        return;
      }
    }
    const rec = this.table.remove(id);
    try {
      await this.db.removeByIds([Number(id)]);
    } catch (err) {
      this.counters.storeErrors++;
      this.log?.warn({ id, err: (err as Error).message }, 'binding removal not written to the database');
    }
    if (rec) {
      this.counters.removed++;
      this.emit('removed', rec.binding, reason);
    }
  }

  /**
   * Bindings whose rows are already deleted from the database by someone else: the clean-up
   * sweep (core/server/cleanup.ts) removes stale devices with a DELETE that re-checks `last_seen`,
   * so a REGISTER racing it keeps its binding. Memory follows the way it does for an Expires: 0
   * (the record dropped, `removed` counted, 'removed' emitted with `reason`). An id not in memory
   * (a REGISTER that came after the DELETE made a new row, with a new id) is skipped. Returns the
   * bindings dropped.
   */
  bindingsDeleted(ids: readonly string[], reason: RemovalReason): Binding[] {
    const gone: Binding[] = [];
    for (const id of ids) {
      const rec = this.table.remove(id);
      if (!rec) continue;
      this.counters.removed++;
      gone.push(rec.binding);
    }
    for (const b of gone) this.emit('removed', b, reason);
    return gone;
  }

  /**
   * The mediator reported a token dead (404): the token is marked dead in the database (a
   * re-REGISTER with the same token keeps it dead) and dropped from its bindings; a binding left
   * without any token cannot be woken any more and is removed ('token-dead').
   */
  async tokenDead(token: string, provider?: string): Promise<void> {
    try {
      await this.db.markTokenDead(token, provider);
    } catch (err) {
      this.counters.storeErrors++;
      this.log?.warn({ token: redactToken(token), err: (err as Error).message }, 'dead token not written to the database');
    }
    for (const id of this.table.withToken(token)) {
      const rec = this.table.get(id);
      if (!rec) continue;
      const old = rec.binding.pushTargets.map((t) => t.token);
      rec.binding.pushTargets = rec.binding.pushTargets.filter((t) => t.token !== token || (provider !== undefined && t.provider !== provider));
      this.table.reindexTokens(rec, old);
      this.log?.info({ binding: id, token: redactToken(token) }, 'push token dead');
      if (rec.binding.pushTargets.length === 0) await this.removeBinding(id, 'token-dead');
    }
  }

  /**
   * Called by the request router for a REGISTER addressed to the sipis domain. Never throws:
   * every failure becomes a response. `source` is the datagram's source (default: where the
   * transaction sends responses, i.e. the top Via's received/rport).
   */
  handleRegister(tx: ServerTransaction, req: SipMessage, source: SourceAddress = tx.remote): Promise<void> {
    this.counters.registers++;
    return this.process(tx, req, source).catch((err: unknown) => {
      this.log?.error({ err, callId: req.callId }, 'REGISTER failed');
      if (tx.lastStatus >= 200 || tx.state === 'Terminated') return;
      // RFC 3261 §21.5.4: a database that is down or busy passes; 503 with Retry-After tells the
      // phone to come back (§21.5.1: 500 stays for what we cannot explain)
      if (storeUnavailable(err)) this.reply(tx, 503, 'Service Unavailable', [['Retry-After', '5']]);
      else this.reply(tx, 500, undefined, [['Retry-After', '5']]);
    });
  }

  private reply(tx: ServerTransaction, status: number, reason?: string, headers: Array<[string, string]> = []): void {
    if (status >= 300) this.counters.rejected++;
    tx.reply(status, reason, { headers });
  }

  private challenge(tx: ServerTransaction, stale: boolean): void {
    this.counters.challenges++;
    const headers: Array<[string, string]> = this.algorithms.map((algorithm) => [
      'WWW-Authenticate',
      this.digest.buildChallenge({ realm: this.opts.domain, algorithm, stale, now: this.now() }),
    ]);
    tx.reply(401, undefined, { headers });
  }

  /** 403 for credentials that prove nothing; counted against the device's address. */
  private forbid(tx: ServerTransaction, why: string, req: SipMessage, ip: string): void {
    this.counters.forbidden++;
    this.log?.info({ to: req.to.uri.raw, why }, 'REGISTER forbidden');
    if (this.guard.failed(ip, this.now())) this.log?.warn({ ip, to: req.to.uri.raw }, 'too many failed digests from this address: refused for a while');
    this.reply(tx, 403);
  }

  private async process(tx: ServerTransaction, req: SipMessage, source: SourceAddress): Promise<void> {
    // §10.3 step 2 (step 1, the domain, is the caller's): the extensions the phone requires must
    // be ours (§8.2.2.3), before any digest
    const unsupported = unsupportedRequire(req, SUPPORTED_OPTIONS);
    if (unsupported.length > 0) return this.reply(tx, 420, 'Bad Extension', [['Unsupported', unsupported.join(', ')]]);
    const to = req.to.uri;
    // §10.3 step 4/5: the AOR (To) must be an account, addressed as user@host
    if ((to.scheme !== 'sip' && to.scheme !== 'sips') || !to.user) return this.reply(tx, 404, 'Not Found');
    const shardKey = `${to.user}@${to.host.toLowerCase()}`;
    const ip = deviceAddress(source, this.trust, req.header('X-Sipis-Flow'));
    if (this.guard.blocked(ip, this.now())) {
      this.counters.forbidden++;
      return this.reply(tx, 403, 'Too Many Failed Attempts');
    }

    // §10.3 step 3 / §22: digest against the account, realm = the sipis domain
    const creds: AuthCredentials | undefined = req.authorization.find((c) => c.params.get('realm') === this.opts.domain);
    if (!creds) return this.challenge(tx, false);
    const username = creds.params.get('username') ?? '';
    const account = await this.accounts.find(shardKey, username);
    if (!account || !account.enabled || account.password === null) {
      // a nonce we did not mint (or one for an old secret) earns a fresh challenge, not a 403
      const nonce = creds.params.get('nonce') ?? '';
      if (this.digest.checkNonce(nonce, this.opts.domain) === undefined) return this.challenge(tx, false);
      return this.forbid(tx, account ? 'account disabled or without password' : 'no such account', req, ip);
    }
    // RFC 7616 §3.5 / RFC 3261 §22.4: the digest-uri must be our Request-URI (the bridge does not rewrite it)
    const v = this.digest.verifyCredentials({ credentials: creds, method: req.method, realm: this.opts.domain, password: account.password, now: this.now(), requestUri: req.uri });
    if (!v.ok) {
      const f = digestFailure(v, 'Authorization');
      if (f.answer === 'challenge') return this.challenge(tx, f.stale);
      if (f.answer === 'forbidden') return this.forbid(tx, 'wrong password', req, ip);
      return this.reply(tx, 400, f.reason);
    }

    this.guard.succeeded(ip);
    // an nc not above the last one for this nonce is a replay (nonce-counts.ts): a new nonce
    if (!this.nonces.fresh(v.username, creds.params.get('nonce') ?? '', v.nc, v.nonceIssuedAt, this.now())) {
      this.counters.replayed++;
      return this.challenge(tx, true);
    }
    // §10.3 steps 6–7 without side effects first
    const plan = planRegister(req, this.expiry, this.push);
    if (plan.kind === 'reject') {
      if (plan.status === 555) this.counters.unsupportedPush++;
      return this.reply(tx, plan.status, plan.reason, plan.headers);
    }
    const flowHeader = req.header('X-Sipis-Flow');
    const decision = decideFlow(source, this.trust, flowHeader, req.headerValues('Path'), req.supported.includes('path'));
    if (decision.spoofed) {
      this.counters.spoofedFlow++;
      this.log?.warn({ source: `${source.address}:${source.port}` }, 'X-Sipis-Flow from an address that is not a bridge: ignored');
    }

    await this.serialize(account.id, async () => {
      // checked under the account's chain: an earlier REGISTER may just have moved a CSeq
      if (plan.kind !== 'query' && this.outOfOrder(account.id, req, plan.kind === 'bind' ? plan.contacts : undefined)) {
        this.counters.staleCseq++;
        this.log?.info({ to: req.to.uri.raw, callId: req.callId, cseq: req.cseq.seq }, 'REGISTER with an out-of-order CSeq refused');
        // §10.3 steps 6–7 say only that "the request fails"; 400 as Kamailio's registrar
        // answers it (R_INV_CSEQ), with a reason that says why
        return this.reply(tx, 400, 'Out Of Order CSeq');
      }
      const events: Array<() => void> = [];
      if (plan.kind === 'remove-all') await this.removeAll(account, events);
      else if (plan.kind === 'bind') {
        if (this.wouldExceed(account.id, plan.contacts)) {
          this.counters.forbidden++;
          return this.reply(tx, 403, 'Too Many Bindings');
        }
        for (const c of plan.contacts) await this.apply(account, req, c, decision, events);
      }
      this.counters.ok++;
      this.reply(tx, 200, undefined, this.okHeaders(account.id, req, decision, plan.kind === 'bind' ? plan.providers : []));
      for (const e of events) e();
    });
  }

  /** would binding these contacts leave the account with more bindings than allowed? */
  private wouldExceed(accountId: string, contacts: readonly ContactPlan[]): boolean {
    const max = this.opts.maxBindingsPerAccount ?? 32;
    const now = this.now();
    const keys = new Set<string>();
    for (const r of this.table.ofAccount(accountId)) if (r.binding.expiresAt > now) keys.add(r.binding.instanceId);
    for (const c of contacts) {
      if (c.expires === 0) keys.delete(c.instanceId);
      else keys.add(c.instanceId);
    }
    return keys.size > max;
  }

  private async serialize(accountId: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(accountId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(accountId, tail);
    try {
      await run;
    } finally {
      if (this.chains.get(accountId) === tail) this.chains.delete(accountId);
    }
  }

  /**
   * §10.3 steps 6–7: a binding last updated by this Call-ID may only be changed by a higher CSeq;
   * otherwise "the update MUST be aborted and the request fails", the whole REGISTER, so this
   * runs before anything is changed. `contacts` are the bindings asked for; none = all of the
   * account's (Contact: *). A retransmission never gets here: the transaction layer answers it.
   */
  private outOfOrder(accountId: string, req: SipMessage, contacts: readonly ContactPlan[] | undefined): boolean {
    const now = this.now();
    const touched = contacts ? contacts.map((c) => this.table.find(accountId, c.instanceId)) : this.table.ofAccount(accountId);
    for (const rec of touched) {
      if (rec && rec.binding.expiresAt > now && rec.callId === req.callId && req.cseq.seq <= rec.cseq) return true;
    }
    return false;
  }

  private async removeAll(account: DeviceAccount, events: Array<() => void>): Promise<void> {
    const gone = [...this.table.ofAccount(account.id)];
    await this.storeOp(() => this.db.removeByIds(gone.map((r) => Number(r.binding.id))));
    for (const rec of gone) {
      this.table.remove(rec.binding.id);
      this.counters.removed++;
      events.push(() => this.emit('removed', rec.binding, 'unregistered'));
    }
  }

  private async apply(account: DeviceAccount, req: SipMessage, c: ContactPlan, decision: FlowDecision, events: Array<() => void>): Promise<void> {
    const existing = this.table.find(account.id, c.instanceId);
    if (c.expires === 0) {
      if (!existing) return;
      await this.storeOp(() => this.db.removeByIds([Number(existing.binding.id)]));
      this.table.remove(existing.binding.id);
      this.counters.removed++;
      events.push(() => this.emit('removed', existing.binding, 'unregistered'));
      return;
    }
    const now = this.now();
    const expiresAt = now + c.expires * 1000;
    const userAgent = req.header('User-Agent');
    const up = await this.storeOp(() =>
      this.db.upsertOne({
        accountId: Number(account.id),
        instanceId: c.instanceId,
        contact: c.uri,
        source: `${decision.flow.transport}:${decision.flow.source}`,
        viaBridge: decision.flow.viaBridge,
        flowToken: encodeStoredFlow(decision.flow, decision.path),
        expiresAt: new Date(expiresAt),
        userAgent: userAgent ?? null,
        pushTokens: c.targets.map((t) => ({ kind: t.kind, provider: t.provider, appId: t.appId, token: t.token, pnParam: t.param ?? null })),
      }),
    );
    const binding: Binding = {
      id: String(up.id),
      accountId: account.id,
      instanceId: c.instanceId,
      contact: c.uri,
      path: decision.path,
      flow: decision.flow,
      expiresAt,
      pushTargets: c.targets.filter((t) => !up.deadKinds.includes(t.kind)).sort(byKind),
      lastSeen: now,
    };
    if (userAgent !== undefined) binding.userAgent = userAgent;
    const rec: BindingRecord = { binding, callId: req.callId, cseq: req.cseq.seq, dueAt: 0, heapIndex: -1 };
    if (c.instanceParam !== undefined) rec.instanceParam = c.instanceParam;
    if (c.regId !== undefined) rec.regId = c.regId;
    this.table.put(rec);
    const refresh = existing !== undefined;
    events.push(() => this.emit('registered', binding, { refresh }));
  }

  private async storeOp<T>(fn: () => Promise<T>): Promise<T> {
    try {
      // a database known to be down answers at once: the pool would hold the REGISTER for its
      // acquire timeout (5 s), past the phone's first retransmissions, before the same 503
      this.opts.store.pool.failIfDown();
      return await fn();
    } catch (err) {
      this.counters.storeErrors++;
      throw new RegistrarError('ERR_REGISTRAR_STORE', `binding not stored: ${(err as Error).message}`, { cause: err });
    }
  }

  /** §10.3 step 8: every current binding with its remaining time; Path echoed (RFC 3327 §5.3); outbound (RFC 5626 §6); Feature-Caps (RFC 8599). */
  private okHeaders(accountId: string, req: SipMessage, decision: FlowDecision, providers: string[]): Array<[string, string]> {
    const now = this.now();
    const headers: Array<[string, string]> = [];
    for (const r of this.table.ofAccount(accountId)) {
      const left = Math.ceil((r.binding.expiresAt - now) / 1000);
      if (left <= 0) continue;
      // RFC 5626 §6 / its §10 flows: the binding's instance and reg-id come back with it
      const instance = r.instanceParam !== undefined ? `;+sip.instance=${r.instanceParam}` : '';
      const regId = r.regId !== undefined ? `;reg-id=${r.regId}` : '';
      headers.push(['Contact', `<${r.binding.contact}>;expires=${left}${instance}${regId}`]);
    }
    if (decision.path.length > 0 && req.supported.includes('path')) headers.push(['Path', decision.path.join(', ')]);
    if (outboundApplies(req, decision)) {
      // the phone learns that its flow is kept for it: it must keep it alive (RFC 5626 §4.4)
      headers.push(['Require', 'outbound']);
      if (this.opts.flowTimerS) headers.push(['Flow-Timer', String(this.opts.flowTimerS)]);
    }
    headers.push(['Feature-Caps', featureCaps(providers.length > 0 ? providers : this.push.providers)]);
    headers.push(['Date', new Date(now).toUTCString()]);
    return headers;
  }

  /** drains expired bindings from the heap; one database statement per sweep. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = this.now();
      const gone: Binding[] = [];
      for (let r = this.table.popExpired(now); r; r = this.table.popExpired(now)) gone.push(r.binding);
      if (gone.length === 0) return;
      this.counters.expired += gone.length;
      for (const b of gone) this.emit('removed', b, 'expired');
      try {
        await this.db.removeExpiredIds(gone.map((b) => Number(b.id)), new Date(now));
      } catch (err) {
        // the rows stay until the next start-up's removeExpired; memory is already right
        this.counters.storeErrors++;
        this.log?.warn({ n: gone.length, err: (err as Error).message }, 'expired bindings not deleted from the database');
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** runs one sweep now (tests, shutdown). */
  sweepNow(): Promise<void> {
    return this.sweep();
  }
}
