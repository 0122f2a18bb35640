/**
 * Non-INVITE client transaction, RFC 3261 §17.1.2 (figure 6).
 *
 *   Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
 *   Trying --200-699--> Completed
 *   Timer E: retransmit, T1 doubling up to T2 in Trying, every T2 in Proceeding
 *   Timer F (64*T1): timeout → TU gets ERR_TX_TIMEOUT (or the next RFC 3263 target is tried)
 */
import type { SipMessage } from '../sip/index.js';
import { ClientTransaction, type ClientTransactionUser, type ClientTxContext } from './client.js';
import { TransactionError } from './errors.js';
import type { WheelTimer } from './wheel.js';

export class NonInviteClientTransaction extends ClientTransaction {
  get isInvite(): boolean {
    return false;
  }
  private timerE: WheelTimer | null = null;
  private intervalE = 0;
  private timerF: WheelTimer | null = null;

  constructor(ctx: ClientTxContext, request: SipMessage, user: ClientTransactionUser, ownVia: boolean) {
    super(ctx, request, user, ownVia, 'Trying');
  }

  protected start(): void {
    const w = this.ctx.wheel;
    this.intervalE = this.ctx.timers.E;
    this.timerE = w.schedule(this.intervalE, () => this.fireE());
    this.timerF = w.schedule(this.ctx.timers.F, () => this.fireF());
    this.transmit();
  }

  protected restart(): void {
    this.state = 'Trying';
    this.start();
  }

  private fireE(): void {
    if (this.state !== 'Trying' && this.state !== 'Proceeding') return;
    const T2 = this.ctx.timers.T2;
    this.intervalE = this.state === 'Trying' ? Math.min(2 * this.intervalE, T2) : T2;
    this.ctx.wheel.reschedule(this.timerE!, this.intervalE);
    this.transmit();
  }

  private fireF(): void {
    this.timerF = null;
    this.fail(new TransactionError('ERR_TX_TIMEOUT', `Timer F: no final response to ${this.request.method} from ${this.target.address}:${this.target.port}`));
  }

  receive(res: SipMessage): void {
    const s = this.state;
    if (s !== 'Trying' && s !== 'Proceeding') return; // Completed absorbs retransmissions
    this.answered = true;
    if (res.status < 200) {
      this.state = 'Proceeding';
      this.user.onResponse(res, this);
      return;
    }
    const w = this.ctx.wheel;
    w.cancel(this.timerE);
    w.cancel(this.timerF);
    this.timerE = this.timerF = null;
    this.state = 'Completed';
    this.ctx.lingering.add(this, this.ctx.timers.K);
    this.user.onResponse(res, this);
    // Completed absorbs retransmissions: the TU is not called again (client.ts linger)
    if (this.state === 'Completed') this.linger(false);
  }

  protected cancelTimers(): void {
    const w = this.ctx.wheel;
    w.cancel(this.timerE);
    w.cancel(this.timerF);
    this.timerE = this.timerF = null;
  }
}
