/**
 * §13.3.1.4: the UAS core, not the transaction, retransmits its 2xx to an INVITE until the ACK
 * arrives: first after T1, doubling up to T2; after 64*T1 without ACK it gives up (and should end
 * the dialog with BYE, §13.3.1.4). Runs on the transaction layer's wheel, sending through the
 * INVITE server transaction, which passes 2xx through in its Accepted state (RFC 6026 §7.1).
 */
import type { SipMessage } from '../sip/index.js';
import type { ServerTransaction, TimerValues, TimerWheel, WheelTimer } from '../transaction/index.js';

export class Retransmit2xx {
  private timer: WheelTimer | null;
  private interval: number;
  private readonly deadline: WheelTimer;

  constructor(
    private readonly wheel: TimerWheel,
    timers: TimerValues,
    private readonly tx: ServerTransaction,
    private readonly response: SipMessage,
    onTimeout: () => void,
  ) {
    this.interval = timers.T1;
    const T2 = timers.T2;
    this.timer = wheel.schedule(this.interval, () => this.fire(T2));
    this.deadline = wheel.schedule(64 * timers.T1, () => {
      this.stop();
      onTimeout();
    });
  }

  private fire(T2: number): void {
    if (this.tx.state !== 'Accepted') return this.stop();
    this.tx.respond(this.response);
    this.interval = Math.min(2 * this.interval, T2);
    this.wheel.reschedule(this.timer!, this.interval);
  }

  /** The ACK arrived (or the call ended): stop. */
  stop(): void {
    this.wheel.cancel(this.timer);
    this.wheel.cancel(this.deadline);
    this.timer = null;
  }
}
