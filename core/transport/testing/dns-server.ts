/**
 * A tiny authoritative DNS server over UDP on loopback for RFC 3263 tests: A, AAAA, SRV and
 * NAPTR records from a table, NXDOMAIN for unknown names, NODATA for known names without the type.
 * It logs every question so tests can check what the resolver asked (and what it took from cache).
 * RFC 1035 §4 message format, RFC 2782 SRV, RFC 3403 NAPTR; no compression in answers' RDATA.
 */
import { createSocket, type Socket } from 'node:dgram';

export type DnsRecord =
  | { type: 'A'; name: string; address: string; ttl?: number }
  | { type: 'AAAA'; name: string; address: string; ttl?: number }
  | { type: 'SRV'; name: string; priority: number; weight: number; port: number; target: string; ttl?: number }
  | { type: 'NAPTR'; name: string; order: number; preference: number; flags: string; service: string; regexp?: string; replacement: string; ttl?: number };

const TYPE = { A: 1, AAAA: 28, SRV: 33, NAPTR: 35 } as const;
const TYPE_NAME: Record<number, string> = { 1: 'A', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR' };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function charString(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'ascii')]);
}

function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

function rdata(r: DnsRecord): Buffer {
  switch (r.type) {
    case 'A':
      return Buffer.from(r.address.split('.').map(Number));
    case 'AAAA':
      return ipv6Bytes(r.address);
    case 'SRV': {
      const b = Buffer.alloc(6);
      b.writeUInt16BE(r.priority, 0);
      b.writeUInt16BE(r.weight, 2);
      b.writeUInt16BE(r.port, 4);
      return Buffer.concat([b, encodeName(r.target)]);
    }
    case 'NAPTR': {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(r.order, 0);
      b.writeUInt16BE(r.preference, 2);
      return Buffer.concat([b, charString(r.flags), charString(r.service), charString(r.regexp ?? ''), encodeName(r.replacement)]);
    }
  }
}

export class DnsServer {
  /** every question asked, as 'TYPE name'. */
  readonly queries: string[] = [];
  private constructor(
    private readonly socket: Socket,
    public records: DnsRecord[],
  ) {}

  static async start(records: DnsRecord[]): Promise<DnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const s = new DnsServer(socket, records);
    socket.on('message', (m, rinfo) => {
      const answer = s.answer(m);
      if (answer) socket.send(answer, rinfo.port, rinfo.address);
    });
    return s;
  }

  get address(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }

  private answer(q: Buffer): Buffer | undefined {
    if (q.length < 12) return undefined;
    let i = 12;
    const labels: string[] = [];
    while (i < q.length && q[i] !== 0) {
      const n = q[i]!;
      labels.push(q.toString('ascii', i + 1, i + 1 + n));
      i += n + 1;
    }
    const qEnd = i + 5;
    if (qEnd > q.length) return undefined;
    const qtype = q.readUInt16BE(i + 1);
    const name = labels.join('.').toLowerCase();
    this.queries.push(`${TYPE_NAME[qtype] ?? qtype} ${name}`);
    const known = this.records.some((r) => r.name.toLowerCase() === name);
    const matches = this.records.filter((r) => r.name.toLowerCase() === name && TYPE[r.type] === qtype);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8400 | (q.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // QR, AA, RD copied, NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(matches.length, 6);
    const answers = matches.map((r) => {
      const d = rdata(r);
      const fixed = Buffer.alloc(10);
      fixed.writeUInt16BE(qtype, 0);
      fixed.writeUInt16BE(1, 2);
      fixed.writeUInt32BE(r.ttl ?? 60, 4);
      fixed.writeUInt16BE(d.length, 8);
      return Buffer.concat([Buffer.from([0xc0, 0x0c]), fixed, d]);
    });
    return Buffer.concat([header, q.subarray(12, qEnd), ...answers]);
  }
}
