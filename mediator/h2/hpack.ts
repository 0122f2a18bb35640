/**
 * HPACK (RFC 7541): a complete decoder for the peer's header blocks and a lean encoder for
 * ours. The encoder indexes a header (§6.2.1, literal with incremental indexing) once its
 * value repeats, so the headers every push carries with the same value (apns-topic,
 * apns-push-type, authorization until the JWT changes, …) become one-byte indexed fields
 * (§6.1) and a steady push's header block is its per-request values plus a few bytes.
 * Values unique to each request (:path, apns-id) are sent as literals without indexing
 * (§6.2.2) so they do not churn the table.
 */
import { H2Error } from './errors.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js';
import { DynamicTable, ENTRY_OVERHEAD, STATIC, STATIC_COUNT, STATIC_NAME_INDEX, STATIC_PAIR_INDEX } from './hpack-table.js';

export const DEFAULT_HEADER_TABLE_SIZE = 4096;
/** Header names an encoder remembers (ours send a dozen); beyond, fields are plain literals. */
const MAX_NAMES = 256;

/** Appends fields to `out` as name, value, name, value, … */
export class HpackDecoder {
  readonly table: DynamicTable;
  private pos = 0;

  /**
   * @param settingsMax our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for (§6.3)
   * @param maxListSize our limit on a decoded header list (RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE)
   */
  constructor(
    private readonly settingsMax = DEFAULT_HEADER_TABLE_SIZE,
    private readonly maxListSize = 64 * 1024,
  ) {
    this.table = new DynamicTable(settingsMax);
  }

  /**
   * Decodes one complete header block `buf[start..end)` into `out` from index `at` (default:
   * appended) and returns the index after the last field. Reusing one array from index 0 keeps
   * its storage: `out.length = 0` would free it, and the next block allocate it again.
   * Throws H2Error (a connection error, RFC 9113 §4.3).
   */
  decode(buf: Buffer, start: number, end: number, out: string[], at = out.length): number {
    this.pos = start;
    let n = at;
    let fields = 0;
    let listSize = 0;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // §6.1 indexed header field
        const idx = this.int(buf, 7, end);
        if (idx === 0) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK index 0');
        if (idx <= STATIC_COUNT) {
          const e = STATIC[idx - 1]!;
          name = e[0];
          value = e[1];
        } else {
          const d = this.dyn(idx);
          name = this.table.name(d);
          value = this.table.value(d);
        }
      } else if (b & 0x40) {
        // §6.2.1 literal with incremental indexing
        const idx = this.int(buf, 6, end);
        name = idx === 0 ? this.literalName(buf, end) : this.nameAt(idx);
        value = this.str(buf, end);
        this.table.add(name, value);
      } else if (b & 0x20) {
        // §6.3 dynamic table size update: only before the first field (§4.2)
        if (fields > 0) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK table size update after a header field');
        const size = this.int(buf, 5, end);
        if (size > this.settingsMax) throw new H2Error('ERR_H2_COMPRESSION', `HPACK table size update to ${size} over our ${this.settingsMax}`);
        this.table.setMaxSize(size);
        continue;
      } else {
        // §6.2.2 without indexing (0000xxxx), §6.2.3 never indexed (0001xxxx)
        const idx = this.int(buf, 4, end);
        name = idx === 0 ? this.literalName(buf, end) : this.nameAt(idx);
        value = this.str(buf, end);
      }
      fields++;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxListSize) throw new H2Error('ERR_H2_HEADER_LIST', `header list over ${this.maxListSize} octets`);
      out[n++] = name;
      out[n++] = value;
    }
    return n;
  }

  private dyn(idx: number): number {
    const d = idx - STATIC_COUNT - 1;
    if (d >= this.table.count) throw new H2Error('ERR_H2_COMPRESSION', `HPACK index ${idx} beyond the table`);
    return d;
  }

  private nameAt(idx: number): string {
    return idx <= STATIC_COUNT ? STATIC[idx - 1]![0] : this.table.name(this.dyn(idx));
  }

  /** §5.1 integer with an N-bit prefix; guarded against overflow (no value needs more than 31 bits). */
  private int(buf: Buffer, prefix: number, end: number): number {
    const mask = (1 << prefix) - 1;
    let v = buf[this.pos++]! & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= end) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK integer truncated');
      const b = buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
      if (shift > 28) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK integer overflow');
    }
    if (v > 0x7fffffff) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK integer overflow');
    return v;
  }

  /**
   * A literal field name (§6.2 with index 0). A peer that never indexes a name (APNs's
   * apns-id, sent with every response) would cost a new string per field, and one more lookup
   * in V8's string table each time it becomes a property key: the last few literal names are
   * kept with their encoded octets, and the same octets give back the same string.
   */
  private literalName(buf: Buffer, end: number): string {
    if (this.pos >= end) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK string truncated');
    const at = this.pos;
    const huffman = buf[at]! & 0x80;
    const len = this.int(buf, 7, end);
    const start = this.pos;
    if (len > end - start) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK string longer than its block');
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n.huffman !== huffman || n.raw.length !== len) continue;
      let same = true;
      for (let k = 0; k < len; k++) {
        if (n.raw[k] !== buf[start + k]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.pos = start + len;
        return n.name;
      }
    }
    this.pos = at;
    const name = this.str(buf, end);
    if (len <= 64) {
      const entry = { huffman, raw: Buffer.from(buf.subarray(start, start + len)), name };
      if (names.length < 8) names.push(entry);
      else names[this.nextName++ & 7] = entry;
    }
    return name;
  }
  private readonly names: Array<{ huffman: number; raw: Buffer; name: string }> = [];
  private nextName = 0;

  /** §5.2 string literal, Huffman-coded or raw octets (taken as latin1: one char per octet). */
  private str(buf: Buffer, end: number): string {
    if (this.pos >= end) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK string truncated');
    const huffman = buf[this.pos]! & 0x80;
    const len = this.int(buf, 7, end);
    const start = this.pos;
    if (len > end - start) throw new H2Error('ERR_H2_COMPRESSION', 'HPACK string longer than its block');
    this.pos = start + len;
    return huffman ? huffmanDecode(buf, start, start + len) : buf.toString('latin1', start, start + len);
  }
}

