/**
 * A binary min-heap of items keyed on their due time, for the refresh timers of every account:
 * one structure for a million accounts, one native timer (armed by the engine for the earliest
 * item), O(log n) schedule / reschedule / cancel. Each item carries its own heap index so that
 * cancel and reschedule need no search (the intrusive-index trick of libuv's timer heap).
 *
 * Why not the transaction layer's timer wheel: the engine needs "what is the earliest due item"
 * to pace REGISTERs through a token bucket, and refresh timers are hours long, where a 10 ms
 * wheel would revisit each entry thousands of times.
 *
 * The due times are mirrored in a Float64Array by heap position: sifting compares keys in one
 * contiguous array instead of reading `dueAt` from two child objects scattered over a heap of a
 * million accounts (a cache miss each, twenty levels deep) — popDue was the engine's top frame.
 */

export interface HeapItem {
  /** absolute due time in ms (engine clock). */
  dueAt: number;
  /** position in the heap, −1 when not scheduled. Owned by DueHeap. */
  heapIndex: number;
}

export class DueHeap<T extends HeapItem> {
  private readonly items: T[] = [];
  /** keys[i] === items[i].dueAt */
  private keys = new Float64Array(1024);

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
    const i = this.items.length;
    if (i >= this.keys.length) {
      const bigger = new Float64Array(this.keys.length * 2);
      bigger.set(this.keys);
      this.keys = bigger;
    }
    item.heapIndex = i;
    this.items.push(item);
    this.up(i);
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
    if (top === undefined || this.keys[0]! > now) return undefined;
    this.cancel(top);
    return top;
  }

  private up(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const item = items[i]!;
    const key = item.dueAt;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (keys[p]! <= key) break;
      const parent = items[p]!;
      items[i] = parent;
      keys[i] = keys[p]!;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    keys[i] = key;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const n = items.length;
    const item = items[i]!;
    const key = item.dueAt;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && keys[r]! < keys[l]! ? r : l;
      if (keys[c]! >= key) break;
      const child = items[c]!;
      items[i] = child;
      keys[i] = keys[c]!;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    keys[i] = key;
    item.heapIndex = i;
  }
}
