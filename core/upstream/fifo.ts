/**
 * A FIFO queue over a growable ring buffer: O(1) push and shift without Array#shift's copying,
 * for the engine's queues that can hold a whole start-up backlog (a million entries).
 */
export class Fifo<T> {
  private buf: Array<T | undefined> = new Array(16);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.buf.length) {
      const next: Array<T | undefined> = new Array(this.buf.length * 2);
      for (let i = 0; i < this.count; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
      this.buf = next;
      this.head = 0;
    }
    this.buf[(this.head + this.count) % this.buf.length] = item;
    this.count++;
  }

  peek(): T | undefined {
    return this.count ? this.buf[this.head] : undefined;
  }

  shift(): T | undefined {
    if (!this.count) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    return item;
  }
}