/** How the encoder may treat a field (RFC 7541 §6.2). */
export const Indexing = {
  /** Index the field once its value repeats (the default). */
  Auto: 0,
  /** Literal without indexing: values unique to one request. */
  Never: 1,
  /** Literal never indexed (§6.2.3): sensitive values an intermediary must not index either. */
  Sensitive: 2,
} as const;
export type Indexing = (typeof Indexing)[keyof typeof Indexing];

export interface HpackEncoderOptions {
  /** Index a field the first time it is seen, not when it repeats (RFC 7541 Appendix C does). */
  indexFirst?: boolean;
  /**
   * Huffman coding of literals: 'indexed' (default) codes only values entering the table, when
   * shorter (paid once per value); 'always' codes every literal; 'never' none.
   */
  huffman?: 'never' | 'indexed' | 'always';
  /** Our own cap on the table, whatever the peer allows. */
  maxTableSize?: number;
}

interface Seen {
  value: string;
  /** `table.inserted` right after this value was indexed; 0 = not in the table. */
  seq: number;
  /** The name's static-table index (RFC 7541 Appendix A), 0 if none: one map lookup per field. */
  nameIdx: number;
}

/** A value no field can have (NUL is refused on the wire): a name met only as a literal so far. */
const NO_VALUE = '\u0000';


export class HpackEncoder {
  readonly table: DynamicTable;
  private readonly cap: number;
  private readonly seen = new Map<string, Seen>();
  private readonly indexFirst: boolean;
  /** Coding of literals that stay out of the table, and of those entering it. */
  private readonly plainCoding: number;
  private readonly indexedCoding: number;
  /** Smallest and last table size the peer allowed since the last block (§4.2); -1 = none pending. */
  private updateMin = -1;
  private updateLast = -1;

  constructor(opts: HpackEncoderOptions = {}) {
    this.cap = opts.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE;
    this.table = new DynamicTable(Math.min(this.cap, DEFAULT_HEADER_TABLE_SIZE));
    this.indexFirst = opts.indexFirst ?? false;
    const h = opts.huffman ?? 'indexed';
    this.plainCoding = h === 'always' ? HUFFMAN_ALWAYS : HUFFMAN_NEVER;
    this.indexedCoding = h === 'always' ? HUFFMAN_ALWAYS : h === 'indexed' ? HUFFMAN_IF_SHORTER : HUFFMAN_NEVER;
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2): our table may not exceed it. */
  setPeerTableSize(peer: number): void {
    const size = Math.min(peer, this.cap);
    if (size === this.table.maxSize && this.updateMin < 0) return;
    this.updateMin = this.updateMin < 0 ? size : Math.min(this.updateMin, size);
    this.updateLast = size;
    this.table.setMaxSize(size);
  }

  /** Most octets `field()` writes for this name and value (a forced Huffman code can be 30 bits an octet). */
  bound(name: string, value: string): number {
    return (this.plainCoding === HUFFMAN_ALWAYS ? 4 : 1) * (name.length + value.length) + 12;
  }

  /** Starts a header block: the size updates owed to the peer (§4.2), at most two. Returns the new offset. */
  begin(dst: Buffer, off: number): number {
    if (this.updateMin < 0) return off;
    off = int(dst, off, this.updateMin, 5, 0x20);
    if (this.updateLast !== this.updateMin) off = int(dst, off, this.updateLast, 5, 0x20);
    this.updateMin = this.updateLast = -1;
    return off;
  }

