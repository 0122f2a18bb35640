/**
 * The demo's ladder diagram, written as the messages cross sipis's socket (tools/demo/tap.ts)
 * and as the mock APNs receives pushes: one line per message, the side it came from or went to
 * (the caller's side is the provider's address, the phone's side is the bridge's), and a note
 * on what it means in the story. It also keeps the milestones the demo must see to call the
 * story complete: those come from the same events, never from the script's own expectations.
 */
import { formatUri, type SipMessage } from '../../core/sip/index.js';
import type { Endpoint } from '../../core/transport/index.js';
import type { TapEvent } from './tap.js';

export const MILESTONES = {
  invite: 'the INVITE from the caller reached sipis',
  alerting: 'sipis answered 180 with X-Sipis-Push-Status: Alerting-Device',
  push: 'the mock APNs received the incoming-call push',
  wake: 'the phone woke up and sent REGISTER',
  registered: 'sipis accepted the REGISTER (200)',
  inviteToPhone: 'sipis sent its INVITE to the phone',
  answer: 'the phone answered 200',
  answerRelayed: 'sipis relayed the 200 to the caller',
  ackIn: 'the caller sent ACK',
  ackOut: 'sipis sent ACK to the phone',
  byeIn: 'the caller sent BYE',
  byeOut: 'sipis sent BYE to the phone',
  byeAnswered: 'the BYE was answered 200 back to the caller',
} as const;
export type Milestone = keyof typeof MILESTONES;

export type Phase = 'setup' | 'call';

export interface Sides {
  /** where the caller's messages come from: the provider (Kamailio). */
  provider: Endpoint;
  /** where the phone's messages come from: the bridge's UDP socket. */
  bridge: Endpoint;
}

const same = (a: Endpoint, b: Endpoint): boolean => a.port === b.port && a.address === b.address;

const PUSH_STATUS = 'X-Sipis-Push-Status';
const SIPIS_REASON = 'X-Sipis-Reason';

export class Ladder {
  readonly seen = new Map<Milestone, number>();
  phase: Phase = 'setup';
  /** time of the caller's INVITE at sipis (the ladder's zero in the call phase). */
  t0: number | undefined;
  private readonly keys = new Set<string>();
  private woke = false;
  private start = Date.now();

  constructor(
    private readonly sides: Sides,
    private readonly write: (line: string) => void,
  ) {}

  /** starts the call phase: times are printed from the caller's INVITE on. */
  callPhase(): void {
    this.phase = 'call';
    this.start = Date.now();
  }

  note(text: string): void {
    this.write(text);
  }

  /** A push the mock APNs accepted. */
  push(at: number, rec: { token: string; pushType: string; payload: Record<string, unknown> }): void {
    const sipis = (rec.payload.sipis ?? {}) as Record<string, unknown>;
    const verb = typeof sipis.verb === 'string' ? sipis.verb : '?';
    if (this.phase === 'call' && verb === 'NotifyIncomingCall') this.mark('push', at);
    const from = typeof sipis.callerUri === 'string' ? ` from ${sipis.callerUri}` : '';
    this.line(at, 'APNs (mock)', `push sent to APNs (mock) for device ${rec.token.slice(0, 8)}…`, `${rec.pushType} push, ${verb}${from}`);
  }

  sip(ev: TapEvent): void {
    const m = ev.msg;
    const method = m.isRequest ? m.method : m.cseq.method;
    if (method === 'OPTIONS') return; // the bridge's health probes
    const side = same(ev.remote, this.sides.provider) ? 'caller' : same(ev.remote, this.sides.bridge) ? 'phone' : undefined;
    const upstreamRegister = method === 'REGISTER' && side === 'caller';
    if (this.phase === 'call' && upstreamRegister) return; // a refresh of the account's own registration
    const who = side === 'caller' ? (upstreamRegister ? 'provider' : 'caller') : side ?? `${ev.remote.address}:${ev.remote.port}`;
    const arrow = who === 'phone' ? (ev.dir === 'in' ? 'sipis ← phone' : 'sipis → phone') : ev.dir === 'in' ? `${who} → sipis` : `${who} ← sipis`;
    // a retransmission is the same datagram again (RFC 3261 §17: retransmitted byte for byte)
    const key = `${ev.dir}|${ev.remote.port}|${m.raw.toString('latin1')}`;
    const retransmission = this.keys.has(key);
    this.keys.add(key);
    const what = m.isRequest ? `${m.method} ${m.uri}` : `${m.status} ${m.reason}${m.header(PUSH_STATUS) ? ` [${m.header(PUSH_STATUS)}]` : ''}${m.header(SIPIS_REASON) ? ` [${m.header(SIPIS_REASON)}]` : ''}`;
    const note = retransmission ? '(retransmission)' : this.story(ev, m, side, upstreamRegister);
    this.line(ev.at, arrow, m.isRequest && m.method === 'REGISTER' && m.hasHeader('Authorization') ? `${what} (with credentials)` : what, note);
  }

