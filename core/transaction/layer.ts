/**
 * The transaction layer (RFC 3261 §17): matches every message from the transport to a transaction
 * by key (§17.1.3, §17.2.3), creates server transactions for new requests, runs client
 * transactions for the TU, and handles what belongs to no transaction: ACK for 2xx (to the TU,
 * §17.2.3 "the ACK … is passed to the TU"), stray responses (to the TU, so a dialog can re-ACK a
 * retransmitted 2xx), CANCEL (§9.2: matched to its INVITE and answered here).
 *
 * Upper layers register callbacks (`onRequest`, `onAck`, `onCancel`, `onStrayResponse`); the
 * layer names nothing above it. All timers run on one TimerWheel.
 */
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/index.js';
import type { SipUri } from '../sip/types.js';
import { serializeMessage } from '../sip/index.js';
import { SipResolver, type Endpoint, type Transport } from '../transport/index.js';
import { buildCancel } from './build.js';
import { ClientTransaction, type ClientTransactionUser, type ClientTxContext } from './client.js';
import { TransactionError } from './errors.js';
import { InviteClientTransaction } from './ict.js';
import { InviteServerTransaction } from './ist.js';
import { newBranch } from './ids.js';
import { clientKeyOfResponse, serverKey } from './key.js';
import { NonInviteClientTransaction } from './nict.js';
import { NonInviteServerTransaction } from './nist.js';
import { ServerTransaction } from './server.js';
import type { Lingering } from './context.js';
import { ExpiryQueue } from './expiry.js';
import { spliceVia } from './via-splice.js';
import { deriveTimers, type TimerBase, type TimerValues } from './timers.js';
import { TimerWheel } from './wheel.js';

export type RequestHandler = (tx: ServerTransaction, req: SipMessage) => void;
export type AckHandler = (ack: SipMessage, remote: Endpoint, local: Endpoint) => void;
export type CancelHandler = (cancel: SipMessage, invite: InviteServerTransaction) => void;
export type StrayResponseHandler = (res: SipMessage, remote: Endpoint) => void;

export interface TransactionLayerOptions {
  /**
   * T1/T2/T4 (every other timer derives from them), plus two that do not derive: the ICT guard C,
   * and `trying`, the delay before an INVITE server transaction sends 100 Trying (0: at once).
   */
  timers?: Partial<TimerBase> & { C?: number; trying?: number };
  /** a shared wheel (e.g. a manual-clock one in tests); default: a new real-clock wheel. */
  wheel?: TimerWheel;
  /** RFC 3263 resolver for requests without an explicit target; default: system DNS. */
  resolver?: SipResolver;
  /** every request without an explicit target goes here (§8.1.2 outbound proxy). */
  outboundProxy?: SipUri;
  logger?: Logger;
}

export interface SendOptions {
  /** explicit destination(s), tried in order: skips RFC 3263. */
  target?: Endpoint | Endpoint[];
}

export interface LayerCounters {
  serverCreated: number;
  clientCreated: number;
  /** requests matched to an existing server transaction (retransmissions, ACKs for non-2xx). */
  serverMatched: number;
  responsesMatched: number;
  strayResponses: number;
  acksToTu: number;
  cancels: number;
  /** a TU callback threw: the layer caught it (and answered 500 when it still could). */
  tuErrors: number;
}

/** A client transaction user that ignores everything (the CANCEL's own transaction). */
const IGNORE: ClientTransactionUser = { onResponse() {} };

export class TransactionLayer {
  readonly timers: TimerValues;
  readonly wheel: TimerWheel;
  /** live server transactions by key. */
  readonly servers = new Map<string, ServerTransaction>();
  /** live client transactions by key. */
  readonly clients = new Map<string, ClientTransaction>();
  readonly counters: LayerCounters = {
    serverCreated: 0,
    clientCreated: 0,
    serverMatched: 0,
    responsesMatched: 0,
    strayResponses: 0,
    acksToTu: 0,
    cancels: 0,
    tuErrors: 0,
  };
  private readonly ctx: ClientTxContext;
  private readonly lingering: ExpiryQueue<Lingering>;
  private resolver: SipResolver | undefined;
  private readonly log: Logger | undefined;
  private requestHandler: RequestHandler | undefined;
  private ackHandler: AckHandler | undefined;
  private cancelHandler: CancelHandler | undefined;
  private strayHandler: StrayResponseHandler | undefined;

