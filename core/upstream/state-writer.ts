/**
 * Batched persistence of registration states. Machines are marked dirty; every `intervalMs`
 * the writer turns the dirty set into records (the latest state, not a log of transitions)
 * and hands them to the store in batches of `batchSize`. A failed write keeps the machines dirty
 * and backs off (doubling up to 30 s): while PostgreSQL is away the engine keeps refreshing from
 * memory, and the states reach the database once it is back.
 */
import type { RegistrationRecord } from './types.js';

export interface Persistable {
  dirty: boolean;
  toRecord(): RegistrationRecord;
}

export type SaveRecords = (records: RegistrationRecord[]) => Promise<void>;

export interface StateWriterOptions {
  intervalMs: number;
  batchSize: number;
  maxBackoffMs?: number;
  onError?: (err: unknown, records: number) => void;
  onWritten?: (records: number) => void;
}

export class StateWriter<T extends Persistable> {
  private pending = new Set<T>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private delayMs: number;
  private stopped = false;
  /** consecutive failed writes. */
  failures = 0;
  errors = 0;
  written = 0;

  constructor(
    private readonly save: SaveRecords,
    private readonly opts: StateWriterOptions,
  ) {
    this.delayMs = opts.intervalMs;
  }

  /** states not yet in the database (queued or being written). */
  get size(): number {
    return this.pending.size + this.writing;
  }

  private writing = 0;

  mark(item: T): void {
    item.dirty = true;
    this.pending.add(item);
    if (!this.timer && !this.flushing && !this.stopped) this.arm();
  }

  /** Drops an item that must not be written any more (its account was deleted). */
  forget(item: T): void {
    this.pending.delete(item);
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.delayMs);
    this.timer.unref?.();
  }

  /** Writes everything pending now; resolves when done (failures are kept for the next round). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.pending.size && !this.failures ? this.flush() : undefined));
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushing = this.run().finally(() => {
      this.flushing = null;
      if (this.pending.size && !this.stopped) this.arm();
    });
    return this.flushing;
  }

  private async run(): Promise<void> {
    while (this.pending.size) {
      const batch: T[] = [];
      for (const item of this.pending) {
        batch.push(item);
        if (batch.length >= this.opts.batchSize) break;
      }
      const records: RegistrationRecord[] = [];
      for (const item of batch) {
        this.pending.delete(item);
        item.dirty = false;
        records.push(item.toRecord());
      }
      this.writing = records.length;
      try {
        await this.save(records);
        this.written += records.length;
        this.failures = 0;
        this.delayMs = this.opts.intervalMs;
        this.opts.onWritten?.(records.length);
      } catch (err) {
        for (const item of batch) {
          item.dirty = true;
          this.pending.add(item);
        }
        this.errors++;
        this.failures++;
        this.delayMs = Math.min(this.opts.intervalMs * 2 ** this.failures, this.opts.maxBackoffMs ?? 30_000);
        this.opts.onError?.(err, records.length);
        return;
      } finally {
        this.writing = 0;
      }
    }
  }

  /** Stops the timer; `flush()` still works (used once more at shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
