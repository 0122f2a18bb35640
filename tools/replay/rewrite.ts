/**
 * Turns a recorded message of our side into the one to send now.
 *
 * Values fall in two kinds. Ours (Call-ID of dialogs we started, our tags, our branches, our
 * address) get fresh live values the first time they appear, and the same ones every later time,
 * so a CANCEL or a non-2xx ACK keeps its INVITE's branch (RFC 3261 9.1, 17.1.1.3). The peer's
 * (its tags, Contact, Record-Route, branches of its requests, Call-IDs of dialogs it started) are
 * learned by lining each live incoming message up with the recorded one in the same place: the
 * recorded value then maps to the live one (the To tag the target generated replaces the recorded
 * one in our later ACK and BYE, its Contact becomes our Request-URI, RFC 3261 12.2.1.1).
 * The mapping is applied as whole-token text substitution over the start line and header
 * fields; bodies are sent as recorded.
 * A recorded digest response cannot answer the live nonce: with credentials given, each
 * Authorization / Proxy-Authorization is computed afresh for the live challenge (RFC 3261 22.2).
 */
import { randomBytes } from 'node:crypto';
import { parseMessage, type AuthChallenge, type SipMessage } from '../../core/sip/index.js';
import { buildAuthorization, pickChallenge } from '../../core/sip/digest.js';
import type { Endpoint } from '../pcap/index.js';
import { endpointText } from './script.js';

export interface Credentials {
  username: string;
  password: string;
}

const fresh = (n: number): string => randomBytes(n).toString('hex');

/** characters that may continue a token, a host or a port: a match must not touch them */
const TOKEN_CHAR = "[A-Za-z0-9\\-.!%*_+`'~]";

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Rewriter {
  /** recorded text → live text */
  private readonly map = new Map<string, string>();
  private re: RegExp | undefined;
  /** live requests by the recorded request's branch and CSeq method, to answer them. */
  private readonly liveRequests = new Map<string, SipMessage>();
  /** the latest live challenges per live Call-ID, by header: 'authorization' answers 401, 'proxy-authorization' 407 */
  private readonly challenges = new Map<string, AuthChallenge[]>();

  constructor(
    private readonly recordedSide: Endpoint,
    recordedPeer: Endpoint,
    private readonly local: Endpoint,
    target: Endpoint,
    private readonly credentials?: Credentials,
  ) {
    this.set(endpointText(recordedSide), endpointText(local));
    this.set(endpointText(recordedPeer), endpointText(target));
  }

  private set(recorded: string | undefined, live: string | undefined): void {
    if (!recorded || !live || recorded === live || this.map.has(recorded)) return;
    this.map.set(recorded, live);
    this.re = undefined;
  }

  /** Lines a live incoming message up with the recorded one it stands for. */
  learn(recorded: SipMessage, live: SipMessage): void {
    this.set(recorded.callId, live.callId);
    this.set(recorded.from.tag, live.from.tag);
    this.set(recorded.to.tag, live.to.tag);
    const rv = recorded.via;
    const lv = live.via;
    if (recorded.isRequest) {
      // the peer's own Via: its branch and sent-by
      this.set(rv[0]?.branch, lv[0]?.branch);
      this.liveRequests.set(`${rv[0]?.branch}|${recorded.cseq.method}`, live);
    }
    if (!live.isRequest && live.status === 401) this.challenges.set(`authorization|${live.callId}`, live.wwwAuthenticate);
    if (!live.isRequest && live.status === 407) this.challenges.set(`proxy-authorization|${live.callId}`, live.proxyAuthenticate);
    const rc = recorded.contact;
    const lc = live.contact;
    for (let i = 0; i < Math.min(rc.length, lc.length); i++) this.set(rc[i]!.uri.raw, lc[i]!.uri.raw);
    const rr = recorded.recordRoute;
    const lr = live.recordRoute;
    for (let i = 0; i < Math.min(rr.length, lr.length); i++) this.set(rr[i]!.uri.raw, lr[i]!.uri.raw);
  }

  /** The live bytes for a recorded message of ours. */
  outgoing(recorded: SipMessage): Buffer {
    // Our own values not seen yet get fresh ones (a dialog or transaction we start).
    if (recorded.isRequest) {
      if (!this.map.has(recorded.callId)) this.set(recorded.callId, `${fresh(8)}@${this.local.ip}`);
      const tag = recorded.from.tag;
      if (tag && !this.map.has(tag)) this.set(tag, fresh(6));
      const branch = recorded.via[0]?.branch;
      if (branch && !this.map.has(branch)) this.set(branch, `z9hG4bK${fresh(8)}`);
    } else {
      const tag = recorded.to.tag;
      if (tag && !this.map.has(tag)) this.set(tag, fresh(6));
    }
    const request = recorded.isRequest ? undefined : this.liveRequests.get(`${recorded.via[0]?.branch}|${recorded.cseq.method}`);
    const startLine = this.apply(recorded.startLine);
    const lines: string[] = [startLine];
    let viaDone = false;
    for (const [name, value] of recorded.headers()) {
      const lower = name.toLowerCase();
      // A response echoes the live request's Via list and CSeq (RFC 3261 8.2.6.2) verbatim.
      if (request && (lower === 'via' || lower === 'v')) {
        if (!viaDone) for (const v of request.headerValues('Via')) lines.push(`Via: ${v}`);
        viaDone = true;
        continue;
      }
      if (request && lower === 'cseq') {
        lines.push(`CSeq: ${request.header('CSeq')}`);
        continue;
      }
      if (recorded.isRequest && (lower === 'authorization' || lower === 'proxy-authorization')) {
        const answer = this.authorize(lower, recorded, startLine);
        if (answer !== undefined) {
          lines.push(`${name}: ${answer}`);
          continue;
        }
      }
      lines.push(`${name}: ${this.apply(value)}`);
    }
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    const out = Buffer.concat([head, recorded.body]);
    parseMessage(out); // never send what we could not parse ourselves
    return out;
  }

  /** A fresh digest answer to the live challenge of this request's call, when we have credentials. */
  private authorize(header: string, recorded: SipMessage, startLine: string): string | undefined {
    if (!this.credentials) return undefined;
    const callId = this.map.get(recorded.callId) ?? recorded.callId;
    const challenges = this.challenges.get(`${header}|${callId}`);
    const challenge = challenges && pickChallenge(challenges);
    if (!challenge) return undefined;
    return buildAuthorization({
      challenge,
      method: recorded.method,
      uri: startLine.split(' ')[1] ?? '',
      username: this.credentials.username,
      password: this.credentials.password,
      nc: 1,
    });
  }

  /** The recorded→live substitution over one line of text, whole tokens only. */
  apply(text: string): string {
    if (this.map.size === 0) return text;
    if (!this.re) {
      const keys = [...this.map.keys()].sort((a, b) => b.length - a.length).map(escape);
      this.re = new RegExp(`(?<!${TOKEN_CHAR})(?:${keys.join('|')})(?!${TOKEN_CHAR})`, 'g');
    }
    return text.replace(this.re, (m) => this.map.get(m) ?? m);
  }

  /** for diagnostics: what was mapped */
  mappings(): Array<[string, string]> {
    return [...this.map];
  }

  /** the recorded address we play, as text */
  get side(): string {
    return endpointText(this.recordedSide);
  }
}
