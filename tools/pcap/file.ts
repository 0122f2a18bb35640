/**
 * Link-layer frames out of a capture file: classic pcap (both byte orders, microsecond magic
 * 0xa1b2c3d4 and nanosecond magic 0xa1b23c4d) and pcapng (draft-ietf-opsawg-pcapng: SHB, IDB,
 * EPB, SPB and the obsolete PB; other blocks are skipped by their length).
 */
import { PcapError } from './errors.js';

export interface Frame {
  /** capture time in seconds since the epoch (0 for pcapng simple packets, which carry none). */
  ts: number;
  /** LINKTYPE_* value of the interface the frame was captured on. */
  linkType: number;
  /** the captured bytes (a view into the file buffer, not a copy). */
  data: Buffer;
  /** byte offset of the record in the file, for diagnostics. */
  offset: number;
}

/** No real snap length is above 256 KiB (tcpdump's maximum); anything larger is corruption. */
export const MAX_RECORD = 256 * 1024;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

export type CaptureFormat = 'pcap' | 'pcapng';

export function captureFormat(buf: Buffer): CaptureFormat {
  if (buf.length < 4) throw new PcapError('PCAP_TRUNCATED', `file of ${buf.length} bytes has no header`, 0);
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  if (le === PCAPNG_SHB) return 'pcapng';
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return 'pcap';
  throw new PcapError('PCAP_BAD_MAGIC', `not a pcap or pcapng file: magic 0x${be.toString(16).padStart(8, '0')}`, 0);
}

export function* readFrames(buf: Buffer): Generator<Frame> {
  if (captureFormat(buf) === 'pcap') yield* readPcap(buf);
  else yield* readPcapng(buf);
}

function* readPcap(buf: Buffer): Generator<Frame> {
  if (buf.length < 24) throw new PcapError('PCAP_TRUNCATED', 'pcap global header is cut short', 0);
  const le = buf.readUInt32LE(0) === PCAP_MAGIC_US || buf.readUInt32LE(0) === PCAP_MAGIC_NS;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const magic = u32(0);
  const fracScale = magic === PCAP_MAGIC_NS ? 1e-9 : 1e-6;
  // The upper bits of the link-type field may carry FCS information (pcap-linktype(7)).
  const linkType = u32(20) & 0x0fffffff;
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new PcapError('PCAP_TRUNCATED', 'pcap record header is cut short', off);
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    if (inclLen > MAX_RECORD) throw new PcapError('PCAP_TOO_LARGE', `pcap record claims ${inclLen} bytes`, off);
    if (off + 16 + inclLen > buf.length) throw new PcapError('PCAP_TRUNCATED', `pcap record of ${inclLen} bytes is cut short`, off);
    yield { ts: sec + frac * fracScale, linkType, data: buf.subarray(off + 16, off + 16 + inclLen), offset: off };
    off += 16 + inclLen;
  }
}

interface Interface {
  linkType: number;
  snapLen: number;
  /** timestamp units per second (if_tsresol, default 10^6). */
  perSecond: bigint;
}

