/**
 * What INVITE and non-INVITE client transactions share: the request as bytes, the ordered RFC 3263
 * target list with failover, the TU's callbacks, and termination.
 *
 * Failover (RFC 3263 §4.3): when Timer B/F fires or the transport fails before any response came
 * back, the next target is tried as a new transaction (a new branch, so a late answer from the
 * first target cannot be taken for one from the second). The TU keeps the same object.
 *
 * Once the outcome is decided the transaction lingers (Timer D, K, M) and keeps the request as
 * bytes only (linger.ts); a TU that can no longer be called (Completed) is let go.
 */
import { serializeMessage, type SipMessage } from '../sip/index.js';
import type { Endpoint } from '../transport/index.js';
import type { TxContext, TxState } from './context.js';
import { TransactionError } from './errors.js';
import { newBranch } from './ids.js';
import { clientKey } from './key.js';
import { flatten, lingerBytes, reparse } from './linger.js';
import { spliceVia } from './via-splice.js';

const EMPTY = Buffer.alloc(0);
const NO_TARGETS: Endpoint[] = [];

export interface ClientTransactionUser {
  /** every response the state machine passes up (1xx, the final one, RFC 6026 extra 2xx). */
  onResponse(res: SipMessage, tx: ClientTransaction): void;
  /** Timer B/F (ERR_TX_TIMEOUT, treat as 408) or a transport failure (ERR_TX_TRANSPORT, 503). */
  onError?(err: TransactionError, tx: ClientTransaction): void;
  onTerminated?(tx: ClientTransaction): void;
}

/** What a Completed transaction's TU becomes: nothing reaches it any more (retransmissions are absorbed). */
const GONE: ClientTransactionUser = { onResponse() {} };

/** The layer's side of a client transaction: re-keying on failover. */
export interface ClientTxContext extends TxContext {
  rekey(tx: ClientTransaction, oldKey: string): void;
  /** §9.1: sends a CANCEL for a pending INVITE (the layer's, so no transaction holds a closure for it). */
  sendCancel(ict: ClientTransaction): void;
}

export abstract class ClientTransaction {
  /** on the prototype, not a field (server.ts) */
  get isClient(): boolean {
    return true;
  }
  abstract readonly isInvite: boolean;
  state: TxState;
  key: string;
  branch: string;
  /** the target this transaction sends to now. */
  target: Endpoint;
  /** the datagram (re)transmitted. */
  protected data: Buffer;
  private targetIndex = 0;
  /** the failure that ended the transaction, if one did. */
  error: TransactionError | undefined;
  /** true once any response arrived: from then on no failover. */
  protected answered = false;

  /** the RFC 3263 targets, known once `begin` is called. */
  private targets: Endpoint[] = [];
  /** the request until the transaction lingers (see `request`). */
  private req: SipMessage | undefined;

  constructor(
    protected readonly ctx: ClientTxContext,
    request: SipMessage,
    public user: ClientTransactionUser,
    /**
     * true: the layer writes our Via, replacing any the request has (createRequest needs one, so
     * the TU may put a placeholder): sent-by of the socket used, a new branch, `rport` per RFC
     * 3581; replaced again on failover. false: the request keeps its Via (CANCEL, which must
     * repeat the INVITE's, §9.1).
     */
    private readonly ownVia: boolean,
    initial: TxState,
  ) {
    this.req = request;
    this.state = initial;
    this.branch = ownVia ? newBranch() : request.via[0]!.branch!;
    this.key = clientKey(this.branch, request.cseq.method);
    this.target = { address: '', port: 0 };
    this.data = EMPTY;
  }

  /** The request; its top Via carries this transaction's branch once `begin` ran (re-parsed from the sent bytes after `linger`). */
  get request(): SipMessage {
    if (this.req) return this.req;
    if (this.data.length === 0) throw new TransactionError('ERR_TX_STATE', 'the transaction has terminated (or not begun, or its TU released it): its request is gone');
    return (this.req = reparse(this.data));
  }

  /**
   * The outcome is decided (Completed, Accepted): keep the sent bytes instead of the parsed
   * request, and let the TU go when nothing can reach it any more (`keepUser` false: Completed
   * absorbs every retransmission; only `onTerminated` is still due).
   */
  protected linger(keepUser: boolean): void {
    if (this.data.length > 0) {
      this.data = lingerBytes(this.data);
      // no failover once answered: the target list is not needed any more
      this.targets = NO_TARGETS;
      this.req = undefined;
    }
    if (!keepUser && !this.user.onTerminated) this.user = GONE;
    // key and branch are concatenations (a tree of 4 strings): flat, the scavenger keeps 2
    flatten(this.key);
    flatten(this.branch);
  }

