/**
 * The replay engine: plays our side of a script against a live target over UDP.
 * Before sending a message it waits for every message the capture shows the peer sending
 * before it (up to `timeoutMs` each), so the exchange keeps its causal order. Incoming messages
 * are de-duplicated like the capture (retransmissions do not count) and compared by signature
 * (method, or status and CSeq method); the first difference ends the replay.
 * Order is compared within each transaction: between concurrent calls, and between the
 * transactions of one call (the 200 to a CANCEL and the 487 to its INVITE, relayed by two
 * workers of a proxy), the live interleaving depends on timing, not on the behaviour under test.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { isKeepAlive, parseMessage, type SipMessage } from '../../core/sip/index.js';
import type { Endpoint } from '../pcap/index.js';
import { Rewriter, type Credentials } from './rewrite.js';
import { endpointText, messageKey, signature, type Script } from './script.js';

export interface ReplayOptions {
  target: Endpoint;
  /** local address to bind (port 0 = any); its address goes into Via and Contact. */
  local?: Endpoint;
  pace?: 'recorded' | 'fast';
  /** how long to wait for each expected incoming message (ms). */
  timeoutMs?: number;
  /** after the last step, how long to listen for unexpected extra messages (ms). */
  graceMs?: number;
  /** to answer live digest challenges (the recorded Authorization cannot match a new nonce) */
  credentials?: Credentials;
  /** called for each event, for --verbose */
  trace?: (line: string) => void;
  /**
   * send each ACK for a 2xx after the request that follows it (when no answer is awaited in
   * between): how a proxy with several workers may deliver them (RFC 5407 §3.1.4).
   */
  ackLate?: boolean;
}

export interface ReplayResult {
  ok: boolean;
  expected: string[];
  got: string[];
  sent: string[];
  /** why it stopped early, when it did */
  reason?: string;
}

