/**
 * A scripted phone for the registrar's tests: builds REGISTERs by hand (so tests control every
 * header), sends them over any Transport (MemoryTransport or UDP on loopback), and answers digest
 * challenges with core/sip's digest client.
 */
import { randomBytes } from 'node:crypto';
import { buildAuthorization } from '../../sip/digest.js';
import { parseMessage, type SipMessage } from '../../sip/index.js';
import type { AuthChallenge } from '../../sip/types.js';
import type { Endpoint, Transport } from '../../transport/index.js';

export interface RegisterInit {
  /** Contact header values (whole, e.g. `<sip:a@1.2.3.4;pn-provider=apns>;+sip.instance="<urn:uuid:…>"`); none = query. */
  contacts?: string[];
  expires?: number;
  callId?: string;
  cseq?: number;
  /** extra header lines. */
  headers?: string[];
  /** digest credentials; without them the first response (401) is returned. */
  auth?: { username: string; password: string; algorithm?: 'MD5' | 'SHA-256' };
  /** send this Authorization instead of computing one. */
  authorization?: string;
}

export class TestPhone {
  readonly callId = `${randomBytes(6).toString('hex')}@phone`;
  private cseq = 0;
  private readonly waiting = new Map<string, (m: SipMessage) => void>();
  readonly received: SipMessage[] = [];
  /** the last request sent, byte for byte, and its branch: what `retransmit` sends again. */
  private last: { data: Buffer; branch: string; cseq: number } | undefined;

  constructor(
    readonly transport: Transport,
    readonly server: Endpoint,
    /** the account AOR in To/From, e.g. `sip:alice@provider.example`. */
    readonly aor: string,
    readonly requestUri: string,
  ) {
    transport.onMessage((msg) => {
      this.received.push(msg);
      const key = msg.via[0]?.branch ?? '';
      const w = this.waiting.get(key);
      if (w && msg.status >= 200) {
        this.waiting.delete(key);
        w(msg);
      }
    });
  }

  get local(): Endpoint {
    return this.transport.endpoints[0]!;
  }

  /** one REGISTER transaction: resolves with its final response (5 s timeout). */
  send(init: RegisterInit, authorization?: string): Promise<SipMessage> {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const cseq = init.cseq ?? ++this.cseq;
    if (init.cseq !== undefined) this.cseq = Math.max(this.cseq, init.cseq);
    const l = this.local;
    const lines = [
      `REGISTER ${this.requestUri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${l.address}:${l.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${this.aor}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <${this.aor}>`,
      `Call-ID: ${init.callId ?? this.callId}`,
      `CSeq: ${cseq} REGISTER`,
      ...(init.contacts ?? []).map((c) => `Contact: ${c}`),
      ...(init.expires !== undefined ? [`Expires: ${init.expires}`] : []),
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      ...(init.headers ?? []),
      'Content-Length: 0',
      '',
      '',
    ];
    this.last = { data: Buffer.from(lines.join('\r\n')), branch, cseq };
    return this.transmit(this.last);
  }

  /**
   * Sends the last request again, the same bytes (same branch): what a UDP phone does when its
   * Timer E fires or the 200 was lost (RFC 3261 §17.1.2.2). Resolves with the next final
   * response on that branch.
   */
  retransmit(): Promise<SipMessage> {
    if (!this.last) throw new Error('nothing sent yet');
    return this.transmit(this.last);
  }

  private transmit(req: { data: Buffer; branch: string; cseq: number }): Promise<SipMessage> {
    return new Promise<SipMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(req.branch);
        reject(new Error(`no final response to REGISTER (CSeq ${req.cseq})`));
      }, 5000);
      this.waiting.set(req.branch, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.transport.send(req.data, this.server);
    });
  }

  /** REGISTER, and when challenged, REGISTER again with credentials (next CSeq). */
  async register(init: RegisterInit): Promise<SipMessage> {
    const first = await this.send({ ...init, auth: undefined }, init.authorization);
    if (first.status !== 401 || !init.auth || init.authorization) return first;
    return this.send({ ...init, cseq: init.cseq !== undefined ? init.cseq + 1 : undefined }, this.authorize(first, init.auth));
  }

  /** Authorization answering `challengeResponse`'s challenge; `nc`: the nonce count (1 for its first use). */
  authorize(challengeResponse: SipMessage, auth: NonNullable<RegisterInit['auth']>, nc = 1): string {
    const alg = auth.algorithm ?? 'MD5';
    const ch = challengeResponse.wwwAuthenticate.find((c: AuthChallenge) => (c.params.get('algorithm') ?? 'MD5').toUpperCase() === alg);
    if (!ch) throw new Error(`no ${alg} challenge`);
    return buildAuthorization({ challenge: ch, method: 'REGISTER', uri: this.requestUri, username: auth.username, password: auth.password, nc });
  }
}

export function parse(text: string): SipMessage {
  return parseMessage(Buffer.from(text));
}
