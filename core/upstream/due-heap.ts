/**
 * A binary min-heap of items keyed on their due time, for the refresh timers of every account:
 * one structure for a million accounts, one native timer (armed by the engine for the earliest
 * item), O(log n) schedule / reschedule / cancel. Each item carries its own heap index so that
 * cancel and reschedule need no search (the intrusive-index trick of libuv's timer heap).
 *
 * Why not the transaction layer's timer wheel: the engine needs "what is the earliest due item"
 * to pace REGISTERs through a token bucket, and refresh timers are hours long, where a 10 ms
 * wheel would revisit each entry thousands of times.
 */

export interface HeapItem {
  /** absolute due time in ms (engine clock). */
  dueAt: number;
  /** position in the heap, −1 when not scheduled. Owned by DueHeap. */
  heapIndex: number;
}

export class DueHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  /** Schedules `item` at `dueAt`, moving it if it is already scheduled. */
  schedule(item: T, dueAt: number): void {
    if (this.has(item)) {
      const old = item.dueAt;
      item.dueAt = dueAt;
      if (dueAt < old) this.up(item.heapIndex);
      else this.down(item.heapIndex);
      return;
    }
    item.dueAt = dueAt;
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  /** Removes `item` if scheduled; returns whether it was. */
  cancel(item: T): boolean {
    if (!this.has(item)) return false;
    const i = item.heapIndex;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[i] = last;
      last.heapIndex = i;
      this.up(i);
      this.down(last.heapIndex);
    }
    return true;
  }

  /** Removes and returns the earliest item if it is due at or before `now`. */
  popDue(now: number): T | undefined {
    const top = this.items[0];
    if (top === undefined || top.dueAt > now) return undefined;
    this.cancel(top);
    return top;
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (parent.dueAt <= item.dueAt) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && items[r]!.dueAt < items[l]!.dueAt ? r : l;
      const child = items[c]!;
      if (child.dueAt >= item.dueAt) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
