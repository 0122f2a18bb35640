/**
 * Items that expire after a delay, batched per wheel tick: one WheelTimer and one array per tick
 * instead of a WheelTimer and a closure per item, and no cancel (the owner ignores an item that
 * no longer matters when it comes due). For what waits long and is almost never cancelled: the
 * lingering of finished transactions (Timers D, I, J, K, L, M: up to 32 s, so ~16,000 calls'
 * worth at 500 calls/s) and the tunnel's readiness timeout.
 *
 * Why it matters beyond the object count: a timer linked into the wheel is written into slot
 * lists that live in V8's old generation. Every such write of a young object into an old one is
 * remembered by the GC, and while V8's old-generation marking runs (most of the time under this
 * load) it keeps the young object and what it references alive through scavenges: the timers of
 * each call promoted the call's whole graph (bench/tunnel/gc.bench.ts: ~4.5 KB per call for the
 * readiness timer alone). A tick's array is created young and filled while young.
 *
 * Timing is the wheel's: an item added with `delayMs` comes due exactly when a timer scheduled
 * with that delay at the same moment would fire.
 */
import { ChurnMap } from './churn-map.js';
import type { TimerWheel } from './wheel.js';

export class ExpiryQueue<T> {
  /** items by the absolute wheel tick they are due at. */
  private readonly due = new ChurnMap<number, T[]>();

  constructor(
    private readonly wheel: TimerWheel,
    /** called once per item when it comes due; a throw goes to `onError` and the other items still run. */
    private readonly expire: (item: T) => void,
    /** default: thrown again from a microtask, as the wheel does with a throwing timer. */
    private readonly onError: (err: unknown) => void = (err) =>
      queueMicrotask(() => {
        throw err;
      }),
  ) {}

  /** items waiting. */
  get size(): number {
    let n = 0;
    for (const b of this.due.values()) n += b.length;
    return n;
  }

  /**
   * `item` comes due after `delayMs`; with `slackMs` (beyond one wheel tick) up to that much
   * later, in a batch shared with the items due in the same slack window: a 2-minute timeout that
   * may fire a second late needs one batch a second instead of one per 10 ms tick.
   */
  add(item: T, delayMs: number, slackMs = 0): void {
    let tick = this.wheel.tickAfter(delayMs);
    const slackTicks = Math.floor(slackMs / this.wheel.tickMs);
    if (slackTicks > 1) tick = Math.ceil(tick / slackTicks) * slackTicks;
    let batch = this.due.get(tick);
    if (!batch) {
      const b: T[] = (batch = []);
      this.due.set(tick, b);
      this.wheel.scheduleAtTick(tick, () => this.fire(tick, b));
    }
    batch.push(item);
  }

  private fire(tick: number, batch: T[]): void {
    if (this.due.get(tick) === batch) this.due.delete(tick);
    for (let i = 0; i < batch.length; i++) {
      try {
        this.expire(batch[i]!);
      } catch (err) {
        this.onError(err);
      }
    }
    batch.length = 0;
  }

  /** Forgets every item without expiring it (shutdown): the batches' timers find them empty. */
  clear(): void {
    for (const b of this.due.values()) b.length = 0;
    this.due.clear();
  }
}
