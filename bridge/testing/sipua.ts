/**
 * A deliberately small SIP user agent for the bridge's tests: enough to REGISTER, place and
 * answer a call (INVITE / 180 / 200 / ACK / BYE) and send MESSAGE, over any "wire" (a UDP
 * socket, a framed TCP/TLS stream, a WebSocket). It is a test peer, not a stack: no
 * retransmissions (loopback does not lose), no authentication.
 */
import { randomBytes } from 'node:crypto';
import { findHeader, firstElementEnd, H, nextElementStart, scanMessage, type ScannedMessage } from '../scan.js';

export interface Wire {
  send(msg: Buffer): void;
  onMessage(fn: (msg: Buffer) => void): void;
  close(): void;
}

export interface SipMsg {
  buf: Buffer;
  text: string;
  scan: ScannedMessage;
  method: string;
  status: number;
  callId: string;
  cseqMethod: string;
  /** all values of a header id, each comma-separated element separately. */
  values(id: number): string[];
  first(id: number): string | undefined;
}

export function sipMsg(buf: Buffer): SipMsg {
  const scan = scanMessage(buf);
  const values = (id: number): string[] => {
    const out: string[] = [];
    for (const h of scan.headers) {
      if (h.id !== id) continue;
      let s = h.valueStart;
      while (s < h.valueEnd) {
        const e = firstElementEnd(buf, s, h.valueEnd);
        out.push(buf.toString('latin1', s, e).trim());
        s = e < h.valueEnd ? nextElementStart(buf, e, h.valueEnd) : h.valueEnd;
      }
    }
    return out;
  };
  const one = (id: number) => {
    const h = findHeader(scan, id);
    return h ? buf.toString('latin1', h.valueStart, h.valueEnd) : undefined;
  };
  return {
    buf,
    text: buf.toString('latin1'),
    scan,
    method: scan.method,
    status: scan.status,
    callId: one(H.CALL_ID) ?? '',
    cseqMethod: (one(H.CSEQ) ?? '').split(/\s+/)[1] ?? '',
    values,
    first: (id) => values(id)[0],
  };
}

export const rand = (n = 6): string => randomBytes(n).toString('hex');

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

export interface UaOptions {
  wire: Wire;
  /** Via transport token and sent-by */
  transport: 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';
  sentBy: string;
  /** account, e.g. alice@example.com */
  aor: string;
  /** URI transport parameter for the Contact, e.g. ';transport=tcp' ('' for UDP) */
  contactParams?: string;
  /** answer incoming INVITE (180, 200), BYE (200), MESSAGE / OPTIONS / REGISTER (200). */
  autoAnswer?: boolean;
}

interface Waiter {
  pred: (m: SipMsg) => boolean;
  resolve: (m: SipMsg) => void;
}

export class MiniUa {
  readonly received: SipMsg[] = [];
  readonly #o: UaOptions;
  readonly #waiters: Waiter[] = [];
  #cseq = 1;
  readonly tag = rand(4);

  constructor(o: UaOptions) {
    this.#o = o;
    o.wire.onMessage((buf) => {
      let m: SipMsg;
      try {
        m = sipMsg(buf);
      } catch {
        return;
      }
      this.received.push(m);
      for (let i = 0; i < this.#waiters.length; i++) {
        const w = this.#waiters[i]!;
        if (w.pred(m)) {
          this.#waiters.splice(i, 1);
          w.resolve(m);
          return;
        }
      }
      if (o.autoAnswer && m.method) this.#answer(m);
    });
  }

  get contact(): string {
    const user = this.#o.aor.split('@')[0];
    return `<sip:${user}@${this.#o.sentBy}${this.#o.contactParams ?? ''};ob>`;
  }