interface Inbox {
  items: SipMessage[];
  wake: (() => void) | undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function replay(script: Script, o: ReplayOptions): Promise<ReplayResult> {
  const family = isIP(o.target.ip) === 6 ? 'udp6' : 'udp4';
  const localIp = o.local?.ip ?? (family === 'udp6' ? '::1' : '127.0.0.1');
  const sock: Socket = createSocket(family);
  const inbox: Inbox = { items: [], wake: undefined };
  const seen = new Set<string>();
  const trace = o.trace ?? (() => undefined);
  sock.on('message', (buf) => {
    if (isKeepAlive(buf)) return;
    let msg: SipMessage;
    try {
      msg = parseMessage(Buffer.from(buf));
    } catch (e) {
      trace(`<- unparsable datagram: ${(e as Error).message}`);
      return;
    }
    const key = messageKey(msg);
    if (seen.has(key)) {
      trace(`<- ${signature(msg)} (retransmission, ignored)`);
      return;
    }
    seen.add(key);
    inbox.items.push(msg);
    inbox.wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(o.local?.port ?? 0, localIp, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', (e) => trace(`socket error: ${e.message}`));
  const local = { ip: localIp, port: sock.address().port };
  trace(`bound ${endpointText(local)}`);
  const rw = new Rewriter(script.side, script.peer, local, o.target, o.credentials);
  const timeoutMs = o.timeoutMs ?? 5000;
  const expected = script.steps.filter((s) => s.dir === 'in').map((s) => signature(s.msg));
  const got: string[] = [];
  const sent: string[] = [];
  let lastInvite: { bytes: Buffer; msg: SipMessage } | undefined;

  // recorded Call-ID <-> live Call-ID, to route each incoming message to its call's next step
  const liveCall = new Map<string, string>();
  const recordedCall = new Map<string, string>();
  const pair = (recorded: string, live: string) => {
    liveCall.set(recorded, live);
    recordedCall.set(live, recorded);
  };
  const belongs = (m: SipMessage, expect: SipMessage): boolean => {
    const live = liveCall.get(expect.callId);
    // a call the peer starts: any live Call-ID not yet paired may be it
    return live !== undefined ? m.callId === live : !recordedCall.has(m.callId);
  };
  // a response of the expected transaction (same CSeq); a request from the peer: any request
  const sameTransaction = (m: SipMessage, expect: SipMessage): boolean =>
    expect.isRequest ? m.isRequest : !m.isRequest && m.cseq.seq === expect.cseq.seq && m.cseq.method === expect.cseq.method;
  const take = (expect: SipMessage): SipMessage | undefined => {
    const sig = signature(expect);
    let i = inbox.items.findIndex((m) => belongs(m, expect) && sameTransaction(m, expect) && signature(m) === sig);
    // not (yet) there: another answer of the same transaction is a difference at once
    if (i < 0) i = inbox.items.findIndex((m) => belongs(m, expect) && sameTransaction(m, expect));
    return i < 0 ? undefined : inbox.items.splice(i, 1)[0];
  };

  const next = async (expect: SipMessage): Promise<SipMessage | undefined> => {
    const deadline = Date.now() + timeoutMs;
    for (let m = take(expect); ; m = take(expect)) {
      if (m) return m;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        inbox.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      inbox.wake = undefined;
    }
  };

  const send = (bytes: Buffer) =>
    new Promise<void>((resolve, reject) => sock.send(bytes, o.target.port, o.target.ip, (err) => (err ? reject(err) : resolve())));

  /** RFC 3261 17.1.1.3: a non-2xx final answer to our INVITE still gets its ACK, so the target's transaction ends cleanly. */
  const ackIfNeeded = async (m: SipMessage) => {
    if (m.isRequest || m.status < 300 || m.cseq.method !== 'INVITE' || !lastInvite) return;
    const inv = lastInvite.msg;
    if (inv.callId !== m.callId) return;
    const ack = [
      `ACK ${inv.uri} SIP/2.0`,
      `Via: ${inv.headerValues('Via')[0]}`,
      `From: ${inv.header('From')}`,
      `To: ${m.header('To')}`,
      `Call-ID: ${inv.callId}`,
      `CSeq: ${inv.cseq.seq} ACK`,
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    await send(Buffer.from(ack, 'latin1'));
    trace(`-> ACK (for ${m.status}, not in the capture)`);
  };

  let reason: string | undefined;
  let prevTs: number | undefined;
  let prevAt = Date.now();
  // --ack-late: the ACK held back, sent after the next request (or before the next wait)
  let lateAck: Buffer | undefined;
  // the final status of each live call's last INVITE: only the ACK of a 2xx is a request of its own
  const inviteFinal = new Map<string, number>();
  const flushAck = async () => {
    if (!lateAck) return;
    const ack = lateAck;
    lateAck = undefined;
    await send(ack);
    trace('-> ACK (held back behind the request before it)');
  };
  try {
    for (const step of script.steps) {
      if (step.dir === 'in') {
        await flushAck();
        const m = await next(step.msg);
        if (!m) {
          const others = inbox.items.map((x) => `${signature(x)} (Call-ID ${x.callId})`);
          reason = `timed out after ${timeoutMs} ms waiting for ${signature(step.msg)}` + (others.length > 0 ? `; received instead: ${others.join(', ')}` : '');
          break;
        }
        got.push(signature(m));
        trace(`<- ${signature(m)}`);
        if (!m.isRequest && m.cseq.method === 'INVITE' && m.status >= 200) inviteFinal.set(m.callId, m.status);
        if (signature(m) !== signature(step.msg)) {
          reason = `expected ${signature(step.msg)}, got ${signature(m)}`;
          await ackIfNeeded(m);
          break;
        }
        rw.learn(step.msg, m);
        pair(step.msg.callId, m.callId);
      } else {
        if (o.pace !== 'fast' && prevTs !== undefined && step.ts > prevTs) {
          const wait = (step.ts - prevTs) * 1000 - (Date.now() - prevAt);
          if (wait > 0) await sleep(Math.min(wait, 10_000));
        }
        const bytes = rw.outgoing(step.msg);
        const live = parseMessage(bytes);
        pair(step.msg.callId, live.callId);
        sent.push(signature(step.msg));
        if (o.ackLate && live.isRequest && live.method === 'ACK' && (inviteFinal.get(live.callId) ?? 0) < 300 && !lateAck) {
          lateAck = bytes;
          trace('-> ACK held back');
        } else {
          await send(bytes);
          if (live.isRequest && live.method === 'INVITE') lastInvite = { bytes, msg: live };
          trace(`-> ${signature(step.msg)}`);
          await flushAck();
        }
      }
      prevTs = step.ts;
      prevAt = Date.now();
    }
    await flushAck();
    if (!reason) {
      // anything more the target sends is a difference too
      await sleep(o.graceMs ?? 300);
      for (const m of inbox.items) {
        got.push(signature(m));
        reason ??= `unexpected ${signature(m)} after the last expected message`;
      }
    }
  } finally {
    sock.close();
  }
  const ok = reason === undefined && got.length === expected.length && got.every((g, i) => g === expected[i]);
  return { ok, expected, got, sent, reason };
}

/** A readable side-by-side of expected and received messages. */
export function formatDiff(r: ReplayResult): string {
  const n = Math.max(r.expected.length, r.got.length);
  const w = Math.max(8, ...r.expected.map((s) => s.length));
  const rows = [`  #  ${'expected'.padEnd(w)}  got`];
  for (let i = 0; i < n; i++) {
    const e = r.expected[i] ?? '-';
    const g = r.got[i] ?? '-';
    rows.push(`${e === g ? ' ' : '!'} ${String(i + 1).padStart(2)} ${e.padEnd(w)}  ${g}`);
  }
  if (r.reason) rows.push(`stopped: ${r.reason}`);
  return rows.join('\n');
}
