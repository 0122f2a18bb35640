/**
 * HPACK tables (RFC 7541 §2.3): the static table of Appendix A and a dynamic table kept as a
 * ring (newest entry first in HPACK index order, §2.3.3), with size accounting and eviction
 * (§4.1, §4.4).
 */

/** RFC 7541 Appendix A; index 1 is STATIC[0]. */
// prettier-ignore
export const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
export const STATIC_COUNT = STATIC.length; // 61

/** First static index (1-based) of each name. */
export const STATIC_NAME_INDEX: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  STATIC.forEach(([n], i) => {
    if (!m.has(n)) m.set(n, i + 1);
  });
  return m;
})();

/** Static index of each full (name, value) pair with a non-empty value, keyed `name\0value`. */
export const STATIC_PAIR_INDEX: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  STATIC.forEach(([n, v], i) => {
    if (v) m.set(`${n}\0${v}`, i + 1);
  });
  return m;
})();

/** §4.1: an entry's size is its name's and value's lengths in octets plus 32. */
export const ENTRY_OVERHEAD = 32;

export class DynamicTable {
  private names: string[] = new Array<string>(64);
  private values: string[] = new Array<string>(64);
  private mask = 63;
  /** Ring position of the newest entry. */
  private head = 0;
  count = 0;
  size = 0;
  /** Entries ever inserted (the encoder numbers entries by it). */
  inserted = 0;

  constructor(public maxSize: number) {}

  /** Name of the entry at dynamic position i (0 = newest). */
  name(i: number): string {
    return this.names[(this.head - i) & this.mask]!;
  }
  value(i: number): string {
    return this.values[(this.head - i) & this.mask]!;
  }

  /** §4.4: evicts from the oldest end until the new entry fits; an entry larger than the table empties it. */
  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.inserted++;
    if (size > this.maxSize) {
      this.clear();
      return;
    }
    while (this.size + size > this.maxSize) this.evictOldest();
    if (this.count === this.mask + 1) this.grow();
    this.head = (this.head + 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += size;
  }

  /** §4.3: a smaller maximum evicts entries until the table fits. */
  setMaxSize(max: number): void {
    this.maxSize = max;
    while (this.size > max) this.evictOldest();
  }

  private clear(): void {
    while (this.count > 0) this.evictOldest();
  }

  private evictOldest(): void {
    const i = (this.head - this.count + 1) & this.mask;
    this.size -= this.names[i]!.length + this.values[i]!.length + ENTRY_OVERHEAD;
    this.names[i] = '';
    this.values[i] = '';
    this.count--;
  }

  private grow(): void {
    const n = this.count;
    const names = new Array<string>(n * 2);
    const values = new Array<string>(n * 2);
    // Oldest first into 0..n-1, newest at n-1.
    for (let k = 0; k < n; k++) {
      const i = (this.head - (n - 1) + k) & this.mask;
      names[k] = this.names[i]!;
      values[k] = this.values[i]!;
    }
    this.names = names;
    this.values = values;
    this.mask = n * 2 - 1;
    this.head = n - 1;
  }
}