  constructor(
    readonly transport: Transport,
    private readonly opts: TransactionLayerOptions = {},
  ) {
    const t = deriveTimers(opts.timers);
    if (opts.timers?.C !== undefined) t.C = opts.timers.C;
    if (opts.timers?.trying !== undefined) t.trying = opts.timers.trying;
    this.timers = t;
    this.wheel = opts.wheel ?? new TimerWheel();
    this.resolver = opts.resolver;
    this.log = opts.logger?.child({ component: 'transaction' });
    const servers = this.servers;
    const clients = this.clients;
    this.lingering = new ExpiryQueue<Lingering>(this.wheel, (tx) => tx.expire());
    this.ctx = {
      wheel: this.wheel,
      timers: this.timers,
      transport,
      log: this.log,
      lingering: this.lingering,
      ackInAccepted: (ack, tx) => {
        this.counters.acksToTu++;
        this.callTu(() => this.ackHandler?.(ack, tx.remote, tx.local));
      },
      sendCancel: (ict) => this.sendCancel(ict as InviteClientTransaction),
      terminated(tx) {
        const map: Map<string, unknown> = tx.isClient ? clients : servers;
        if (map.get(tx.key) === tx) map.delete(tx.key);
      },
      rekey(tx, oldKey) {
        if (clients.get(oldKey) === tx) clients.delete(oldKey);
        clients.set(tx.key, tx);
      },
    };
    transport.onMessage((msg, remote, local) => this.receive(msg, remote, local));
  }

  /** New requests (not ACK, not CANCEL): the TU must answer through `tx`. */
  onRequest(fn: RequestHandler): void {
    this.requestHandler = fn;
  }
  /** ACKs outside any transaction (ACK for 2xx) and ACKs in an INVITE server's Accepted state. */
  onAck(fn: AckHandler): void {
    this.ackHandler = fn;
  }
  /** A CANCEL matched a pending INVITE and was answered 200; the TU should answer the INVITE 487. Without a handler the layer sends the 487 itself. */
  onCancel(fn: CancelHandler): void {
    this.cancelHandler = fn;
  }
  /** Responses no client transaction matched (2xx retransmissions after the ICT ended, forks). */
  onStrayResponse(fn: StrayResponseHandler): void {
    this.strayHandler = fn;
  }

  /** Entry point from the transport (public so benchmarks and tests can feed parsed messages). */
  receive(msg: SipMessage, remote: Endpoint, local: Endpoint): void {
    if (msg.isRequest) this.receiveRequest(msg, remote, local);
    else this.receiveResponse(msg, remote);
  }

  private receiveRequest(req: SipMessage, remote: Endpoint, local: Endpoint): void {
    const key = serverKey(req);
    const found = this.servers.get(key);
    if (found) {
      this.counters.serverMatched++;
      found.receive(req);
      return;
    }
    const method = req.method;
    if (method === 'ACK') {
      this.counters.acksToTu++;
      this.callTu(() => this.ackHandler?.(req, remote, local));
      return;
    }
    if (method === 'CANCEL') {
      this.receiveCancel(req, key, local);
      return;
    }
    const tx = method === 'INVITE' ? new InviteServerTransaction(this.ctx, key, req, local) : new NonInviteServerTransaction(this.ctx, key, req, local);
    this.servers.set(key, tx);
    this.counters.serverCreated++;
    const handler = this.requestHandler;
    if (!handler) {
      tx.reply(503, 'Service Unavailable');
      return;
    }
    try {
      handler(tx, req);
    } catch (err) {
      this.counters.tuErrors++;
      this.log?.error({ err, method }, 'request handler threw');
      if (tx.state === 'Trying' || tx.state === 'Proceeding') tx.reply(500, 'Server Internal Error');
    }
  }

  /** §9.2: answer the CANCEL itself; tell the TU to end the INVITE with 487. */
  private receiveCancel(cancel: SipMessage, key: string, local: Endpoint): void {
    this.counters.cancels++;
    const tx = new NonInviteServerTransaction(this.ctx, key, cancel, local);
    this.servers.set(key, tx);
    this.counters.serverCreated++;
    const invite = this.servers.get(serverKey(cancel, 'INVITE'));
    if (!(invite instanceof InviteServerTransaction)) {
      tx.reply(481, 'Call/Transaction Does Not Exist');
      return;
    }
    // The CANCEL's 200 carries the INVITE's To tag when it has one already (§9.2, as Kamailio does).
    tx.reply(200, 'OK', { toTag: invite.toTag });
    if (invite.state !== 'Proceeding' || invite.cancelled) return; // already answered: no effect
    invite.cancelled = true;
    const h = this.cancelHandler;
    if (h) this.callTu(() => h(cancel, invite));
    else invite.reply(487, 'Request Terminated');
  }

