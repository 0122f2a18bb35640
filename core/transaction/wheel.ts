/**
 * One hashed timer wheel for every transaction timer (Varghese & Lauck, scheme 6): O(1) schedule,
 * O(1) cancel (doubly linked slot lists), one native timer for the whole wheel instead of one
 * `setTimeout` per transaction. Resolution is one tick (10 ms by default): 2 % of T1, far below
 * anything RFC 3261 depends on, so Timers A/E/G run on the wheel too.
 *
 * The clock is injectable: `new TimerWheel({ clock: 'manual' })` never arms a native timer and
 * only moves when `advance(ms)` is called, which lets tests run 64*T1 of timers instantly.
 */

export interface WheelOptions {
  /** tick length in ms, default 10. */
  tickMs?: number;
  /**
   * slots per revolution (rounded up to a power of two), default 4096: 40.96 s at 10 ms, so the
   * 32 s timers (B, D, F, H, J, L, M) sit in their slot for one revolution and each tick only
   * visits timers that are due.
   */
  slots?: number;
  /** 'real' (default) follows performance.now(); 'manual' moves only with advance(). */
  clock?: 'real' | 'manual';
}

/** A scheduled callback; keep it to cancel. Fields are the wheel's, do not touch. */
export class WheelTimer {
  /** absolute tick at which it fires. */
  deadline = 0;
  prev: WheelTimer | null = null;
  next: WheelTimer | null = null;
  /** the slot head it sits in, null when not scheduled. */
  slot: WheelSlot | null = null;
  constructor(public fn: () => void) {}
  get pending(): boolean {
    return this.slot !== null;
  }
}

class WheelSlot {
  head: WheelTimer | null = null;
}

/** Marks a timer detached for firing in the current tick. */
const DUE = new WheelSlot();

export class TimerWheel {
  readonly tickMs: number;
  private readonly mask: number;
  private readonly slots: WheelSlot[];
  private readonly manual: boolean;
  /** the last tick processed. */
  private current = 0;
  private readonly origin: number;
  private manualNow = 0;
  private count = 0;
  private native: NodeJS.Timeout | null = null;
  private running = false;
  private readonly due: WheelTimer[] = [];

  constructor(opts: WheelOptions = {}) {
    this.tickMs = opts.tickMs ?? 10;
    let n = 1;
    while (n < (opts.slots ?? 4096)) n <<= 1;
    this.mask = n - 1;
    this.slots = Array.from({ length: n }, () => new WheelSlot());
    this.manual = opts.clock === 'manual';
    this.origin = this.manual ? 0 : performance.now();
  }

  /** timers scheduled and not yet fired or cancelled. */
  get size(): number {
    return this.count;
  }

  /** ms since the wheel's origin on its own clock. */
  now(): number {
    return this.manual ? this.manualNow : performance.now() - this.origin;
  }

  /** Schedules `fn` after `delayMs` (rounded up to whole ticks, at least one). */
  schedule(delayMs: number, fn: () => void): WheelTimer {
    const t = new WheelTimer(fn);
    this.reschedule(t, delayMs);
    return t;
  }

  /** (Re)arms an existing timer object: saves an allocation for retransmit timers (A, E, G). */
  reschedule(t: WheelTimer, delayMs: number): void {
    if (t.slot === DUE) t.slot = null;
    else if (t.slot) this.unlink(t);
    this.link(t, this.tickAfter(delayMs));
  }

  /**
   * The absolute tick at which a timer scheduled now for `delayMs` fires. Timers (or batches of
   * work, see expiry.ts) due at the same tick can share one WheelTimer through `scheduleAtTick`.
   */
  tickAfter(delayMs: number): number {
    // Inside a callback, count from the tick being processed (deterministic under a manual clock
    // advanced by large steps). Otherwise from the clock: when the event loop lagged, `current`
    // trails and a delay measured from it would fire early.
    let nowTick = this.current;
    if (!this.running) {
      nowTick = Math.max(this.current, Math.floor(this.now() / this.tickMs));
      // An empty wheel is not ticking: jump over the idle gap instead of walking it later.
      if (this.count === 0) this.current = nowTick;
    }
    return nowTick + Math.max(1, Math.ceil(delayMs / this.tickMs));
  }

