/**
 * SIP messages out of a capture file: every UDP datagram as one payload, every TCP direction
 * reassembled and split into messages by Content-Length.
 *
 *   for (const p of readCapture(readFileSync('call.pcapng'))) console.log(p.src, p.payload.length)
 *
 * Errors in the file itself (bad magic, truncated record) throw PcapError after the packets
 * before the fault were yielded; frames we cannot decode are counted in `stats`.
 */
import { readFileSync } from 'node:fs';
import { readFrames } from './file.js';
import { IpDecoder, newDecodeStats, type DecodeStats, type Endpoint } from './ip.js';
import { TcpStream, type TcpStats } from './tcp.js';
import { SipStreamFramer, type FramerStats } from './framer.js';

export { PcapError, type PcapErrorCode } from './errors.js';
export { readFrames, captureFormat, type Frame, type CaptureFormat } from './file.js';
export { LINKTYPE, type Endpoint } from './ip.js';

export interface SipPacket {
  /** seconds since the epoch; for TCP, the time of the segment that completed the message. */
  ts: number;
  src: Endpoint;
  dst: Endpoint;
  transport: 'udp' | 'tcp';
  payload: Buffer;
}

export interface CaptureStats extends DecodeStats, TcpStats, FramerStats {
  udpDatagrams: number;
  tcpMessages: number;
  /** bytes of TCP streams left unframed or behind a hole at the end of the capture. */
  tcpLeftoverBytes: number;
}

export const newCaptureStats = (): CaptureStats => ({
  ...newDecodeStats(),
  tcpSegments: 0,
  tcpRetransmitted: 0,
  tcpOutOfOrder: 0,
  tcpDropped: 0,
  keepAlives: 0,
  framingErrors: 0,
  udpDatagrams: 0,
  tcpMessages: 0,
  tcpLeftoverBytes: 0,
});

export interface ReadCaptureOptions {
  /** filled in while reading (pass your own to read it afterwards). */
  stats?: CaptureStats;
  /** keep only traffic from or to these ports. */
  ports?: number[];
}

interface Direction {
  stream: TcpStream;
  framer: SipStreamFramer;
}

const key = (src: Endpoint, dst: Endpoint): string => `${src.ip}|${src.port}|${dst.ip}|${dst.port}`;

export function* readCapture(buf: Buffer, opts: ReadCaptureOptions = {}): Generator<SipPacket> {
  const stats = opts.stats ?? newCaptureStats();
  const ports = opts.ports ? new Set(opts.ports) : undefined;
  const ip = new IpDecoder(stats);
  const tcp = new Map<string, Direction>();
  try {
    for (const frame of readFrames(buf)) {
      const seg = ip.decode(frame.linkType, frame.data);
      if (!seg) continue;
      if (ports && !ports.has(seg.src.port) && !ports.has(seg.dst.port)) continue;
      if (seg.transport === 'udp') {
        stats.udpDatagrams++;
        yield { ts: frame.ts, src: seg.src, dst: seg.dst, transport: 'udp', payload: seg.payload };
        continue;
      }
      const k = key(seg.src, seg.dst);
      let dir = tcp.get(k);
      if (!dir || seg.syn) {
        // a SYN on a known 4-tuple is a new connection reusing the ports
        if (dir) stats.tcpLeftoverBytes += dir.framer.pending + dir.stream.gapBytes;
        dir = { stream: new TcpStream(stats), framer: new SipStreamFramer(stats) };
        tcp.set(k, dir);
      }
      for (const chunk of dir.stream.push(seg.seq ?? 0, seg.syn === true, seg.payload)) {
        for (const msg of dir.framer.push(chunk)) {
          stats.tcpMessages++;
          yield { ts: frame.ts, src: seg.src, dst: seg.dst, transport: 'tcp', payload: msg };
        }
      }
    }
  } finally {
    ip.finish();
    for (const dir of tcp.values()) stats.tcpLeftoverBytes += dir.framer.pending + dir.stream.gapBytes;
  }
}

export function readCaptureFile(path: string, opts: ReadCaptureOptions = {}): Generator<SipPacket> {
  return readCapture(readFileSync(path), opts);
}

/**
 * Is this payload meant as a SIP message, valid or not (not a keep-alive, RTP, STUN, DNS…)? The
 * question is not whether it parses, which is the parser's to answer, but whether to count it as
 * SIP at all: a start line that begins with `SIP/` or names a SIP version after its first word
 * (any version, spacing or method characters: RFC 4475's invalid messages count), or, for one
 * whose start line is broken beyond that, a Via and a Call-ID among its first lines (long or
 * compact names). CRLFs before the start line are skipped (RFC 3261 §7.5).
 */
export function looksLikeSip(payload: Buffer): boolean {
  const head = payload.subarray(0, Math.min(payload.length, 2048)).toString('latin1').replace(/^[\r\n]+/, '');
  if (head.length < 8) return false;
  const eol = head.search(/\r?\n/);
  const line = eol < 0 ? head : head.slice(0, eol);
  if (/^SIP\/\d/i.test(line) || /^\S+[ \t].*\bSIP\/\d+\.\d+\s*$/i.test(line)) return true;
  return /\n(via|v)[ \t]*:/i.test(head) && /\n(call-id|i)[ \t]*:/i.test(head);
}

