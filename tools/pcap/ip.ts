/**
 * From a link-layer frame to a UDP datagram or TCP segment: Ethernet (with 802.1Q/802.1ad tags),
 * raw IP, Linux cooked v1/v2, BSD loopback; IPv4 (RFC 791) with fragment reassembly, IPv6
 * (RFC 8200) skipping extension headers and reassembling its fragments too.
 */

export const LINKTYPE = {
  NULL: 0,
  EN10MB: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export interface Endpoint {
  ip: string;
  port: number;
}

export interface Segment {
  transport: 'udp' | 'tcp';
  src: Endpoint;
  dst: Endpoint;
  payload: Buffer;
  /** TCP only. */
  seq?: number;
  syn?: boolean;
  fin?: boolean;
  rst?: boolean;
}

/** What the decoder passed over, so a reader can tell a quiet capture from a broken one. */
export interface DecodeStats {
  frames: number;
  /** link types we do not decode, ARP, ICMP, other IP protocols. */
  skipped: number;
  /** frames cut short by the snap length or malformed headers. */
  malformed: number;
  fragments: number;
  reassembled: number;
  /** fragment groups never completed (or evicted) by the end of the capture. */
  fragmentsDropped: number;
}

export const newDecodeStats = (): DecodeStats => ({ frames: 0, skipped: 0, malformed: 0, fragments: 0, reassembled: 0, fragmentsDropped: 0 });

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
/** AF_INET and the AF_INET6 values of Linux/BSDs (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS). */
const AF_IP = new Set([2, 10, 24, 28, 30]);

/** The IP packet inside a frame, or undefined for anything else. */
export function ipOfFrame(linkType: number, data: Buffer): Buffer | undefined {
  switch (linkType) {
    case LINKTYPE.EN10MB: {
      let o = 12;
      if (data.length < 14) return undefined;
      let type = data.readUInt16BE(o);
      // 802.1Q / 802.1ad (and the old 0x9100 QinQ) tags each add 4 bytes before the real type.
      while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && data.length >= o + 6) {
        o += 4;
        type = data.readUInt16BE(o);
      }
      return type === ETH_IPV4 || type === ETH_IPV6 ? data.subarray(o + 2) : undefined;
    }
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      return data;
    case LINKTYPE.LINUX_SLL: {
      if (data.length < 16) return undefined;
      const type = data.readUInt16BE(14);
      return type === ETH_IPV4 || type === ETH_IPV6 ? data.subarray(16) : undefined;
    }
    case LINKTYPE.LINUX_SLL2: {
      if (data.length < 20) return undefined;
      const type = data.readUInt16BE(0);
      return type === ETH_IPV4 || type === ETH_IPV6 ? data.subarray(20) : undefined;
    }
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      // The family is in the capturing host's byte order for NULL, network order for LOOP:
      // accept either. AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 depending on the OS.
      if (data.length < 4) return undefined;
      const be = data.readUInt32BE(0);
      const le = data.readUInt32LE(0);
      return AF_IP.has(be) || AF_IP.has(le) ? data.subarray(4) : undefined;
    }
    default:
      return undefined;
  }
}

