/**
 * What INVITE and non-INVITE server transactions share: the request, where responses go
 * (§18.2.2, computed once from the stamped top Via), the last response kept as bytes for
 * retransmission, and the TU's hooks.
 *
 * Once the final response is out, the transaction lingers (Timer J, I, L) and keeps the request
 * as bytes only (linger.ts): `request` re-parses them if anyone still asks.
 */
import { createResponse, serializeMessage, type SipMessage } from '../sip/index.js';
import { responseTarget, type Endpoint } from '../transport/index.js';
import type { TxContext, TxState } from './context.js';
import { TransactionError } from './errors.js';
import { newTag } from './ids.js';
import { flatten, keep as keepBytes, keptBytes, lastKeptIn, lingerBytes, reparse } from './linger.js';

export interface ReplyOptions {
  /** extra header fields, in order. */
  headers?: Array<[string, string]>;
  body?: Buffer | string;
  contentType?: string;
  /** the To tag for this response; default: one tag per transaction, made on first use. */
  toTag?: string;
}

export abstract class ServerTransaction {
  /** on the prototype, not a field: ~16,000 calls' transactions linger at 500 calls/s, 8 bytes each */
  get isClient(): boolean {
    return false;
  }
  abstract readonly isInvite: boolean;
  state: TxState;
  /** where responses go (§18.2.2) and the socket they leave from. */
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /**
   * The last response sent, re-sent when the request is retransmitted: its bytes are at
   * `resAt`, `resLen` in `resIn` (a linger slab once final: linger.ts keep), null when none is kept.
   */
  private resIn: Buffer | null = null;
  private resAt = 0;
  private resLen = 0;
  lastStatus = 0;
  private tag: string | undefined;
  /** the request while the TU may answer it; undefined once lingering (see `request`). */
  private req: SipMessage | undefined;
  /** its bytes, kept instead of the parsed message while lingering. */
  private reqBytes: Buffer | undefined;
  /** Transport error or Timer H: the TU learns that its response did not get through. */
  onError: ((err: TransactionError, tx: ServerTransaction) => void) | undefined;
  onTerminated: ((tx: ServerTransaction) => void) | undefined;

  constructor(
    protected readonly ctx: TxContext,
    readonly key: string,
    request: SipMessage,
    local: Endpoint,
    initial: TxState,
  ) {
    this.req = request;
    this.state = initial;
    this.remote = responseTarget(request.via[0]!);
    this.local = local;
  }

  /** The request that created the transaction (re-parsed from its bytes after `linger`). */
  get request(): SipMessage {
    if (this.req) return this.req;
    if (!this.reqBytes) throw new TransactionError('ERR_TX_STATE', 'the transaction has terminated or its TU released it: its request is gone');
    return (this.req = reparse(this.reqBytes));
  }

  /**
   * The TU will not read `request` again (nor answer again): once the final response is out, the
   * lingering transaction keeps only what absorbing retransmissions needs (the last response),
   * not the request's bytes for 32 s. Before the final response it does nothing. `request`
   * is then ERR_TX_STATE.
   */
  releaseRequest(): void {
    if (this.lastStatus < 200) return;
    void this.toTag; // matching an RFC 2543 ACK needs it
    this.reqBytes = undefined;
    this.req = undefined;
  }

  /** The To tag this transaction puts in its responses (§8.2.6.2): the request's, or a new one. */
  get toTag(): string {
    return (this.tag ??= this.request.to.tag ?? newTag());
  }

  /** Builds a response to the request and sends it through the state machine. */
  reply(status: number, reason?: string, opts: ReplyOptions = {}): SipMessage {
    const res = this.buildResponse(status, reason, opts);
    this.respond(res);
    return res;
  }

  buildResponse(status: number, reason?: string, opts: ReplyOptions = {}): SipMessage {
    // §8.2.6.2: a To tag on every response but 100 Trying (one tag per transaction).
    return createResponse(this.request, status, reason, {
      toTag: status > 100 && !this.request.to.tag ? (opts.toTag ?? this.toTag) : undefined,
      headers: opts.headers,
      body: opts.body,
      contentType: opts.contentType,
    });
  }

  /** Passes a response from the TU through the state machine (§17.2.1, §17.2.2). */
  abstract respond(res: SipMessage): void;
  /** A retransmission of the request (or an ACK, for INVITE) arrived. */
  abstract receive(req: SipMessage): void;

  /** Whether a last response is kept (to re-send). */
  protected get hasLastResponse(): boolean {
    return this.resIn !== null;
  }

  /** Sends the last response again (a retransmitted request, Timer G); nothing when none is kept. */
  protected retransmitLast(): void {
    const mem = this.resIn;
    if (mem) this.transmit(keptBytes(mem, this.resAt, this.resLen));
  }

  protected transmit(data: Buffer): void {
    this.ctx.transport.send(data, this.remote, this.local, (err) => {
      if (err && this.state !== 'Terminated') this.fail(new TransactionError('ERR_TX_TRANSPORT', `response not sent: ${err.message}`, { cause: err }));
    });
  }

  /**
   * Sends `res` and remembers it as the last response; `keep` false forgets it (RFC 6026
   * Accepted: INVITE retransmissions are absorbed, the 2xx is the TU's to retransmit).
   */
  protected sendResponse(res: SipMessage, keep = true): void {
    const data = serializeMessage(res);
    this.lastStatus = res.status;
    const final = res.status >= 200;
    // a final response that may be re-sent for 32 s is copied into a linger slab (linger.ts)
    if (!keep) this.resIn = null;
    else if (final) {
      this.resAt = keepBytes(data);
      this.resIn = lastKeptIn();
    } else {
      this.resIn = data;
      this.resAt = 0;
    }
    this.resLen = data.length;
    if (final) this.linger();
    this.transmit(data);
  }

  /** The outcome is decided: keep the request as bytes only (linger.ts). */
  protected linger(): void {
    const req = this.req;
    if (!req) return;
    // the tag of our responses, needed to match an RFC 2543 ACK after the request is gone
    void this.toTag;
    this.reqBytes = lingerBytes(serializeMessage(req));
    this.req = undefined;
    flatten(this.key);
  }

  /** §17.2.4: a transport failure terminates the transaction and tells the TU. */
  protected fail(err: TransactionError): void {
    const cb = this.onError;
    this.terminate();
    cb?.(err, this);
  }

  protected abstract cancelTimers(): void;

  /** Timer J, I or L is up (ctx.lingering); nothing when the transaction ended otherwise. */
  expire(): void {
    this.terminate();
  }

  terminate(): void {
    if (this.state === 'Terminated') return;
    this.state = 'Terminated';
    this.cancelTimers();
    this.resIn = null;
    this.linger();
    this.ctx.terminated(this);
    const cb = this.onTerminated;
    this.onError = this.onTerminated = undefined;
    cb?.(this);
    // Kept bytes are views into slabs shared with other transactions (linger.ts): a call that
    // outlives its transactions (it holds the INVITE's for its whole length) must not pin them.
    this.reqBytes = undefined;
    this.req = undefined;
  }

  protected stateError(what: string): TransactionError {
    return new TransactionError('ERR_TX_STATE', `${what} in state ${this.state}`);
  }
}