  /** Encodes one field at `dst[off]` (room for bound(name, value) needed); returns the new offset. */
  field(name: string, value: string, dst: Buffer, off: number, indexing: Indexing = Indexing.Auto): number {
    // Static pairs worth finding are all pseudo-headers with short values (:method POST, :scheme https, …).
    if (name.charCodeAt(0) === 58 /* ':' */) {
      const pair = staticPseudoPair(name, value);
      if (pair !== 0) return int(dst, off, pair, 7, 0x80);
    }
    let s = this.seen.get(name);
    if (s === undefined && this.seen.size < MAX_NAMES) {
      s = { value: NO_VALUE, seq: 0, nameIdx: STATIC_NAME_INDEX.get(name) ?? 0 };
      this.seen.set(name, s);
    }
    const nameIdx = s !== undefined ? s.nameIdx : (STATIC_NAME_INDEX.get(name) ?? 0);
    if (indexing !== Indexing.Auto) return this.literal(name, nameIdx, value, dst, off, indexing === Indexing.Sensitive ? 0x10 : 0x00, 4, this.plainCoding);
    if (s !== undefined && s.value === value) {
      if (s.seq > 0) {
        const pos = this.table.inserted - s.seq;
        if (pos < this.table.count) return int(dst, off, STATIC_COUNT + 1 + pos, 7, 0x80);
      }
    } else if (!this.indexFirst) {
      // First sight of this value: remember it, index it if it comes again.
      if (s !== undefined) {
        s.value = value;
        s.seq = 0;
      }
      return this.literal(name, nameIdx, value, dst, off, 0x00, 4, this.plainCoding);
    }
    // A repeat (or indexFirst): literal with incremental indexing (§6.2.1), if it fits at all.
    if (name.length + value.length + ENTRY_OVERHEAD > this.table.maxSize) {
      return this.literal(name, nameIdx, value, dst, off, 0x00, 4, this.plainCoding);
    }
    off = this.literal(name, nameIdx, value, dst, off, 0x40, 6, this.indexedCoding);
    this.table.add(name, value);
    if (s !== undefined) {
      s.value = value;
      s.seq = this.table.inserted;
    }
    return off;
  }

  private literal(name: string, nameIdx: number, value: string, dst: Buffer, off: number, pattern: number, prefix: number, huffman: number): number {
    if (nameIdx > 0) off = int(dst, off, nameIdx, prefix, pattern);
    else {
      dst[off++] = pattern;
      off = str(dst, off, name, huffman);
    }
    return str(dst, off, value, huffman);
  }
}

/** §5.1: writes `v` with an N-bit prefix, OR-ing `pattern` into the first octet. */
export function int(dst: Buffer, off: number, v: number, prefix: number, pattern: number): number {
  const mask = (1 << prefix) - 1;
  if (v < mask) {
    dst[off++] = pattern | v;
    return off;
  }
  dst[off++] = pattern | mask;
  v -= mask;
  while (v >= 128) {
    dst[off++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  dst[off++] = v;
  return off;
}

const HUFFMAN_NEVER = 0;
const HUFFMAN_IF_SHORTER = 1;
const HUFFMAN_ALWAYS = 2;

/** §5.2: a string literal, Huffman-coded as asked. */
function str(dst: Buffer, off: number, s: string, huffman: number): number {
  if (huffman !== HUFFMAN_NEVER) {
    const hlen = huffmanLength(s);
    if (huffman === HUFFMAN_ALWAYS || hlen < s.length) {
      off = int(dst, off, hlen, 7, 0x80);
      return huffmanEncode(s, dst, off);
    }
  }
  const n = s.length;
  off = int(dst, off, n, 7, 0x00);
  // Header strings are short: a loop beats the call into C++ that Buffer#write makes.
  if (n > 128) return off + dst.write(s, off, 'latin1');
  for (let i = 0; i < n; i++) dst[off + i] = s.charCodeAt(i);
  return off + n;
}

/** RFC 7541 Appendix A index of a pseudo-header with its value (1–14), or 0. */
function staticPseudoPair(name: string, value: string): number {
  if (value.length > 11) return 0;
  switch (name) {
    case ':method':
      return value === 'POST' ? 3 : value === 'GET' ? 2 : 0;
    case ':scheme':
      return value === 'https' ? 7 : value === 'http' ? 6 : 0;
    case ':path':
      return value === '/' ? 4 : value === '/index.html' ? 5 : 0;
    default:
      return STATIC_PAIR_INDEX.get(`${name}\0${value}`) ?? 0;
  }
}