function ipv4Text(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text form: lower case, longest run of zero groups compressed. */
export function ipv6Text(b: Buffer, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(o + i * 2));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

interface FragGroup {
  pieces: Array<{ off: number; data: Buffer }>;
  total: number; // -1 until the last fragment arrived
  proto: number;
  src: string;
  dst: string;
}

/** Bounded: a capture full of lone fragments cannot grow memory without limit. */
const MAX_FRAG_GROUPS = 256;
const MAX_DATAGRAM = 65535;

export class IpDecoder {
  private readonly frags = new Map<string, FragGroup>();
  constructor(readonly stats: DecodeStats = newDecodeStats()) {}

  decode(linkType: number, frame: Buffer): Segment | undefined {
    this.stats.frames++;
    const ip = ipOfFrame(linkType, frame);
    if (!ip || ip.length < 1) {
      this.stats.skipped++;
      return undefined;
    }
    const version = ip[0]! >> 4;
    if (version === 4) return this.ipv4(ip);
    if (version === 6) return this.ipv6(ip);
    this.stats.skipped++;
    return undefined;
  }

  /** Fragment groups left incomplete are counted as dropped. */
  finish(): void {
    this.stats.fragmentsDropped += this.frags.size;
    this.frags.clear();
  }

  private ipv4(ip: Buffer): Segment | undefined {
    if (ip.length < 20) return this.malformed();
    const ihl = (ip[0]! & 0x0f) * 4;
    const total = ip.readUInt16BE(2);
    if (ihl < 20 || total < ihl || total > ip.length) return this.malformed();
    const proto = ip[9]!;
    const src = ipv4Text(ip, 12);
    const dst = ipv4Text(ip, 16);
    const flagsOff = ip.readUInt16BE(6);
    const more = (flagsOff & 0x2000) !== 0;
    const fragOff = (flagsOff & 0x1fff) * 8;
    // total length trims Ethernet padding after a short packet
    let payload = ip.subarray(ihl, total);
    if (more || fragOff > 0) {
      const whole = this.fragment(`4|${src}|${dst}|${proto}|${ip.readUInt16BE(4)}`, proto, src, dst, fragOff, more, payload);
      if (!whole) return undefined;
      payload = whole;
    }
    return this.transport(proto, src, dst, payload);
  }

  private ipv6(ip: Buffer): Segment | undefined {
    if (ip.length < 40) return this.malformed();
    const plen = ip.readUInt16BE(4);
    if (40 + plen > ip.length) return this.malformed();
    const src = ipv6Text(ip, 8);
    const dst = ipv6Text(ip, 24);
    let next = ip[6]!;
    let o = 40;
    const end = 40 + plen;
    let frag: { off: number; more: boolean; id: number } | undefined;
    // Extension headers (RFC 8200 4): hop-by-hop, routing, destination options, AH, fragment.
    for (;;) {
      if (next === 0 || next === 43 || next === 60) {
        if (o + 2 > end) return this.malformed();
        const n = ip[o]!;
        o += (ip[o + 1]! + 1) * 8;
        next = n;
      } else if (next === 51) {
        if (o + 2 > end) return this.malformed();
        const n = ip[o]!;
        o += (ip[o + 1]! + 2) * 4; // RFC 4302 2.2: AH length is in 4-byte units minus 2
        next = n;
      } else if (next === 44) {
        if (o + 8 > end) return this.malformed();
        const n = ip[o]!;
        const v = ip.readUInt16BE(o + 2);
        frag = { off: v & 0xfff8, more: (v & 1) === 1, id: ip.readUInt32BE(o + 4) };
        o += 8;
        next = n;
      } else break;
      if (o > end) return this.malformed();
    }
    let payload = ip.subarray(o, end);
    if (frag && (frag.more || frag.off > 0)) {
      const whole = this.fragment(`6|${src}|${dst}|${frag.id}`, next, src, dst, frag.off, frag.more, payload);
      if (!whole) return undefined;
      payload = whole;
    }
    return this.transport(next, src, dst, payload);
  }

  private fragment(key: string, proto: number, src: string, dst: string, off: number, more: boolean, data: Buffer): Buffer | undefined {
    this.stats.fragments++;
    let g = this.frags.get(key);
    if (!g) {
      if (this.frags.size >= MAX_FRAG_GROUPS) {
        // evict the oldest group (Map keeps insertion order)
        const oldest = this.frags.keys().next().value as string;
        this.frags.delete(oldest);
        this.stats.fragmentsDropped++;
      }
      g = { pieces: [], total: -1, proto, src, dst };
      this.frags.set(key, g);
    }
    if (off + data.length > MAX_DATAGRAM) {
      this.frags.delete(key);
      this.stats.fragmentsDropped++;
      return undefined;
    }
    g.pieces.push({ off, data }); // a view into the file buffer, which outlives the read
    if (!more) g.total = off + data.length;
    if (g.total < 0) return undefined;
    // complete when the pieces cover [0, total) without a hole
    g.pieces.sort((a, b) => a.off - b.off);
    let covered = 0;
    for (const p of g.pieces) {
      if (p.off > covered) return undefined;
      covered = Math.max(covered, p.off + p.data.length);
    }
    if (covered < g.total) return undefined;
    const out = Buffer.alloc(g.total);
    for (const p of g.pieces) p.data.copy(out, p.off, 0, Math.min(p.data.length, g.total - p.off));
    this.frags.delete(key);
    this.stats.reassembled++;
    return out;
  }

  private transport(proto: number, srcIp: string, dstIp: string, p: Buffer): Segment | undefined {
    if (proto === 17) {
      if (p.length < 8) return this.malformed();
      const len = p.readUInt16BE(4);
      // length 0 is legal for IPv6 jumbograms only; otherwise trust the smaller of the two
      const end = len >= 8 && len <= p.length ? len : p.length;
      return {
        transport: 'udp',
        src: { ip: srcIp, port: p.readUInt16BE(0) },
        dst: { ip: dstIp, port: p.readUInt16BE(2) },
        payload: p.subarray(8, end),
      };
    }
    if (proto === 6) {
      if (p.length < 20) return this.malformed();
      const hlen = (p[12]! >> 4) * 4;
      if (hlen < 20 || hlen > p.length) return this.malformed();
      const flags = p[13]!;
      return {
        transport: 'tcp',
        src: { ip: srcIp, port: p.readUInt16BE(0) },
        dst: { ip: dstIp, port: p.readUInt16BE(2) },
        payload: p.subarray(hlen),
        seq: p.readUInt32BE(4),
        fin: (flags & 0x01) !== 0,
        syn: (flags & 0x02) !== 0,
        rst: (flags & 0x04) !== 0,
      };
    }
    this.stats.skipped++;
    return undefined;
  }

  private malformed(): undefined {
    this.stats.malformed++;
    return undefined;
  }
}