  private receiveResponse(res: SipMessage, remote: Endpoint): void {
    const key = clientKeyOfResponse(res);
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx) {
      this.counters.responsesMatched++;
      this.callTu(() => tx.receive(res));
      return;
    }
    this.counters.strayResponses++;
    const h = this.strayHandler;
    if (h) this.callTu(() => h(res, remote));
  }

  private callTu(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.tuErrors++;
      this.log?.error({ err }, 'transaction user callback threw');
    }
  }

  /**
   * Sends a request in a new client transaction (INVITE or not; never ACK or CANCEL: see
   * `sendAck` and `cancel`). The layer writes our Via (replacing any placeholder). The destination is
   * `opts.target`, else RFC 3263 on the outbound proxy, the first Route if it is a loose router, or
   * the Request-URI (§8.1.2). Errors (resolution, transport, Timer B/F) reach `user.onError`.
   */
  sendRequest(req: SipMessage, user: ClientTransactionUser, opts: SendOptions = {}): ClientTransaction {
    const method = req.method;
    if (method === 'ACK' || method === 'CANCEL') throw new TransactionError('ERR_TX_STATE', `${method} is not sent in its own client transaction: use sendAck/cancel`);
    const tx = method === 'INVITE' ? new InviteClientTransaction(this.ctx, req, user, true) : new NonInviteClientTransaction(this.ctx, req, user, true);
    this.clients.set(tx.key, tx);
    this.counters.clientCreated++;
    this.withTargets(req, opts, (targets, err) => {
      if (err) return tx.abort(err);
      tx.begin(targets!);
    });
    return tx;
  }

  /** §9.1: cancels a pending INVITE (sent once a provisional response arrived). */
  cancel(tx: ClientTransaction, reason?: string): boolean {
    if (!(tx instanceof InviteClientTransaction)) return false;
    if (reason) tx.cancelReason = reason;
    return tx.cancel();
  }

  private sendCancel(ict: InviteClientTransaction): void {
    const cancel = buildCancel(ict.request, ict.cancelReason);
    const tx = new NonInviteClientTransaction(this.ctx, cancel, IGNORE, false);
    this.clients.set(tx.key, tx);
    this.counters.clientCreated++;
    // §9.1: the CANCEL goes where the INVITE went.
    tx.begin([ict.target]);
  }

  /**
   * Sends a request outside any transaction: the ACK for a 2xx (§13.2.2.4, built by the dialog).
   * Its Via is replaced by ours with a new branch (the ACK for a 2xx is a transaction of its own)
   * in the bytes sent, not in `ack`. Resolves with the bytes and the target so the caller can
   * re-send the same ACK for each retransmitted 2xx.
   */
  sendAck(ack: SipMessage, opts: SendOptions = {}): Promise<{ data: Buffer; target: Endpoint }> {
    return new Promise((resolve, reject) => {
      this.withTargets(ack, opts, (targets, err) => {
        if (err || !targets?.length) return reject(err ?? new TransactionError('ERR_TX_TRANSPORT', 'no target for ACK'));
        const target = targets[0]!;
        let data: Buffer;
        try {
          const sb = this.transport.sentBy(target);
          const via = `SIP/2.0/UDP ${sb.host}:${sb.port};branch=${newBranch()};rport`;
          // into the bytes (via-splice.ts); `ack` itself keeps the TU's Via
          data = spliceVia(serializeMessage(ack), via) ?? (ack.setHeader('Via', via), serializeMessage(ack));
        } catch (e) {
          return reject(new TransactionError('ERR_TX_TRANSPORT', 'no socket for the ACK', { cause: e }));
        }
        this.transport.send(data, target, undefined, (e) => (e ? reject(new TransactionError('ERR_TX_TRANSPORT', e.message, { cause: e })) : resolve({ data, target })));
      });
    });
  }

  /** Targets for a request: explicit, else RFC 3263 on the next hop (sync when it is an IP). */
  private withTargets(req: SipMessage, opts: SendOptions, cb: (targets: Endpoint[] | undefined, err?: TransactionError) => void): void {
    if (opts.target) {
      cb(Array.isArray(opts.target) ? opts.target : [opts.target]);
      return;
    }
    let uri: SipUri;
    try {
      uri = this.nextHop(req);
    } catch (err) {
      cb(undefined, new TransactionError('ERR_TX_TRANSPORT', 'no next hop', { cause: err }));
      return;
    }
    const resolver = (this.resolver ??= new SipResolver());
    let fast: Endpoint[] | undefined;
    try {
      fast = resolver.resolveLiteral(uri);
    } catch (err) {
      cb(undefined, new TransactionError('ERR_TX_TRANSPORT', (err as Error).message, { cause: err }));
      return;
    }
    if (fast) {
      cb(fast);
      return;
    }
    resolver.resolve(uri).then(
      (t) => cb(t),
      (err: unknown) => cb(undefined, new TransactionError('ERR_TX_TRANSPORT', `cannot resolve ${uri.raw}: ${(err as Error).message}`, { cause: err })),
    );
  }

  /** §8.1.2: outbound proxy, else the first Route when it is a loose router, else the Request-URI. */
  private nextHop(req: SipMessage): SipUri {
    if (this.opts.outboundProxy) return this.opts.outboundProxy;
    const route = req.route;
    if (route.length > 0 && route[0]!.uri.params.has('lr')) return route[0]!.uri;
    return req.requestUri;
  }

  /** Stops every timer and forgets every transaction (shutdown). */
  close(): void {
    for (const tx of [...this.servers.values()]) tx.terminate();
    for (const tx of [...this.clients.values()]) tx.terminate();
    this.lingering.clear();
    this.wheel.clear();
  }
}
