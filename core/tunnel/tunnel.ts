/**
 * The call tunnel's entry point. The server's request router (core/server) calls:
 *
 *   const tunnel = createTunnel({ layer, registrar, push, store, accounts, config, logger });
 *   layer.onRequest((tx, req) => isRegister(req) ? registrar.handleRegister(…) : tunnel.handleRequest(tx, req, tx.remote…));
 *   layer.onAck((ack) => tunnel.handleAck(ack));
 *   layer.onCancel((cancel, inv) => tunnel.handleCancel(cancel, inv) || inv.reply(487));
 *   layer.onStrayResponse((res) => tunnel.handleStrayResponse(res));
 *
 * `handleRequest` takes every request but REGISTER:
 * - with a To tag: in-dialog, relayed to the paired dialog (relay.ts), 481 when unknown;
 * - Request-URI `acc-<id>@…` (an account's upstream Contact, core/upstream/contact.ts): from
 *   the provider: INVITE → incoming call, MESSAGE → text message, OPTIONS → 200;
 * - else from a device: its From names an account and the datagram comes from one of that
 *   account's bindings (the flow it registered, bridge or not) → relayed to the provider.
 * The registrar's `registered` event is the readiness of a device (calls and messages).
 */
import type { Logger } from 'pino';
import { DialogPair, Relay } from './relay.js';
import { DialogStore } from '../dialog/index.js';
import { isKnownMethod, unsupportedRequire, type SipMessage } from '../sip/index.js';
import { ChurnMap, type InviteServerTransaction, type ServerTransaction, type TransactionLayer } from '../transaction/index.js';
import type { Endpoint } from '../transport/index.js';
import { addressOf } from '../registrar/auth-guard.js';
import { OPTION_TAGS, SUPPORTED_OPTIONS } from '../registrar/options.js';
import { accountIdFromUser } from '../upstream/contact.js';
import { bindingTarget, type DialogEntry, type TunnelContext } from './context.js';
import { TunnelError } from './errors.js';
import { IncomingCalls } from './incoming.js';
import { TextMessages } from './messages.js';
import { OutgoingRelay } from './outgoing.js';
import { SetupTime } from './setup-time.js';
import { DEFAULT_TUNNEL_CONFIG, type TunnelBinding, type TunnelConfig, type TunnelCounters, type TunnelDeps } from './types.js';

/** Every method an account's address takes, in a dialog (relayed) or not: the OPTIONS answer's Allow. */
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, PRACK, UPDATE, INFO, NOTIFY, SUBSCRIBE, REFER';
/** What it takes outside a dialog: the Allow of a 405, which lists the valid methods (RFC 3261 §21.4.6). */
const ALLOW_OUT_OF_DIALOG = 'INVITE, ACK, CANCEL, OPTIONS, MESSAGE, NOTIFY';
/** Methods that only exist in a dialog: without a To tag they match none (481: RFC 3261 §15.1.2, RFC 3262 §3, RFC 6086 §4.2.2). */
const IN_DIALOG_ONLY = new Set(['BYE', 'PRACK', 'UPDATE', 'INFO']);

function checkConfig(c: TunnelConfig): TunnelConfig {
  const positive: Array<keyof TunnelConfig> = ['readinessTimeoutMs', 'maxMessageBytes', 'deliverBatch'];
  for (const k of positive) {
    if (!Number.isFinite(c[k]) || c[k] <= 0) throw new TunnelError('ERR_TUNNEL_CONFIG', `tunnel config ${k} must be a positive number, got ${c[k]}`);
  }
  for (const k of ['reachableWindowMs', 'reachableGraceMs', 'previewChars'] as const) {
    if (!Number.isFinite(c[k]) || c[k] < 0) throw new TunnelError('ERR_TUNNEL_CONFIG', `tunnel config ${k} must be ≥ 0, got ${c[k]}`);
  }
  return c;
}