  /** Schedules `fn` at an absolute tick from `tickAfter` (at least the next tick). */
  scheduleAtTick(deadline: number, fn: () => void): WheelTimer {
    const t = new WheelTimer(fn);
    this.link(t, Math.max(deadline, this.current + 1));
    return t;
  }

  private link(t: WheelTimer, deadline: number): void {
    t.deadline = deadline;
    const slot = this.slots[t.deadline & this.mask]!;
    t.prev = null;
    t.next = slot.head;
    if (slot.head) slot.head.prev = t;
    slot.head = t;
    t.slot = slot;
    if (++this.count === 1) this.arm();
  }

  cancel(t: WheelTimer | null | undefined): void {
    if (!t || !t.slot) return;
    if (t.slot === DUE) t.slot = null;
    else this.unlink(t);
  }

  /** Manual clock: moves time forward, firing everything due, in deadline order per tick. */
  advance(ms: number): void {
    if (!this.manual) throw new Error('advance() needs a manual clock');
    this.manualNow += ms;
    this.runDue();
  }

  /** Manual clock: advance until no timer is left (or `maxMs` passed); returns ms advanced. */
  drain(maxMs = 3_600_000): number {
    let moved = 0;
    while (this.count > 0 && moved < maxMs) {
      this.advance(this.tickMs);
      moved += this.tickMs;
    }
    return moved;
  }

  /** Cancels everything and stops the native timer. */
  clear(): void {
    for (const s of this.slots) {
      for (let t = s.head; t; ) {
        const n = t.next;
        t.slot = t.prev = t.next = null;
        t = n;
      }
      s.head = null;
    }
    this.count = 0;
    this.disarm();
  }

  private unlink(t: WheelTimer): void {
    const slot = t.slot!;
    if (t.prev) t.prev.next = t.next;
    else slot.head = t.next;
    if (t.next) t.next.prev = t.prev;
    t.prev = t.next = t.slot = null;
    if (--this.count === 0) this.disarm();
  }

  private runDue(): void {
    if (this.running) return; // a callback that advances the clock must not re-enter
    this.running = true;
    try {
      const target = Math.floor(this.now() / this.tickMs);
      while (this.current < target && this.count > 0) {
        const tick = ++this.current;
        const slot = this.slots[tick & this.mask]!;
        // Detach the due timers first (callbacks may schedule into this very slot), marked DUE so
        // that a callback cancelling or re-arming another due timer of this tick is honoured.
        const due = this.due;
        for (let t = slot.head; t; ) {
          const n = t.next;
          if (t.deadline <= tick) {
            this.unlink(t);
            t.slot = DUE;
            due.push(t);
          }
          t = n;
        }
        for (let i = 0; i < due.length; i++) {
          const t = due[i]!;
          if (t.slot !== DUE) continue; // cancelled or re-armed by an earlier callback
          t.slot = null;
          try {
            t.fn();
          } catch (err) {
            // A failing callback must not stop the wheel for every other transaction.
            queueMicrotask(() => {
              throw err;
            });
          }
        }
        due.length = 0;
      }
      if (this.count === 0) this.current = Math.max(this.current, target);
    } finally {
      this.running = false;
    }
  }

  private arm(): void {
    if (this.manual || this.native) return;
    this.native = setInterval(() => this.runDue(), this.tickMs);
    // The wheel alone must not keep the process alive (sockets do that).
    this.native.unref();
  }

  private disarm(): void {
    if (this.native) {
      clearInterval(this.native);
      this.native = null;
    }
  }
}