  /** What a message means in the story (and the milestone it is). */
  private story(ev: TapEvent, m: SipMessage, side: 'caller' | 'phone' | undefined, upstreamRegister: boolean): string {
    const inn = ev.dir === 'in';
    if (upstreamRegister) {
      if (!inn) return m.hasHeader('Authorization') ? '' : `sipis registers ${m.to.uri.user ?? 'the account'} at the provider`;
      return m.status === 200 ? 'Registered upstream: calls for the account now come to sipis' : '';
    }
    if (this.phase === 'setup') {
      if (side === 'phone' && inn && m.isRequest && m.method === 'REGISTER' && !m.hasHeader('Authorization')) return 'the phone registers with its push tokens (RFC 8599)';
      if (side === 'phone' && !inn && m.status === 200) return 'device binding stored; the phone closes its connection and sleeps';
      return '';
    }
    if (side === 'caller') {
      if (inn && m.isRequest && m.method === 'INVITE' && !m.to.tag) {
        this.t0 = ev.at;
        this.mark('invite', ev.at);
        const from = m.from.displayName ? `"${m.from.displayName}" ` : '';
        return `INVITE from caller → sipis: incoming call for ${m.to.uri.user} from ${from}<${formatUri(m.from.uri)}>`;
      }
      if (!inn && !m.isRequest && m.cseq.method === 'INVITE') {
        const ps = m.header(PUSH_STATUS);
        if (m.status === 180 && ps === 'Alerting-Device') {
          this.mark('alerting', ev.at);
          return '180 Alerting-Device: the phone sleeps, sipis asks the mediator to push';
        }
        if (ps === 'Push-Notification-Sent') return 'the mediator confirmed the push';
        if (m.status === 200) {
          this.mark('answerRelayed', ev.at);
          return 'caller ← 200: the answer relayed to the caller';
        }
        if (m.status >= 300) return `the call failed: ${m.status} ${m.reason}`;
        return '';
      }
      if (inn && m.isRequest && m.method === 'ACK') {
        this.mark('ackIn', ev.at);
        return 'ACK from the caller';
      }
      if (inn && m.isRequest && m.method === 'BYE') {
        this.mark('byeIn', ev.at);
        return 'BYE: the caller hangs up';
      }
      if (!inn && !m.isRequest && m.cseq.method === 'BYE' && m.status === 200) {
        this.mark('byeAnswered', ev.at);
        return 'call ended on both legs';
      }
      return '';
    }
    if (side === 'phone') {
      if (inn && m.isRequest && m.method === 'REGISTER' && !this.woke) {
        this.woke = true;
        this.mark('wake', ev.at);
        return 'phone wakes: REGISTER (a new connection through the bridge)';
      }
      if (!inn && !m.isRequest && m.cseq.method === 'REGISTER' && m.status === 200) {
        this.mark('registered', ev.at);
        return 'the phone is reachable again: its readiness';
      }
      if (!inn && m.isRequest && m.method === 'INVITE') {
        this.mark('inviteToPhone', ev.at);
        return 'sipis → phone INVITE: its own call, built from the original';
      }
      if (inn && !m.isRequest && m.cseq.method === 'INVITE' && m.status === 200) {
        this.mark('answer', ev.at);
        return 'phone answers 200';
      }
      if (inn && !m.isRequest && m.cseq.method === 'INVITE' && m.status === 180) return 'the phone rings';
      if (!inn && m.isRequest && m.method === 'ACK') {
        this.mark('ackOut', ev.at);
        return 'ACK relayed to the phone';
      }
      if (!inn && m.isRequest && m.method === 'BYE') {
        this.mark('byeOut', ev.at);
        return 'BYE relayed to the phone';
      }
    }
    return '';
  }

  missing(): Milestone[] {
    return (Object.keys(MILESTONES) as Milestone[]).filter((k) => !this.seen.has(k));
  }

  private mark(k: Milestone, at: number): void {
    if (!this.seen.has(k)) this.seen.set(k, at);
  }

  private line(at: number, arrow: string, what: string, note: string): void {
    const base = this.phase === 'call' ? (this.t0 ?? this.start) : this.start;
    const dt = `${at - base >= 0 ? '+' : ''}${at - base} ms`;
    const text = `  ${dt.padStart(9)}  ${arrow.padEnd(16)} ${what.length > 58 ? what.slice(0, 57) + '…' : what.padEnd(58)}${note ? `  ${note}` : ''}`;
    this.write(text.trimEnd());
  }
}