  /**
   * The TU will not read `request` again: once the outcome is decided (Accepted, Completed) the
   * lingering transaction drops the request's bytes (a 2xx in Accepted goes to the TU, a non-2xx
   * in Completed is ACKed from the ACK's own bytes). Before that it does nothing (the request
   * may still be retransmitted or cancelled). `request` is then ERR_TX_STATE.
   */
  releaseRequest(): void {
    if (this.state !== 'Accepted' && this.state !== 'Completed') return;
    this.data = EMPTY;
    this.req = undefined;
    this.targets = NO_TARGETS;
  }

  /** Starts the transaction towards `targets` (in RFC 3263 order). */
  begin(targets: Endpoint[]): void {
    if (this.state === 'Terminated') return;
    if (targets.length === 0) {
      this.fail(new TransactionError('ERR_TX_TRANSPORT', 'no target to send to'));
      return;
    }
    this.targets = targets;
    this.target = targets[0]!;
    if (this.ownVia) {
      let sb;
      try {
        sb = this.ctx.transport.sentBy(this.target);
      } catch (err) {
        this.fail(new TransactionError('ERR_TX_TRANSPORT', `no socket for ${this.target.address}`, { cause: err }));
        return;
      }
      this.writeVia(`SIP/2.0/UDP ${sb.host}:${sb.port};branch=${this.branch};rport`);
    } else this.data = serializeMessage(this.request);
    this.start();
  }

  /**
   * Our Via in place of the TU's into the bytes to send (via-splice.ts). The parsed request is
   * let go: `request` parses the bytes with our Via again if anyone asks (a CANCEL or the ACK for
   * a non-2xx copies our Via, §9.1, §17.1.1.3).
   */
  private writeVia(via: string): void {
    const data = spliceVia(serializeMessage(this.request), via);
    if (data) {
      this.data = data;
      this.req = undefined;
      return;
    }
    this.request.setHeader('Via', via);
    this.data = serializeMessage(this.request);
  }

  /** Sends the request and starts the timers. */
  protected abstract start(): void;
  /** A response whose branch and CSeq method match this transaction. */
  abstract receive(res: SipMessage): void;
  protected abstract cancelTimers(): void;

  protected transmit(): void {
    const branch = this.branch;
    this.ctx.transport.send(this.data, this.target, undefined, (err) => {
      // An error for a send of a previous target (after failover) is stale.
      if (err && this.state !== 'Terminated' && this.branch === branch) {
        this.fail(new TransactionError('ERR_TX_TRANSPORT', `request not sent to ${this.target.address}:${this.target.port}: ${err.message}`, { cause: err }));
      }
    });
  }

  /** Timeout or transport error: try the next target, else terminate and tell the TU. */
  protected fail(err: TransactionError): void {
    if (!this.answered && this.ownVia && this.targetIndex + 1 < this.targets.length) {
      this.cancelTimers();
      this.target = this.targets[++this.targetIndex]!;
      const oldKey = this.key;
      this.branch = newBranch();
      this.key = clientKey(this.branch, this.request.cseq.method);
      const sb = this.ctx.transport.sentBy(this.target);
      // The layer added the only Via: replace it.
      this.writeVia(`SIP/2.0/UDP ${sb.host}:${sb.port};branch=${this.branch};rport`);
      this.ctx.rekey(this, oldKey);
      this.restart();
      return;
    }
    const user = this.user;
    this.error = err;
    this.terminate();
    user.onError?.(err, this);
  }

  /** Ends the transaction with `err` without trying other targets (resolution failed). */
  abort(err: TransactionError): void {
    if (this.state === 'Terminated') return;
    const user = this.user;
    this.error = err;
    this.terminate();
    user.onError?.(err, this);
  }

  /** Back to the initial state for the next target. */
  protected abstract restart(): void;

  /** Timer D, K or M is up (ctx.lingering); nothing when the transaction ended otherwise. */
  expire(): void {
    this.terminate();
  }

  terminate(): void {
    if (this.state === 'Terminated') return;
    this.state = 'Terminated';
    this.cancelTimers();
    this.ctx.terminated(this);
    this.user.onTerminated?.(this);
    // the bytes are a view into a slab shared with other transactions (server.ts terminate)
    this.data = EMPTY;
    this.req = undefined;
    this.user = GONE;
  }
}
