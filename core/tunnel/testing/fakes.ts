/**
 * Small stand-ins for the tunnel's collaborators in tests and benchmarks (only there):
 * - FakeRegistrar: answers REGISTER 200 without authentication and keeps bindings in memory,
 *   emitting `registered` like core/registrar's DeviceRegistrar (brief-issue8.md contract);
 *   `pn-prid`/`pn-tok` in the Contact makes a push target, `Path` headers are the route.
 * - FakePush: records every push and answers with a configurable outcome (or never).
 * - MemoryMessageStore: TunnelStore in memory, with a switch to make it fail.
 * - StaticAccounts: a fixed account list.
 */
import { EventEmitter } from 'node:events';
import type { PushVerb } from '../../push/protocol.js';
import type { SipMessage } from '../../sip/index.js';
import type { CallOutcome, MessageInput, PendingCallInput, StoredMessage } from '../../store/messages.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { Endpoint } from '../../transport/index.js';
import type { UpstreamAccount } from '../../upstream/types.js';
import type { TunnelAccounts, TunnelBinding, TunnelPush, TunnelRegistrar, TunnelStore } from '../types.js';

function hostPort(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export class FakeRegistrar extends EventEmitter implements TunnelRegistrar {
  readonly bindings = new Map<string, TunnelBinding>();
  readonly removed: Array<{ id: string; reason: string }> = [];
  private seq = 0;

  /** `accountOf(user)`: the account id for the To user of a REGISTER. */
  constructor(private readonly accountOf: (user: string) => string | undefined) {
    super();
  }

  bindingsOf(accountId: string): TunnelBinding[] {
    const now = Date.now();
    return [...this.bindings.values()].filter((b) => b.accountId === accountId && b.expiresAt > now);
  }

  /** core/push BindingSource: the push client reports a dead token (kept out of the fake's bindings). */
  async tokenDead(token: string): Promise<void> {
    for (const b of this.bindings.values()) if (b.pushTargets.some((t) => (t as { token?: string }).token === token)) this.removed.push({ id: b.id, reason: 'token-dead' });
  }

  async removeBinding(id: string, reason: 'flow-failed' | 'token-dead'): Promise<void> {
    this.removed.push({ id, reason });
    this.bindings.delete(id);
  }

  /** Adds a binding directly (no REGISTER), e.g. one loaded from the database at start. */
  add(b: Omit<TunnelBinding, 'id'> & { id?: string }): TunnelBinding {
    const full: TunnelBinding = { ...b, id: b.id ?? String(++this.seq) };
    for (const [id, old] of this.bindings) if (old.accountId === full.accountId && old.instanceId === full.instanceId) this.bindings.delete(id);
    this.bindings.set(full.id, full);
    return full;
  }

  handleRegister(tx: ServerTransaction, req: SipMessage, source: Endpoint): void {
    const accountId = this.accountOf(req.to.uri.user ?? '');
    const c = req.contact[0];
    if (!accountId || !c || c.star) return void tx.reply(404, 'Not Found');
    const expires = c.expires ?? req.expires ?? 3600;
    const instance = c.params.get('+sip.instance')?.replace(/^"?<?|>?"?$/g, '') ?? c.uri.raw;
    const old = [...this.bindings.values()].find((b) => b.accountId === accountId && b.instanceId === instance);
    if (expires === 0) {
      if (old) this.bindings.delete(old.id);
      return void tx.reply(200, 'OK');
    }
    const prid = c.uri.params.get('pn-prid') ?? c.uri.params.get('pn-tok') ?? c.params.get('pn-prid');
    const flowHeader = req.header('X-Sipis-Flow');
    const flowId = flowHeader ? /id=([0-9a-z]+x[0-9a-z]+)/.exec(flowHeader)?.[1] : undefined;
    const b = this.add({
      ...(old ? { id: old.id } : {}),
      accountId,
      instanceId: instance,
      contact: c.uri.raw,
      path: req.headerValues('Path'),
      flow: { transport: flowHeader ? 'tcp' : 'udp', source: hostPort(source), viaBridge: flowId !== undefined, ...(flowId ? { flowId } : {}), via: hostPort(source) },
      expiresAt: Date.now() + expires * 1000,
      pushTargets: prid ? [{ provider: 'apns', kind: 'voip', appId: 'com.example.phone', token: prid }] : [],
      lastSeen: Date.now(),
    });
    tx.reply(200, 'OK', { headers: [['Contact', `<${c.uri.raw}>;expires=${expires}`]] });
    this.emit('registered', b, { refresh: old !== undefined });
  }
}

export interface PushRecord {
  verb: PushVerb;
  accountId: string;
  payload: Record<string, unknown>;
  /** the device, for per-device pushes (`send`). */
  instanceId?: string;
}

export class FakePush implements TunnelPush {
  readonly sent: PushRecord[] = [];
  /** 'delivered' (default), 'failed' (mediator down), 'never' (no answer), 'throw'. */
  mode: 'delivered' | 'failed' | 'never' | 'throw' = 'delivered';
  private waiters: Array<{ verb: PushVerb; resolve: (r: PushRecord) => void }> = [];

  send(verb: PushVerb, binding: TunnelBinding, payload: Record<string, unknown>): Promise<unknown> {
    return this.record({ verb, accountId: binding.accountId, payload, instanceId: binding.instanceId });
  }

  sendToAccount(verb: PushVerb, accountId: string, payload: Record<string, unknown>): Promise<unknown> {
    return this.record({ verb, accountId, payload });
  }

  private record(rec: PushRecord): Promise<unknown> {
    const verb = rec.verb;
    this.sent.push(rec);
    this.waiters = this.waiters.filter((w) => (w.verb === verb ? (w.resolve(rec), false) : true));
    if (this.mode === 'throw') throw new Error('push client broken');
    if (this.mode === 'never') return new Promise(() => undefined);
    if (this.mode === 'failed') return Promise.resolve([{ outcome: 'failed', reason: 'mediator unreachable' }]);
    return Promise.resolve([{ outcome: 'delivered', pushId: 'p1' }]);
  }

  /** the next push of `verb` (or one already sent). */
  next(verb: PushVerb, timeoutMs = 5000): Promise<PushRecord> {
    const done = this.sent.find((s) => s.verb === verb);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${verb} push within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ verb, resolve: (r) => (clearTimeout(t), resolve(r)) });
    });
  }
}

