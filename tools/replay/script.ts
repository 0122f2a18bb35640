/**
 * A replay script out of a capture: the SIP messages one side sent and received, in capture
 * order, retransmissions removed (RFC 3261 17: a retransmission repeats the same transaction
 * message; the replay engine's peer retransmits on its own if it needs to).
 */
import { parseMessage, type SipMessage } from '../../core/sip/index.js';
import { readCapture, looksLikeSip, type Endpoint } from '../pcap/index.js';
import { SipStackError } from '../../core/errors.js';

export class ReplayError extends SipStackError {}

export interface Step {
  /** 'out': we send it; 'in': we expect the peer to send it. */
  dir: 'out' | 'in';
  msg: SipMessage;
  /** capture time in seconds */
  ts: number;
}

export interface Script {
  /** the recorded address we play */
  side: Endpoint;
  /** the recorded address of the other party */
  peer: Endpoint;
  steps: Step[];
  /** messages dropped as retransmissions */
  retransmissions: number;
}

export const endpointText = (e: Endpoint): string => (e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);

/** Identity of a message within its transaction: equal for a retransmission, different otherwise. */
export function messageKey(m: SipMessage): string {
  const via = m.via[0];
  const start = m.isRequest ? m.method : String(m.status);
  return `${start}|${m.callId}|${m.cseq.seq}|${m.cseq.method}|${via?.branch ?? ''}|${m.to.tag ?? ''}`;
}

/** `INVITE` for a request, `180 (INVITE)` for a response: what the comparison looks at. */
export function signature(m: SipMessage): string {
  return m.isRequest ? m.method : `${m.status} (${m.cseq.method})`;
}

export function parseEndpoint(text: string): Endpoint | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { ip: m[1]!.toLowerCase(), port };
}

const same = (a: Endpoint, b: Endpoint): boolean => a.ip === b.ip && a.port === b.port;

export function buildScript(capture: Buffer, side?: Endpoint): Script {
  const packets: Array<{ ts: number; src: Endpoint; dst: Endpoint; msg: SipMessage }> = [];
  for (const p of readCapture(capture)) {
    if (p.transport !== 'udp' || !looksLikeSip(p.payload)) continue;
    // a message the parser refuses cannot be replayed: skip it, the peer never acted on it either
    try {
      packets.push({ ts: p.ts, src: p.src, dst: p.dst, msg: parseMessage(p.payload) });
    } catch {
      continue;
    }
  }
  if (packets.length === 0) throw new ReplayError('REPLAY_EMPTY', 'the capture holds no SIP message over UDP');
  const ours = side ?? packets.find((p) => p.msg.isRequest)?.src;
  if (!ours) throw new ReplayError('REPLAY_EMPTY', 'the capture holds no SIP request');
  const mine = packets.filter((p) => same(p.src, ours) || same(p.dst, ours));
  if (mine.length === 0) throw new ReplayError('REPLAY_NO_SIDE', `no SIP message from or to ${endpointText(ours)} in the capture`);
  const first = mine[0]!;
  const peer = same(first.src, ours) ? first.dst : first.src;
  const seen = new Set<string>();
  const steps: Step[] = [];
  let retransmissions = 0;
  for (const p of mine) {
    const dir = same(p.src, ours) ? 'out' : 'in';
    const key = `${dir}|${messageKey(p.msg)}`;
    if (seen.has(key)) {
      retransmissions++;
      continue;
    }
    seen.add(key);
    steps.push({ dir, msg: p.msg, ts: p.ts });
  }
  return { side: ours, peer, steps, retransmissions };
}
