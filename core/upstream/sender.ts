/**
 * The engine's `RegistrationSender` over the SIP stack: builds the REGISTER (RFC 3261 §10.2),
 * finds the next hop (the outbound proxy as a pre-loaded loose Route, §8.1.2, else the
 * registrar) by RFC 3263 through core/transport's resolver, runs it as a non-INVITE client
 * transaction, and reduces the final response to the fields the engine acts on.
 *
 * Our Contact's host:port is the sent-by of the socket that reaches the first target
 * (`Transport.sentBy`), so it is the address the provider can send INVITEs back to.
 */
import { generateTag, parseMessage, parseUri, type SipMessage } from '../sip/index.js';
import type { SipUri } from '../sip/types.js';
import type { ClientTransactionUser, TransactionError, TransactionLayer } from '../transaction/index.js';
import { SipResolver, TransportError, type Endpoint } from '../transport/index.js';
import { formatContact } from './contact.js';
import { UpstreamError } from './errors.js';
import type { RegisterOutcome, RegisterResponse, RegisterSpec, RegistrationSender } from './types.js';

export interface SipSenderOptions {
  /** resolver shared with the transaction layer (its cache); default a new one. */
  resolver?: SipResolver;
  /** User-Agent header, default `sipis`. */
  userAgent?: string;
}

/** Reads a non-negative integer header value (`Retry-After: 120 (busy);duration=60` → 120). */
function leadingInt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d{1,10})/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** The parts of a final response to a REGISTER that the engine needs; tolerant of bad headers. */
export function toRegisterResponse(msg: SipMessage): RegisterResponse {
  const status = msg.status ?? 0;
  const out: RegisterResponse = { status, reason: msg.reason, contacts: [], challenges: [] };
  try {
    out.contacts = msg.contact;
  } catch {
    // a malformed Contact list in a 2xx: fall back to the Expires header
  }
  try {
    out.expires = msg.expires;
  } catch {
    /* ignore */
  }
  const min = leadingInt(msg.header('Min-Expires'));
  if (min !== undefined) out.minExpires = min;
  const ra = leadingInt(msg.header('Retry-After'));
  if (ra !== undefined) out.retryAfter = ra;
  if (status === 401 || status === 407) {
    try {
      out.challenges = status === 407 ? msg.proxyAuthenticate : msg.wwwAuthenticate;
    } catch {
      out.challenges = [];
    }
  }
  return out;
}

/**
 * The URI the REGISTER is sent to: the outbound proxy when there is one (its own URI says how to
 * reach it, and the proxy carries the request on to the registrar however the provider wants),
 * else the registrar. The account's transport is the registrar's: tcp or tls there is refused
 * like a registrar URI with `;transport=tcp` (sipis speaks UDP; the resolver throws the same
 * ERR_TRANSPORT_UNSUPPORTED), instead of a REGISTER over UDP the provider did not ask for.
 */
export function nextHop(spec: Pick<RegisterSpec, 'outboundProxy' | 'requestUri' | 'transport'>): string {
  if (spec.outboundProxy) return spec.outboundProxy;
  if (spec.transport && spec.transport !== 'udp') {
    throw new TransportError('ERR_TRANSPORT_UNSUPPORTED', `transport=${spec.transport} is not UDP: route it through the bridge or an outbound proxy`);
  }
  return spec.requestUri;
}

export class SipRegistrationSender implements RegistrationSender {
  private readonly resolver: SipResolver;
  /** `User-Agent: …\r\n`, written once. */
  private readonly userAgentLine: string;
  /** parsed registrar/proxy URIs, shared by the accounts of one provider. */
  private readonly uris = new Map<string, SipUri>();

  constructor(
    private readonly layer: TransactionLayer,
    opts: SipSenderOptions = {},
  ) {
    this.resolver = opts.resolver ?? new SipResolver();
    const ua = opts.userAgent ?? 'sipis';
    if (/[\r\n]/.test(ua)) throw new UpstreamError('ERR_UPSTREAM_BAD_OPTION', 'userAgent contains CR or LF');
    this.userAgentLine = `User-Agent: ${ua}\r\n`;
  }

  private uri(text: string): SipUri {
    let u = this.uris.get(text);
    if (!u) {
      u = parseUri(text);
      if (this.uris.size > 10_000) this.uris.clear();
      this.uris.set(text, u);
    }
    return u;
  }

  async send(spec: RegisterSpec): Promise<RegisterOutcome> {
    let targets: Endpoint[];
    try {
      const hop = this.uri(nextHop(spec));
      targets = this.resolver.resolveLiteral(hop) ?? (await this.resolver.resolve(hop));
    } catch (err) {
      return { kind: 'timeout', reason: `cannot resolve next hop: ${(err as Error).message}` };
    }
    let req: SipMessage;
    try {
      const sb = this.layer.transport.sentBy(targets[0]!);
      // Written as text and parsed once, rather than through createRequest's header list: this
      // runs ~400 times a second for a million accounts, and every field here is already known
      // to be well formed (checkAccount validated the URIs, the digest value refuses CR/LF, the
      // Call-ID is checked below); the parser still checks the whole message.
      if (/[\r\n]/.test(spec.callId)) throw new Error('Call-ID contains CR or LF');
      // Via: a placeholder; the transaction layer writes our real Via with a new branch and rport
      let text = `REGISTER ${spec.requestUri} SIP/2.0\r\nVia: SIP/2.0/UDP ${sb.host}:${sb.port};branch=z9hG4bK-placeholder\r\nMax-Forwards: 70\r\n`;
      if (spec.outboundProxy) text += `Route: <${spec.outboundProxy};lr>\r\n`;
      text += `From: <${spec.aor}>;tag=${generateTag()}\r\nTo: <${spec.aor}>\r\nCall-ID: ${spec.callId}\r\nCSeq: ${spec.cseq} REGISTER\r\nContact: ${formatContact(spec.contactUser, sb.host, sb.port, spec.expires)}\r\nExpires: ${spec.expires}\r\n${this.userAgentLine}`;
      if (spec.authorization) text += `${spec.authorization.header}: ${spec.authorization.value}\r\n`;
      req = parseMessage(Buffer.from(text + 'Content-Length: 0\r\n\r\n', 'utf8'));
    } catch (err) {
      return { kind: 'timeout', reason: `cannot build REGISTER: ${(err as Error).message}` };
    }
    return new Promise<RegisterOutcome>((resolve) => {
      let done = false;
      const user: ClientTransactionUser = {
        onResponse(res) {
          if (done || (res.status ?? 0) < 200) return;
          done = true;
          resolve({ kind: 'response', response: toRegisterResponse(res) });
        },
        onError(err: TransactionError) {
          if (done) return;
          done = true;
          resolve({ kind: 'timeout', reason: `${err.code}: ${err.message}` });
        },
      };
      try {
        this.layer.sendRequest(req, user, { target: targets });
      } catch (err) {
        done = true;
        resolve({ kind: 'timeout', reason: `send failed: ${(err as Error).message}` });
      }
    });
  }
}