export class MemoryMessageStore implements TunnelStore {
  readonly messages: Array<StoredMessage & { dedupeKey: string | null; deliveredAt: Date | null }> = [];
  readonly pending = new Map<string, PendingCallInput>();
  readonly finished: Array<{ callId: string; outcome: CallOutcome }> = [];
  failing = false;
  private seq = 0;

  private check(): void {
    if (this.failing) throw new Error('database down');
  }

  async store(m: MessageInput): Promise<{ id: number; duplicate: boolean }> {
    this.check();
    const dup = this.messages.find((x) => x.accountId === m.accountId && m.dedupeKey && x.dedupeKey === m.dedupeKey);
    if (dup) return { id: dup.id, duplicate: true };
    const id = ++this.seq;
    this.messages.push({ id, accountId: m.accountId, dedupeKey: m.dedupeKey ?? null, fromUri: m.fromUri, fromDisplay: m.fromDisplay ?? null, toUri: m.toUri ?? null, contentType: m.contentType, body: m.body, receivedAt: new Date(), attempts: 0, deliveredAt: null });
    return { id, duplicate: false };
  }

  async listUndelivered(accountId: number, limit = 100): Promise<StoredMessage[]> {
    this.check();
    return this.messages.filter((m) => m.accountId === accountId && !m.deliveredAt).slice(0, limit);
  }

  async markDelivered(ids: readonly number[]): Promise<number> {
    this.check();
    let n = 0;
    for (const m of this.messages) if (ids.includes(m.id) && !m.deliveredAt) (m.deliveredAt = new Date()), n++;
    return n;
  }

  async countAttempt(id: number): Promise<void> {
    const m = this.messages.find((x) => x.id === id);
    if (m) m.attempts++;
  }

  async startPendingCall(c: PendingCallInput): Promise<void> {
    this.check();
    this.pending.set(c.callId, c);
  }

  async finishPendingCall(callId: string, outcome: CallOutcome): Promise<boolean> {
    this.check();
    this.pending.delete(callId);
    this.finished.push({ callId, outcome });
    return true;
  }
}

export class StaticAccounts implements TunnelAccounts {
  private readonly byId = new Map<string, UpstreamAccount>();
  constructor(accounts: UpstreamAccount[]) {
    for (const a of accounts) this.byId.set(a.id, a);
  }
  get(id: string): UpstreamAccount | undefined {
    return this.byId.get(id);
  }
  /** by the AOR's user part, whatever the host (the phone may write the sipis domain). */
  findByUser(user: string, _host: string): UpstreamAccount | undefined {
    for (const a of this.byId.values()) {
      const m = /^sips?:([^@]+)@/.exec(a.aor);
      if (m && m[1] === user) return a;
    }
    return undefined;
  }
}