function newCounters(): TunnelCounters {
  return {
    callsIn: 0,
    callsOut: 0,
    callsAnswered: 0,
    callsMissed: 0,
    callsAnsweredElsewhere: 0,
    callsNoResponse: 0,
    callsFailed: 0,
    pushesSent: 0,
    pushesConfirmed: 0,
    pushesFailed: 0,
    relayedRequests: 0,
    relayedResponses: 0,
    reinvitesHeld: 0,
    messagesStored: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    messagesRefused: 0,
    deviceChallenges: 0,
    deviceAuthFailures: 0,
  };
}

/** `id=FLOW;…` of an X-Sipis-Flow header. */
function flowIdOf(req: SipMessage): string | undefined {
  const v = req.header('X-Sipis-Flow');
  return v ? /(?:^|;)\s*id=([0-9a-z]+x[0-9a-z]+)/.exec(v)?.[1] : undefined;
}

function hostPort(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export class Tunnel {
  readonly counters: TunnelCounters = newCounters();
  readonly config: TunnelConfig;
  readonly dialogs = new DialogStore();
  /** provider INVITE → device 2xx relayed, for /metrics. */
  readonly setupTime = new SetupTime();
  private readonly ctx: TunnelContext;
  private readonly incoming: IncomingCalls;
  private readonly outgoing: OutgoingRelay;
  private readonly messages: TextMessages;
  private readonly log: Logger | undefined;
  /** hosts that mean "sipis itself" in a device's Request-URI (our addresses, our domain). */
  private readonly localHosts = new Set<string>();
  private closed = false;

  constructor(readonly deps: TunnelDeps & { localHosts?: readonly string[] }) {
    this.config = checkConfig({ ...DEFAULT_TUNNEL_CONFIG, ...deps.config });
    this.log = deps.logger?.child({ component: 'tunnel' });
    this.ctx = {
      deps,
      layer: deps.layer,
      dialogs: this.dialogs,
      relay: new Relay(deps.layer, this.counters, this.log),
      config: this.config,
      counters: this.counters,
      setupTime: this.setupTime,
      log: this.log,
      now: deps.now ?? Date.now,
      byDialog: new ChurnMap(),
    };
    for (const h of deps.localHosts ?? []) this.localHosts.add(h.toLowerCase());
    for (const e of deps.layer.transport.endpoints) this.localHosts.add(e.address.includes(':') ? `[${e.address}]` : e.address);
    this.incoming = new IncomingCalls(this.ctx);
    this.outgoing = new OutgoingRelay(this.ctx);
    this.messages = new TextMessages(this.ctx);
    deps.registrar.on('registered', (b: TunnelBinding) => this.onRegistered(b));
  }

  /** calls in progress (incoming + outgoing) and dialogs held. */
  get size(): { incoming: number; outgoing: number; dialogs: number } {
    return { incoming: this.incoming.size, outgoing: this.outgoing.size, dialogs: this.dialogs.size };
  }

  private onRegistered(b: TunnelBinding): void {
    if (this.closed) return;
    try {
      this.incoming.onRegistered(b);
      this.messages.onRegistered(b);
    } catch (err) {
      this.log?.error({ err, binding: b.id }, 'readiness handling failed');
    }
  }

  /** Every request but REGISTER (see the file comment). `source`: the datagram's source. */
  handleRequest(tx: ServerTransaction, req: SipMessage, source: Endpoint): void {
    if (this.closed) return void tx.reply(503, 'Service Unavailable');
    if (req.to.tag) return this.inDialog(tx, req);
    const accountId = accountIdFromUser(req.requestUri.user);
    if (accountId !== undefined) {
      const account = this.deps.accounts.get(accountId);
      if (account && this.deps.isProviderSource && !this.deps.isProviderSource(source, account)) {
        this.log?.debug({ accountId, source }, 'request for an account from a source that is not its provider');
        return void tx.reply(403, 'Not From The Provider');
      }
      return this.fromProvider(tx, req, accountId);
    }
    this.fromDevice(tx, req, source);
  }

  private fromProvider(tx: ServerTransaction, req: SipMessage, accountId: string): void {
    switch (req.method) {
      case 'INVITE':
        return this.incoming.handleInvite(tx as InviteServerTransaction, req, accountId);
      case 'MESSAGE':
        return this.messages.handle(tx, req, accountId);
      case 'OPTIONS':
        return this.answerOptions(tx, req);
      case 'NOTIFY':
        // unsolicited NOTIFY (message-summary, RFC 3842 §3.2 allows it without a subscription): accepted, not relayed
        if (this.refusedExtension(tx, req)) return;
        return void tx.reply(200, 'OK');
      default:
        if (IN_DIALOG_ONLY.has(req.method)) return void tx.reply(481, 'Call/Transaction Does Not Exist');
        if (!isKnownMethod(req.method)) return void tx.reply(501, 'Not Implemented', { headers: [['Allow', ALLOW_OUT_OF_DIALOG]] });
        return void tx.reply(405, 'Method Not Allowed', { headers: [['Allow', ALLOW_OUT_OF_DIALOG]] });
    }
  }

  /** An OPTIONS sipis answers itself (RFC 3261 §11.2): what it allows, accepts and supports. */
  private answerOptions(tx: ServerTransaction, req: SipMessage): void {
    if (this.refusedExtension(tx, req)) return;
    tx.reply(200, 'OK', { headers: [['Allow', ALLOW], ['Accept', 'application/sdp, text/plain'], ['Supported', OPTION_TAGS.join(', ')]] });
  }

  /** §8.2.2.3: a request sipis answers itself that requires an extension it lacks gets 420. */
  private refusedExtension(tx: ServerTransaction, req: SipMessage): boolean {
    const unsupported = unsupportedRequire(req, SUPPORTED_OPTIONS);
    if (unsupported.length === 0) return false;
    tx.reply(420, 'Bad Extension', { headers: [['Unsupported', unsupported.join(', ')]] });
    return true;
  }

  /** The binding a device's request came from, if any (its flow: the datagram source, and the bridge's flow id). */
  private deviceBinding(req: SipMessage, source: Endpoint): { binding: TunnelBinding; accountId: string } | undefined {
    const from = req.from.uri;
    const account = this.deps.accounts.findByUser(from.user ?? '', from.host);
    if (!account) return undefined;
    const src = hostPort(source);
    const flowId = flowIdOf(req);
    const now = this.ctx.now();
    for (const b of this.deps.registrar.bindingsOf(account.id)) {
      if (b.expiresAt <= now || b.flow.via !== src) continue;
      if (b.flow.viaBridge && b.flow.flowId !== undefined && b.flow.flowId !== flowId) continue;
      return { binding: b, accountId: account.id };
    }
    return undefined;
  }

  private fromDevice(tx: ServerTransaction, req: SipMessage, source: Endpoint): void {
    if (req.method === 'OPTIONS' && this.localHosts.has(req.requestUri.host)) return this.answerOptions(tx, req);
    const found = this.deviceBinding(req, source);
    if (!found) return void tx.reply(403, 'Not A Registered Device');
    const account = this.deps.accounts.get(found.accountId)!;
    const auth = this.deps.deviceAuth;
    if (auth?.applies(found.binding.flow.viaBridge)) {
      // the device's address: for a bridge flow the phone's own, as the bridge named it
      const ip = addressOf(found.binding.flow.source);
      const refused = auth.check(req, account, this.ctx.now(), ip);
      if (refused) {
        if (refused.status === 407) this.counters.deviceChallenges++;
        else {
          this.counters.deviceAuthFailures++;
          if (refused.why !== 'blocked') this.log?.warn({ account: account.id, method: req.method, source: hostPort(source), why: refused.why }, 'device request refused: credentials');
          if (refused.blockStarted) this.log?.warn({ ip, account: account.id }, 'too many failed digests from this address: refused for a while');
        }
        return void tx.reply(refused.status, refused.reason, { headers: refused.headers });
      }
    }
    const phoneTarget = bindingTarget(found.binding);
    if (req.method === 'INVITE') return this.outgoing.invite(tx as InviteServerTransaction, req, account, phoneTarget, this.localHosts);
    this.outgoing.request(tx, req, account, phoneTarget, this.localHosts);
  }

  private entryOf(req: SipMessage): DialogEntry | undefined {
    const d = this.dialogs.matchRequest(req);
    return d ? this.ctx.byDialog.get(d.key) : undefined;
  }

  private inDialog(tx: ServerTransaction, req: SipMessage): void {
    const d = this.dialogs.matchRequest(req);
    const e = d ? this.ctx.byDialog.get(d.key) : undefined;
    if (!d || !e) {
      if (req.method === 'NOTIFY' && this.outgoing.holdEarlyNotify(req, () => this.inDialog(tx, req))) return;
      return void tx.reply(481, 'Call/Transaction Does Not Exist');
    }
    if (e.pair && e.side) return this.ctx.relay.request(tx, req, e.pair, e.side);
    const call = e.call;
    if (!call) return void tx.reply(481, 'Call/Transaction Does Not Exist');
    // early dialog: inbound side → the leg it concerns; a leg → the inbound side
    if (d === call.inboundDialog) {
      const t = call.earlyTarget(req);
      const from = call.inboundEarlySide();
      if (!t || !from) return void tx.reply(481, 'Call/Transaction Does Not Exist');
      return this.ctx.relay.request(tx, req, new DialogPair(from, t.side), from, t.extra);
    }
    const leg = call.legOf(d);
    const to = call.inboundEarlySide();
    if (!leg || !to) return void tx.reply(481, 'Call/Transaction Does Not Exist');
    const from = { dialog: d, target: leg.target, contact: leg.contact };
    this.ctx.relay.request(tx, req, new DialogPair(from, to), from);
  }

  /** ACK outside a transaction (for a 2xx): relayed end to end. False when it is not ours. */
  handleAck(ack: SipMessage): boolean {
    const e = this.entryOf(ack);
    if (!e?.pair || !e.side) return false;
    this.ctx.relay.ack(ack, e.pair, e.side);
    return true;
  }

  /** A CANCEL the layer answered 200: ends the call (or the relayed re-INVITE) it cancels. */
  handleCancel(cancel: SipMessage, invite: InviteServerTransaction): boolean {
    return this.incoming.cancel(cancel, invite) || this.outgoing.cancel(invite) || this.ctx.relay.cancelReinvite(invite);
  }

  /** A 2xx retransmission after our INVITE transaction ended: ACK it again. */
  handleStrayResponse(res: SipMessage): boolean {
    if (res.cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return false;
    const d = this.dialogs.matchResponse(res);
    const e = d ? this.ctx.byDialog.get(d.key) : undefined;
    if (!e?.side) return false;
    return this.ctx.relay.resendAck(e.side, res);
  }

  close(): void {
    this.closed = true;
    this.incoming.close();
    this.outgoing.close();
  }
}

export function createTunnel(deps: TunnelDeps & { localHosts?: readonly string[] }): Tunnel {
  return new Tunnel(deps);
}

/** Wires a tunnel (and a REGISTER handler) onto a transaction layer: the router for tests and the in-process stack. */
export function attachTunnel(layer: TransactionLayer, tunnel: Tunnel, register: (tx: ServerTransaction, req: SipMessage, source: Endpoint) => void): void {
  layer.onRequest((tx, req) => {
    const src = tx.remote;
    if (req.method === 'REGISTER') return register(tx, req, src);
    tunnel.handleRequest(tx, req, src);
  });
  layer.onAck((ack) => void tunnel.handleAck(ack));
  layer.onCancel((cancel, inv) => {
    if (!tunnel.handleCancel(cancel, inv) && inv.lastStatus < 200) inv.reply(487, 'Request Terminated');
  });
  layer.onStrayResponse((res) => void tunnel.handleStrayResponse(res));
}
