/**
 * A request's header block (RFC 9113 §8.3, RFC 7541): pseudo-headers first, names lower-cased,
 * HPACK-encoded into one shared scratch buffer and laid into the Outbox as HEADERS, plus
 * CONTINUATION frames when the block exceeds the peer's SETTINGS_MAX_FRAME_SIZE (§6.10).
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import * as F from './frames.js';
import type { Outbox } from './frames.js';
import { Indexing, type HpackEncoder } from './hpack.js';

/**
 * Header names unique to each request: sent as literals without indexing and not tracked by
 * the encoder. (Any other name is indexed only once a value repeats, so a name whose value
 * changes every request costs no table churn either; this only skips the bookkeeping.)
 */
const UNIQUE_NAMES = new Set([':path', 'apns-id', 'content-length']);

/** Scratch space for one header block (used synchronously, so one for all sessions). */
let hbuf = Buffer.allocUnsafe(16 * 1024);

/** Encodes `headers` for stream `id` and writes its HEADERS (+ CONTINUATION) frames. */
export function writeRequestHeaders(
  enc: HpackEncoder,
  out: Outbox,
  id: number,
  headers: OutgoingHttpHeaders,
  endStream: boolean,
  defaults: { scheme: string; authority: string },
  maxFrame: number,
): void {
  let off = enc.begin(hbuf, 0);
  // §8.3: pseudo-header fields first.
  off = field(enc, ':method', headerString(headers[':method']) || 'GET', off, Indexing.Auto);
  off = field(enc, ':scheme', headerString(headers[':scheme']) || defaults.scheme, off, Indexing.Auto);
  off = field(enc, ':authority', headerString(headers[':authority']) || defaults.authority, off, Indexing.Auto);
  off = field(enc, ':path', headerString(headers[':path']) || '/', off, Indexing.Never);
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ':' */) continue;
    const v = headers[key];
    if (v === undefined) continue;
    // §8.2.1: field names are lower case in HTTP/2 (callers' names are; checked once per name).
    const info = nameInfo(key);
    const name = info.name;
    if (Array.isArray(v)) for (const one of v) off = field(enc, name, one, off, info.mode);
    else off = field(enc, name, typeof v === 'string' ? v : String(v), off, info.mode);
  }
  // §6.2/§6.10: a block larger than the peer's frame size continues in CONTINUATION frames.
  const max = maxFrame;
  const flags = endStream ? F.FLAG_END_STREAM : 0;
  if (off <= max) {
    out.frame(F.HEADERS, flags | F.FLAG_END_HEADERS, id, hbuf, 0, off);
    return;
  }
  out.frame(F.HEADERS, flags, id, hbuf, 0, max);
  for (let p = max; p < off; p += max) {
    const n = Math.min(max, off - p);
    out.frame(F.CONTINUATION, p + n === off ? F.FLAG_END_HEADERS : 0, id, hbuf, p, n);
  }
}

function field(enc: HpackEncoder, name: string, value: string, off: number, mode: Indexing): number {
  const need = off + enc.bound(name, value);
  if (need > hbuf.length) {
    const bigger = Buffer.allocUnsafe(Math.max(need, hbuf.length * 2));
    hbuf.copy(bigger, 0, 0, off);
    hbuf = bigger;
  }
  return enc.field(name, value, hbuf, off, mode);
}

/** Per header name as callers spell it: the wire name and how it is indexed (one lookup a field). */
interface NameInfo {
  name: string;
  mode: Indexing;
}
const names = new Map<string, NameInfo>();
function nameInfo(key: string): NameInfo {
  let n = names.get(key);
  if (n === undefined) {
    const name = key.toLowerCase();
    n = { name, mode: UNIQUE_NAMES.has(name) ? Indexing.Never : Indexing.Auto };
    // Bounded: header names come from our own adapters, but never let a cache grow without limit.
    if (names.size < 1024) names.set(key, n);
  }
  return n;
}

function headerString(v: OutgoingHttpHeaders[string]): string {
  if (v === undefined) return '';
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? '') : String(v);
}
