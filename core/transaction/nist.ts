/**
 * Non-INVITE server transaction, RFC 3261 §17.2.2 (figure 8).
 *
 *   Trying --1xx from TU--> Proceeding --final from TU--> Completed --Timer J--> Terminated
 *   Trying --final from TU--> Completed
 * A retransmitted request is absorbed in Trying and answered with the last response after that.
 * Timer J (64*T1 on UDP) keeps the transaction in Completed to absorb late retransmissions.
 */
import type { SipMessage } from '../sip/index.js';
import type { Endpoint } from '../transport/index.js';
import type { TxContext } from './context.js';
import { ServerTransaction } from './server.js';

export class NonInviteServerTransaction extends ServerTransaction {
  get isInvite(): boolean {
    return false;
  }

  constructor(ctx: TxContext, key: string, request: SipMessage, local: Endpoint) {
    super(ctx, key, request, local, 'Trying');
  }

  receive(_req: SipMessage): void {
    // Trying: absorbed (the TU has not answered yet). Proceeding/Completed: resend.
    if (this.state === 'Proceeding' || this.state === 'Completed') this.retransmitLast();
  }

  respond(res: SipMessage): void {
    const s = this.state;
    if (s === 'Completed' || s === 'Terminated') throw this.stateError(`response ${res.status}`);
    if (res.status < 200) this.state = 'Proceeding';
    else {
      this.state = 'Completed';
      this.ctx.lingering.add(this, this.ctx.timers.J);
    }
    this.sendResponse(res);
  }

  protected cancelTimers(): void {
    // Timer J runs in ctx.lingering: nothing to cancel
  }
}