  waitFor(pred: (m: SipMsg) => boolean, timeoutMs = 5000, what = 'message'): Promise<SipMsg> {
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`timeout waiting for ${what}; received:\n${this.received.map((r) => r.text.split('\r\n')[0]).join('\n')}`));
      }, timeoutMs);
      const done = (m: SipMsg) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.#waiters.push({ pred, resolve: done });
    });
  }

  /** Waits for the final response to the request with this Call-ID and CSeq method. */
  final(callId: string, method: string, timeoutMs = 5000): Promise<SipMsg> {
    return this.waitFor((m) => m.status >= 200 && m.callId === callId && m.cseqMethod === method, timeoutMs, `final response to ${method}`);
  }

  send(text: string): void {
    this.#o.wire.send(Buffer.from(text, 'latin1'));
  }

  request(method: string, ruri: string, o: { callId?: string; to?: string; toTag?: string; routes?: string[]; headers?: string; body?: string; cseq?: number; branch?: string } = {}): { callId: string; branch: string; text: string } {
    const callId = o.callId ?? `${rand()}@test`;
    const branch = o.branch ?? `z9hG4bK${rand()}`;
    const body = o.body ?? '';
    const to = o.to ?? `<sip:${this.#o.aor}>`;
    const text =
      `${method} ${ruri} SIP/2.0\r\n` +
      `Via: SIP/2.0/${this.#o.transport} ${this.#o.sentBy};branch=${branch};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      (o.routes ?? []).map((r) => `Route: ${r}\r\n`).join('') +
      `From: <sip:${this.#o.aor}>;tag=${this.tag}\r\n` +
      `To: ${to}${o.toTag ? `;tag=${o.toTag}` : ''}\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${o.cseq ?? this.#cseq++} ${method === 'ACK' ? 'ACK' : method}\r\n` +
      `Contact: ${this.contact}\r\n` +
      (o.headers ?? '') +
      (body ? 'Content-Type: application/sdp\r\n' : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    this.send(text);
    return { callId, branch, text };
  }

  async register(domain = this.#o.aor.split('@')[1]!): Promise<SipMsg> {
    const r = this.request('REGISTER', `sip:${domain}`, { headers: 'Expires: 600\r\n' });
    return this.final(r.callId, 'REGISTER');
  }

  /**
   * INVITE → 200 → ACK → BYE → 200 as the caller, following Record-Route (RFC 3261 §12.1.2:
   * the caller's route set is the Record-Route list reversed). Returns what happened.
   */
  async call(ruri: string, o: { routes?: string[]; to?: string } = {}): Promise<{ ringing: boolean; ok: SipMsg; byeOk: SipMsg; routeSet: string[] }> {
    const inv = this.request('INVITE', ruri, { routes: o.routes, to: o.to ?? `<${ruri}>`, body: SDP });
    const ringing = await this.waitFor((m) => m.status === 180 && m.callId === inv.callId, 5000, '180').then(() => true, () => false);
    const ok = await this.final(inv.callId, 'INVITE');
    if (ok.status !== 200) throw new Error(`INVITE got ${ok.status}`);
    const routeSet = ok.values(H.RECORD_ROUTE).reverse();
    const remote = /<([^>]+)>/.exec(ok.first(H.CONTACT) ?? '')?.[1] ?? ruri;
    const toTag = /;tag=([^;>\s]+)/i.exec(ok.first(H.TO) ?? '')?.[1];
    const dialog = { callId: inv.callId, to: o.to ?? `<${ruri}>`, toTag, routes: routeSet };
    this.request('ACK', remote, { ...dialog, cseq: 1 });
    const bye = this.request('BYE', remote, dialog);
    const byeOk = await this.final(bye.callId, 'BYE');
    return { ringing, ok, byeOk, routeSet };
  }

  /** A response to `req` (RFC 3261 §8.2.6): Vias, From, To (+tag), Call-ID, CSeq, Record-Route copied. */
  respond(req: SipMsg, status: number, reason: string, extra = '', body = ''): void {
    const s = req.scan;
    let out = `SIP/2.0 ${status} ${reason}\r\n`;
    for (const h of s.headers) {
      const v = req.buf.toString('latin1', h.valueStart, h.valueEnd);
      if (h.id === H.VIA) out += `Via: ${v}\r\n`;
      else if (h.id === H.FROM) out += `From: ${v}\r\n`;
      else if (h.id === H.TO) out += `To: ${v}${/;tag=/i.test(v) || status === 100 ? '' : `;tag=${this.tag}`}\r\n`;
      else if (h.id === H.CALL_ID) out += `Call-ID: ${v}\r\n`;
      else if (h.id === H.CSEQ) out += `CSeq: ${v}\r\n`;
      else if (h.id === H.RECORD_ROUTE && status > 100 && status < 300) out += `Record-Route: ${v}\r\n`;
    }
    if (req.method === 'INVITE' && status > 100 && status < 300) out += `Contact: ${this.contact}\r\n`;
    out += extra;
    if (body) out += 'Content-Type: application/sdp\r\n';
    out += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    this.send(out);
  }

  #answer(m: SipMsg): void {
    switch (m.method) {
      case 'INVITE':
        this.respond(m, 180, 'Ringing');
        this.respond(m, 200, 'OK', '', SDP);
        return;
      case 'ACK':
        return;
      case 'REGISTER':
        this.respond(m, 200, 'OK', `Contact: ${m.first(H.CONTACT) ?? '*'};expires=600\r\n`);
        return;
      default:
        this.respond(m, 200, 'OK');
    }
  }

  close(): void {
    this.#o.wire.close();
  }
}
