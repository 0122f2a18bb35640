/**
 * INVITE client transaction, RFC 3261 §17.1.1 (figure 5) with RFC 6026 §7.2 (figure 3).
 *
 *   Calling --1xx--> Proceeding
 *   Calling/Proceeding --2xx--> Accepted --Timer M--> Terminated   (RFC 6026: 2xx retransmissions
 *                                                                  and forked 2xx reach the TU)
 *   Calling/Proceeding --300-699--> Completed (ACK sent) --Timer D--> Terminated
 *   Timer A: retransmit, T1 doubling (Calling only); Timer B (64*T1): timeout in Calling
 *   Timer C (3 min, re-armed by each 1xx): guard in Proceeding so no transaction lives for ever
 *
 * The ACK for a non-2xx final response is built here (§17.1.1.3) and re-sent for every
 * retransmission of that response. The ACK for a 2xx is the TU's (§13.2.2.4): it is a request
 * of its own, outside any transaction.
 *
 * CANCEL (§9.1): `cancel()` asks the layer to send one once a provisional response has arrived.
 */
import { serializeMessage, type SipMessage } from '../sip/index.js';
import { buildAckForNon2xx } from './build.js';
import { ClientTransaction, type ClientTransactionUser, type ClientTxContext } from './client.js';
import { TransactionError } from './errors.js';
import { lingerBytes } from './linger.js';
import type { WheelTimer } from './wheel.js';

export class InviteClientTransaction extends ClientTransaction {
  get isInvite(): boolean {
    return true;
  }
  private timerA: WheelTimer | null = null;
  private intervalA = 0;
  private timerB: WheelTimer | null = null;
  private ack: Buffer | null = null;
  /** true once a provisional response arrived: a CANCEL may be sent (§9.1). */
  provisional = false;
  /** the TU asked to cancel before any provisional response: send it when one comes. */
  cancelPending = false;
  /** RFC 3326 Reason for the CANCEL, when the TU gave one. */
  cancelReason: string | undefined;

  constructor(ctx: ClientTxContext, request: SipMessage, user: ClientTransactionUser, ownVia: boolean) {
    super(ctx, request, user, ownVia, 'Calling');
  }

  protected start(): void {
    const w = this.ctx.wheel;
    this.intervalA = this.ctx.timers.A;
    this.timerA = w.schedule(this.intervalA, () => this.fireA());
    this.timerB = w.schedule(this.ctx.timers.B, () => this.fireB());
    this.transmit();
  }

  protected restart(): void {
    this.state = 'Calling';
    this.start();
  }

  private fireA(): void {
    if (this.state !== 'Calling') return;
    this.intervalA *= 2;
    this.ctx.wheel.reschedule(this.timerA!, this.intervalA);
    this.transmit();
  }

  private fireB(): void {
    this.timerB = null;
    if (this.state === 'Proceeding') {
      // Timer C guard: nothing final for C ms after the last provisional. Cancel the INVITE so
      // the callee stops ringing, and tell the TU as a timeout rather than wait for ever.
      this.ctx.sendCancel(this);
      this.fail(new TransactionError('ERR_TX_TIMEOUT', `Timer C: no final response to INVITE within ${this.ctx.timers.C} ms of the last provisional`));
      return;
    }
    this.fail(new TransactionError('ERR_TX_TIMEOUT', `Timer B: no response to INVITE from ${this.target.address}:${this.target.port}`));
  }

  /**
   * §9.1: asks for a CANCEL. Sent at once when a provisional response has arrived, else when the
   * first one arrives; never after a final response. Returns false when it is too late.
   */
  cancel(): boolean {
    if (this.state === 'Calling') {
      this.cancelPending = true;
      return true;
    }
    if (this.state === 'Proceeding') {
      this.ctx.sendCancel(this);
      return true;
    }
    return false;
  }

  receive(res: SipMessage): void {
    const status = res.status;
    const s = this.state;
    const w = this.ctx.wheel;
    this.answered = true;
    if (status < 200) {
      if (s !== 'Calling' && s !== 'Proceeding') return;
      if (s === 'Calling') {
        w.cancel(this.timerA);
        this.timerA = null;
        this.state = 'Proceeding';
      }
      // §17.1.1.2: Timer B only runs in Calling; in Proceeding the same timer object becomes the
      // Timer C guard, re-armed by every provisional response (§16.6 step 11 semantics).
      if (this.timerB) w.reschedule(this.timerB, this.ctx.timers.C);
      this.provisional = true;
      this.user.onResponse(res, this);
      if (this.cancelPending) {
        this.cancelPending = false;
        this.ctx.sendCancel(this);
      }
      return;
    }
    if (status < 300) {
      if (s === 'Calling' || s === 'Proceeding') {
        this.stopAB();
        this.state = 'Accepted';
        this.ctx.lingering.add(this, this.ctx.timers.M);
        this.user.onResponse(res, this);
        // RFC 6026 §7.2: later 2xx still go to the TU, so it stays
        if (this.state === 'Accepted') this.linger(true);
      } else if (s === 'Accepted') {
        this.user.onResponse(res, this); // RFC 6026 §7.2: every 2xx goes to the TU
      }
      return;
    }
    if (s === 'Calling' || s === 'Proceeding') {
      this.stopAB();
      this.state = 'Completed';
      this.ack = lingerBytes(serializeMessage(buildAckForNon2xx(this.request, res)));
      this.sendAck();
      this.ctx.lingering.add(this, this.ctx.timers.D);
      this.user.onResponse(res, this);
      // Completed: retransmitted final responses are ACKed here, never passed up
      if (this.state === 'Completed') this.linger(false);
    } else if (s === 'Completed') {
      this.sendAck(); // a retransmitted final response: ACK again, not passed up
    }
  }

  private sendAck(): void {
    if (this.ack) this.ctx.transport.send(this.ack, this.target);
  }

  private stopAB(): void {
    this.ctx.wheel.cancel(this.timerA);
    this.ctx.wheel.cancel(this.timerB);
    this.timerA = this.timerB = null;
  }

  protected cancelTimers(): void {
    this.stopAB();
    this.ack = null;
  }
}
