/**
 * What a transaction keeps once its outcome is decided and it only lingers to absorb
 * retransmissions (RFC 3261 Timers D, J, K, I and RFC 6026 Timers L, M: up to 64*T1 = 32 s on
 * UDP). At 500 calls/s that is 16,000 calls' worth of transactions alive at any time, so what
 * each one holds decides the heap: a parsed message with its decoded header views costs ~3 KB,
 * its bytes ~0.5 KB. A lingering transaction keeps the bytes and re-parses only when someone
 * asks for the message again (rare: a TU reading `tx.request` late).
 *
 * The bytes are copied out of Node's shared 8 KiB Buffer pool: a small slice of a pool slab keeps
 * the whole slab alive, so one kept response per slab would pin 8 KiB for 32 s.
 */
import { parseMessage, type SipMessage } from '../sip/index.js';

/** The bytes were parsed (or built by us) once already: no size limit applies a second time. */
const AGAIN = { limits: { maxMessageBytes: Infinity, maxHeaders: Infinity, maxHeaderBytes: Infinity, maxBodyBytes: Infinity } };

/**
 * Bytes kept while a transaction lingers (at most 64*T1 = 32 s) are copied into shared slabs:
 * a view costs one object, where memory of its own costs two (the ArrayBuffer and the view) and
 * an ArrayBuffer extension that every scavenge sweeps, for each of the ~4 messages a call keeps.
 * A slab lives until the last of its views expires, so only bytes with that bounded lifetime go
 * here (what a dialog keeps for the length of a call gets `ownBytes`); large messages too get
 * memory of their own.
 */
const SLAB_BYTES = 256 * 1024;
const SLAB_MAX_ITEM = 16 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/** The memory the last `keep` copied into (a slab, or a large message's own). */
let keptIn: Buffer = slab;

/**
 * Copies `b` into a slab and returns where it starts there; `lastKeptIn()` is that memory until
 * the next call. For what lingers by the thousand (a response re-sent on a retransmission, an
 * ACK re-sent on a 2xx): the owner keeps the memory, the start and the length in fields of its
 * own, 8 bytes, where a Buffer view over the same bytes is an object of ~96 bytes that every
 * scavenge copies until it is promoted. It makes the view when it sends (`keptBytes`), which
 * only a retransmission asks for.
 */
export function keep(b: Uint8Array): number {
  const n = b.byteLength;
  if (n > SLAB_MAX_ITEM) {
    keptIn = ownBytes(Buffer.from(b.buffer, b.byteOffset, n));
    return 0;
  }
  if (slabUsed + n > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  slab.set(b, start);
  // 8-byte aligned starts, like Node's own pool
  slabUsed = (start + n + 7) & ~7;
  keptIn = slab;
  return start;
}

/** Where the last `keep` put its bytes. */
export function lastKeptIn(): Buffer {
  return keptIn;
}

/** The bytes `keep` put at `at` in `mem`, as a Buffer (the whole of `mem` when they are all of it). */
export function keptBytes(mem: Buffer, at: number, len: number): Buffer {
  return at === 0 && len === mem.length ? mem : mem.subarray(at, at + len);
}

/** A copy of `b` that lives as long as a lingering transaction (a view into a shared slab). */
export function lingerBytes(b: Uint8Array): Buffer {
  const at = keep(b);
  return keptBytes(keptIn, at, b.byteLength);
}

/** `b` in memory of its own (a copy when it is a view into a larger, shared ArrayBuffer). */
export function ownBytes(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const c = Buffer.allocUnsafeSlow(b.byteLength);
  b.copy(c);
  return c;
}

/**
 * `s` as one flat string of its own. A transaction key is built by concatenation from pieces
 * cut out of the message text (the branch is a slice of the whole header block): V8 keeps such
 * a string as a tree that holds the header block alive. ToNumber flattens a concatenation in
 * place (V8 String::Flatten, the trick of the `flatstr` package), after which the key holds
 * only its own ~60 characters. The result of Number() is irrelevant.
 */
export function flatten(s: string): string {
  void Number(s);
  return s;
}

/** The message again from bytes it was serialized to. */
export function reparse(b: Buffer): SipMessage {
  return parseMessage(b, AGAIN);
}
