/**
 * The scan buffer: the parser's byte loops read a copy of the message's header block in one
 * module-level Uint8Array instead of the caller's Buffer. V8 (TurboFan) folds a constant typed
 * array into the code: no map check, no reload of the data pointer and length on every byte,
 * which were more than half of each loop iteration (measured with callgrind: a table-driven
 * loop over 70 bytes costs 18.7 instructions a byte over a Buffer argument, 8 over this
 * array). The copy is one memmove per message.
 *
 * The bytes sit at the same offsets as in the message, so every offset found is an offset in
 * the caller's Buffer. Parsing is synchronous and not re-entrant: whoever scans loads first.
 */
import { SipParseError } from './errors.js';

/** The largest header block the parser scans (1 MiB): far above any SIP message. */
export const SCRATCH_BYTES = 1 << 20;

/** A few bytes of slack: the line scans may look one byte past a line end. */
export const SCRATCH = new Uint8Array(SCRATCH_BYTES + 8);

/**
 * The same memory as 32-bit words, for loops that test a simple property of 4 bytes at once
 * (validate.ts: a Call-ID's "no byte <= 0x20"). Such a test only asks whether some byte of the
 * word has the property, which does not depend on the byte order.
 */
export const SCRATCH_WORDS = new Int32Array(SCRATCH.buffer, 0, SCRATCH.length >> 2);

/**
 * And as a DataView: getInt32(i, true) reads the 4 bytes at any offset i as one little-endian
 * word, one load where four byte loads, shifts and ors were (header-names.ts compares names
 * with it).
 */
export const SCRATCH_VIEW = new DataView(SCRATCH.buffer);

/** Bytes of SCRATCH that belong to the message being parsed. */
let loaded = 0;
/** The buffer whose first `loaded` bytes SCRATCH holds; null after a copy of a mere range. */
let source: Uint8Array | null = null;

/**
 * Copies the part of buf the scanner may read (the start line and header fields, up to the
 * first empty line after the start line at p) into SCRATCH; returns how many bytes that is.
 * Small messages are copied whole (one memmove, no search); a larger one only up to its
 * header block's end, found by a native search of its latin1 text.
 */
export function loadHeaderBlock(buf: Buffer, text: string, p: number): number {
  let n = buf.length;
  if (n > 65536 + 8) {
    const a = text.indexOf('\n\r\n', p);
    const b = text.indexOf('\n\n', p);
    const end = a < 0 ? b : b < 0 ? a : Math.min(a, b);
    if (end >= 0) n = Math.min(n, end + 4);
    if (n > SCRATCH_BYTES) throw new SipParseError('HEADER_TOO_LONG', `header block longer than ${SCRATCH_BYTES} bytes`);
  }
  SCRATCH.set(n === buf.length ? buf : buf.subarray(0, n), 0);
  loaded = n;
  source = buf;
  return n;
}

/**
 * Makes SCRATCH hold b[s..e) at the same offsets, for a grammar function called on its own
 * (a view decoded on first use, parseUri, a mutation's new value): nothing to copy when b is
 * the message the parser loaded last (a scan of one of its fields stops at its line end, inside
 * the loaded header block), else the range is copied. false when e is past SCRATCH's end:
 * the caller treats the value as invalid (no SIP value is a megabyte long).
 */
export function useBytes(b: Uint8Array, s: number, e: number): boolean {
  if (b === source) return true;
  if (e > SCRATCH_BYTES) return false;
  source = null;
  loaded = 0;
  if (e > s) SCRATCH.set(b.subarray(s, e), s);
  return true;
}

/** How many bytes the last loadHeaderBlock copied. */
export function loadedBytes(): number {
  return loaded;
}
