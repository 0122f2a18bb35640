/**
 * INVITE server transaction, RFC 3261 §17.2.1 (figure 7) with RFC 6026 §7.1 (figure 5).
 *
 *   Proceeding --2xx from TU--> Accepted --Timer L--> Terminated            (RFC 6026)
 *   Proceeding --300-699 from TU--> Completed --ACK--> Confirmed --Timer I--> Terminated
 *   Completed --Timer G--> resend the response (T1, doubling, at most T2)
 *   Completed --Timer H--> Terminated, TU told ERR_TX_TIMEOUT (no ACK came)
 *
 * 100 Trying (§17.2.1): sent by the transaction when the TU has not sent a provisional or final
 * response within 200 ms (TimerValues.trying), not at once. Why: most INVITEs that sipis answers
 * itself get a final answer or a 180 within milliseconds (the tunnel sends its own 100 at once
 * before pushing), so an immediate 100 would be one extra datagram per call; 200 ms is still
 * well before the client's Timer A (T1 = 500 ms), so no retransmission is provoked.
 *
 * In Accepted, INVITE retransmissions are absorbed (the TU retransmits its 2xx itself, §13.3.1.4)
 * and ACKs go to the TU (RFC 6026 §8.7); further 2xx from the TU are sent (§7.1).
 */
import { createResponse, type SipMessage } from '../sip/index.js';
import type { Endpoint } from '../transport/index.js';
import type { TxContext } from './context.js';
import { TransactionError } from './errors.js';
import { hasMagicCookie } from './key.js';
import { ServerTransaction } from './server.js';
import type { WheelTimer } from './wheel.js';

export class InviteServerTransaction extends ServerTransaction {
  get isInvite(): boolean {
    return true;
  }
  private trying: WheelTimer | null = null;
  private timerG: WheelTimer | null = null;
  private intervalG = 0;
  private timerH: WheelTimer | null = null;
  /** set by the layer when a CANCEL for this INVITE was answered 200 (§9.2). */
  cancelled = false;

  /** false for an RFC 2543 peer (no magic cookie in the branch). */
  private readonly rfc3261: boolean;

  constructor(ctx: TxContext, key: string, request: SipMessage, local: Endpoint) {
    super(ctx, key, request, local, 'Proceeding');
    this.rfc3261 = hasMagicCookie(request);
    // trying = 0 configures the other choice §17.2.1 allows: 100 at once, no timer.
    if (ctx.timers.trying <= 0) this.sendTrying();
    else this.trying = ctx.wheel.schedule(ctx.timers.trying, () => this.sendTrying());
  }

  private sendTrying(): void {
    this.trying = null;
    if (this.state !== 'Proceeding' || this.hasLastResponse) return;
    this.sendResponse(createResponse(this.request, 100, 'Trying'));
  }

  /** A retransmitted INVITE, or an ACK (the layer maps ACK to this transaction's key). */
  receive(req: SipMessage): void {
    if (req.method === 'ACK') return this.receiveAck(req);
    // INVITE retransmission: Proceeding and Completed resend the last response (§17.2.1);
    // Accepted absorbs it (RFC 6026 §7.1); Confirmed absorbs it.
    if (this.state === 'Proceeding' || this.state === 'Completed') this.retransmitLast();
  }

  private receiveAck(ack: SipMessage): void {
    // §17.2.3, RFC 2543 peers: matched without a branch, the ACK must also carry our To tag.
    if (!this.rfc3261 && ack.to.tag !== this.toTag) return;
    if (this.state === 'Completed') {
      this.ctx.wheel.cancel(this.timerG);
      this.ctx.wheel.cancel(this.timerH);
      this.timerG = this.timerH = null;
      this.state = 'Confirmed';
      this.ctx.lingering.add(this, this.ctx.timers.I);
    } else if (this.state === 'Accepted') {
      this.ctx.ackInAccepted(ack, this);
    }
    // Confirmed: absorbed.
  }

  respond(res: SipMessage): void {
    const s = this.state;
    const status = res.status;
    if (s === 'Accepted') {
      // RFC 6026 §7.1: further 2xx (retransmissions by the TU) are sent; nothing else is allowed.
      if (status >= 200 && status < 300) {
        this.sendResponse(res, false);
        return;
      }
      throw this.stateError(`response ${status}`);
    }
    if (s !== 'Proceeding') throw this.stateError(`response ${status}`);
    if (this.trying) {
      this.ctx.wheel.cancel(this.trying);
      this.trying = null;
    }
    // State and timers first, then the send: an answer to it (an ACK) may come back before
    // `send` returns on an in-memory transport, and must find the new state.
    const w = this.ctx.wheel;
    const t = this.ctx.timers;
    if (status >= 200 && status < 300) {
      this.state = 'Accepted';
      this.ctx.lingering.add(this, t.L);
    } else if (status >= 300) {
      this.state = 'Completed';
      this.intervalG = t.G;
      this.timerG = w.schedule(this.intervalG, () => this.fireG());
      this.timerH = w.schedule(t.H, () => this.fireH());
    }
    // Accepted forgets its 2xx (INVITE retransmissions are absorbed, RFC 6026 §7.1)
    this.sendResponse(res, this.state !== 'Accepted');
  }

  private fireG(): void {
    if (this.state !== 'Completed' || !this.hasLastResponse) return;
    this.intervalG = Math.min(2 * this.intervalG, this.ctx.timers.T2);
    this.ctx.wheel.reschedule(this.timerG!, this.intervalG);
    this.retransmitLast();
  }

  private fireH(): void {
    this.timerH = null;
    // §17.2.1: "the server transaction … SHOULD inform the TU that a failure has occurred".
    this.fail(new TransactionError('ERR_TX_TIMEOUT', 'Timer H: no ACK for the final response'));
  }

  protected cancelTimers(): void {
    const w = this.ctx.wheel;
    w.cancel(this.trying);
    w.cancel(this.timerG);
    w.cancel(this.timerH);
    this.trying = this.timerG = this.timerH = null;
  }
}