function* readPcapng(buf: Buffer): Generator<Frame> {
  let le = true;
  let ifaces: Interface[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) throw new PcapError('PCAP_TRUNCATED', 'pcapng block header is cut short', off);
    const typeLe = buf.readUInt32LE(off);
    if (typeLe === PCAPNG_SHB) {
      // A new section: its byte-order magic decides how to read everything up to the next SHB.
      const bom = buf.readUInt32LE(off + 8);
      if (bom === PCAPNG_BOM) le = true;
      else if (buf.readUInt32BE(off + 8) === PCAPNG_BOM) le = false;
      else throw new PcapError('PCAP_BAD_MAGIC', 'pcapng section header has no valid byte-order magic', off);
      ifaces = [];
    }
    const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const type = u32(off);
    const len = u32(off + 4);
    if (len < 12 || len % 4 !== 0) throw new PcapError('PCAP_BAD_BLOCK', `pcapng block length ${len} is invalid`, off);
    if (off + len > buf.length) throw new PcapError('PCAP_TRUNCATED', `pcapng block of ${len} bytes is cut short`, off);
    if (u32(off + len - 4) !== len) throw new PcapError('PCAP_BAD_BLOCK', 'pcapng block lengths at start and end differ', off);
    const body = off + 8;
    const end = off + len - 4;
    switch (type) {
      case 1: {
        // Interface Description Block
        if (end - body < 8) throw new PcapError('PCAP_BAD_BLOCK', 'pcapng interface block is too short', off);
        ifaces.push({ linkType: u16(body), snapLen: u32(body + 4), perSecond: tsResolution(buf, body + 8, end, u16) });
        break;
      }
      case 6: {
        // Enhanced Packet Block
        if (end - body < 20) throw new PcapError('PCAP_BAD_BLOCK', 'pcapng enhanced packet block is too short', off);
        const iface = ifaceOf(ifaces, u32(body), off);
        const capLen = u32(body + 12);
        if (body + 20 + capLen > end) throw new PcapError('PCAP_BAD_BLOCK', `pcapng packet of ${capLen} bytes overruns its block`, off);
        const ts = seconds(u32(body + 4), u32(body + 8), iface.perSecond);
        yield { ts, linkType: iface.linkType, data: buf.subarray(body + 20, body + 20 + capLen), offset: off };
        break;
      }
      case 3: {
        // Simple Packet Block: interface 0, no timestamp; captured length is implied.
        if (end - body < 4) throw new PcapError('PCAP_BAD_BLOCK', 'pcapng simple packet block is too short', off);
        const iface = ifaceOf(ifaces, 0, off);
        const origLen = u32(body);
        let capLen = Math.min(origLen, end - (body + 4));
        if (iface.snapLen > 0) capLen = Math.min(capLen, iface.snapLen);
        yield { ts: 0, linkType: iface.linkType, data: buf.subarray(body + 4, body + 4 + capLen), offset: off };
        break;
      }
      case 2: {
        // Packet Block (obsolete): 16-bit interface id and drops count, then as the EPB.
        if (end - body < 20) throw new PcapError('PCAP_BAD_BLOCK', 'pcapng packet block is too short', off);
        const iface = ifaceOf(ifaces, u16(body), off);
        const capLen = u32(body + 12);
        if (body + 20 + capLen > end) throw new PcapError('PCAP_BAD_BLOCK', `pcapng packet of ${capLen} bytes overruns its block`, off);
        const ts = seconds(u32(body + 4), u32(body + 8), iface.perSecond);
        yield { ts, linkType: iface.linkType, data: buf.subarray(body + 20, body + 20 + capLen), offset: off };
        break;
      }
      default:
        break; // SHB (handled above), NRB, ISB, DSB, custom blocks: nothing we need
    }
    off += len;
  }
}

function ifaceOf(ifaces: Interface[], id: number, off: number): Interface {
  const iface = ifaces[id];
  if (!iface) throw new PcapError('PCAP_BAD_INTERFACE', `pcapng packet names interface ${id}, only ${ifaces.length} described`, off);
  return iface;
}

/** A 64-bit timestamp in units of 1/perSecond, as seconds; whole seconds stay exact. */
function seconds(high: number, low: number, perSecond: bigint): number {
  const t = (BigInt(high) << 32n) | BigInt(low);
  return Number(t / perSecond) + Number(t % perSecond) / Number(perSecond);
}

/** if_tsresol (option 9): high bit clear = 10^-n seconds, set = 2^-n; default 10^-6. */
function tsResolution(buf: Buffer, start: number, end: number, u16: (o: number) => number): bigint {
  let o = start;
  while (o + 4 <= end) {
    const code = u16(o);
    const len = u16(o + 2);
    if (code === 0) break; // opt_endofopt
    if (code === 9 && len >= 1 && o + 4 < end) {
      const v = buf[o + 4]!;
      return v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
    }
    o += 4 + ((len + 3) & ~3);
  }
  return 1_000_000n;
}
