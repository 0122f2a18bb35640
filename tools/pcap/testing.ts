/**
 * A tiny capture writer for tests: builds frames (Ethernet, cooked, loopback, raw IP) around
 * IPv4/IPv6 UDP and TCP packets and wraps them in pcap or pcapng files of either byte order.
 * Checksums are left zero: readers (ours and Wireshark's by default) do not check them.
 */
import { LINKTYPE } from './ip.js';

export interface TestFrame {
  ts: number;
  data: Buffer;
}

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export function udp(srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;

export function tcp(srcPort: number, dstPort: number, seq: number, flags: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  return Buffer.concat([h, payload]);
}

export interface Ipv4Opts {
  id?: number;
  /** fragment offset in bytes (multiple of 8) */
  fragOffset?: number;
  moreFragments?: boolean;
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer, o: Ipv4Opts = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(o.id ?? 1, 4);
  h.writeUInt16BE(((o.moreFragments ? 1 : 0) << 13) | ((o.fragOffset ?? 0) / 8), 6);
  h[8] = 64;
  h[9] = proto;
  ipv4Bytes(src).copy(h, 12);
  ipv4Bytes(dst).copy(h, 16);
  return Buffer.concat([h, payload]);
}

/** IPv6 with optional extension headers given as [type, body] (body padded to 8-byte units). */
export function ipv6(src: string, dst: string, proto: number, payload: Buffer, ext: Array<[number, Buffer]> = []): Buffer {
  const parts: Buffer[] = [];
  let next = proto;
  for (let i = ext.length - 1; i >= 0; i--) {
    const [type, body] = ext[i]!;
    const raw = Buffer.concat([Buffer.alloc(2), body]);
    const padded = Buffer.alloc(Math.ceil(raw.length / 8) * 8);
    raw.copy(padded);
    padded[0] = next;
    padded[1] = padded.length / 8 - 1;
    parts.unshift(padded);
    next = type;
  }
  const body = Buffer.concat([...parts, payload]);
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(body.length, 4);
  h[6] = next;
  h[7] = 64;
  ipv6Bytes(src).copy(h, 8);
  ipv6Bytes(dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

export function ethernet(ip: Buffer, vlan?: number): Buffer {
  const type = ip[0]! >> 4 === 6 ? 0x86dd : 0x0800;
  const h = Buffer.alloc(vlan === undefined ? 14 : 18);
  h.write('020000000001020000000002', 0, 'hex');
  if (vlan !== undefined) {
    h.writeUInt16BE(0x8100, 12);
    h.writeUInt16BE(vlan, 14);
  }
  h.writeUInt16BE(type, h.length - 2);
  return Buffer.concat([h, ip]);
}

export function linuxSll(ip: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(772, 2); // ARPHRD_LOOPBACK
  h.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, 14);
  return Buffer.concat([h, ip]);
}

export function linuxSll2(ip: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(ip[0]! >> 4 === 6 ? 0x86dd : 0x0800, 0);
  h.writeUInt16BE(772, 8);
  return Buffer.concat([h, ip]);
}

/** BSD loopback: family in host order (NULL, little-endian here) or network order (LOOP). */
export function bsdLoop(ip: Buffer, bigEndian: boolean): Buffer {
  const h = Buffer.alloc(4);
  const fam = ip[0]! >> 4 === 6 ? 30 : 2;
  if (bigEndian) h.writeUInt32BE(fam);
  else h.writeUInt32LE(fam);
  return Buffer.concat([h, ip]);
}

export interface PcapOpts {
  linkType?: number;
  bigEndian?: boolean;
  nano?: boolean;
}

export function writePcap(frames: TestFrame[], o: PcapOpts = {}): Buffer {
  const be = o.bigEndian === true;
  const w32 = (b: Buffer, v: number, off: number) => (be ? b.writeUInt32BE(v >>> 0, off) : b.writeUInt32LE(v >>> 0, off));
  const w16 = (b: Buffer, v: number, off: number) => (be ? b.writeUInt16BE(v, off) : b.writeUInt16LE(v, off));
  const g = Buffer.alloc(24);
  w32(g, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(g, 2, 4);
  w16(g, 4, 6);
  w32(g, 262144, 16);
  w32(g, o.linkType ?? LINKTYPE.EN10MB, 20);
  const parts: Buffer[] = [g];
  const scale = o.nano ? 1e9 : 1e6;
  for (const f of frames) {
    const r = Buffer.alloc(16);
    const sec = Math.floor(f.ts);
    w32(r, sec, 0);
    w32(r, Math.round((f.ts - sec) * scale), 4);
    w32(r, f.data.length, 8);
    w32(r, f.data.length, 12);
    parts.push(r, f.data);
  }
  return Buffer.concat(parts);
}

export interface PcapngOpts {
  linkType?: number;
  bigEndian?: boolean;
  /** if_tsresol byte (default: absent = microseconds) */
  tsresol?: number;
  /** write packets as Simple Packet Blocks (no timestamps) */
  simple?: boolean;
}

export function writePcapng(frames: TestFrame[], o: PcapngOpts = {}): Buffer {
  const be = o.bigEndian === true;
  const w32 = (b: Buffer, v: number, off: number) => (be ? b.writeUInt32BE(v >>> 0, off) : b.writeUInt32LE(v >>> 0, off));
  const w16 = (b: Buffer, v: number, off: number) => (be ? b.writeUInt16BE(v, off) : b.writeUInt16LE(v, off));
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.alloc(Math.ceil(body.length / 4) * 4);
    body.copy(padded);
    const b = Buffer.alloc(12 + padded.length);
    w32(b, type, 0);
    w32(b, b.length, 4);
    padded.copy(b, 8);
    w32(b, b.length, b.length - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  w32(shb, 0x1a2b3c4d, 0);
  w16(shb, 1, 4);
  w16(shb, 0, 6);
  shb.writeInt32LE(-1, 8); // section length unknown (-1 in both byte orders)
  shb.writeInt32LE(-1, 12);
  let idbBody: Buffer = Buffer.alloc(8);
  w16(idbBody, o.linkType ?? LINKTYPE.EN10MB, 0);
  w32(idbBody, 262144, 4);
  if (o.tsresol !== undefined) {
    const opt = Buffer.alloc(12);
    w16(opt, 9, 0);
    w16(opt, 1, 2);
    opt[4] = o.tsresol;
    // opt_endofopt: code 0, length 0 (already zero)
    idbBody = Buffer.concat([idbBody, opt]);
  }
  const parts = [block(0x0a0d0d0a, shb), block(1, idbBody)];
  const r = o.tsresol === undefined ? 1_000_000n : o.tsresol & 0x80 ? 1n << BigInt(o.tsresol & 0x7f) : 10n ** BigInt(o.tsresol);
  for (const f of frames) {
    if (o.simple) {
      const h = Buffer.alloc(4);
      w32(h, f.data.length, 0);
      parts.push(block(3, Buffer.concat([h, f.data])));
      continue;
    }
    const sec = Math.floor(f.ts);
    const t = BigInt(sec) * r + BigInt(Math.round((f.ts - sec) * Number(r)));
    const h = Buffer.alloc(20);
    w32(h, 0, 0);
    w32(h, Number(t >> 32n), 4);
    w32(h, Number(t & 0xffffffffn), 8);
    w32(h, f.data.length, 12);
    w32(h, f.data.length, 16);
    parts.push(block(6, Buffer.concat([h, f.data])));
  }
  return Buffer.concat(parts);
}
