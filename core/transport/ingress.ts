/**
 * What every datagram goes through before the layer above sees it, shared by the UDP and the
 * in-memory transport so tests of upper layers exercise the same path:
 * keep-alive filter → parse → checks of §8.2/§18.1.2/§18.2.1 → Via received/rport stamping (RFC 3581).
 * Nothing here throws: a bad datagram is counted, maybe answered, and dropped.
 */
import { randomBytes } from 'node:crypto';
import { isKeepAlive, parseMessage, unsupportedRequire, type SipMessage, type ParseOptions } from '../sip/index.js';
import { SipParseError } from '../sip/errors.js';
import { buildBadRequestAnswer, statusForParseError } from './bad-request.js';
import { stampVia } from './via.js';
import type { Endpoint, MessageHandler, TransportCounters } from './types.js';

export interface IngressOptions {
  parse?: ParseOptions;
  /**
   * §8.2.2.3: option tags this UA supports. When set, a request whose Require names another tag
   * is answered 420 Bad Extension with an Unsupported header. Unset: the TU decides.
   */
  supported?: ReadonlySet<string>;
  /** Called for each dropped datagram, for a debug log line (never on the hot path otherwise). */
  onDrop?: (reason: string, remote: Endpoint, err?: unknown) => void;
}

/** The pieces of a transport that ingress needs: where to count, how to answer, whom to tell. */
export interface IngressSink {
  counters: TransportCounters;
  handler: MessageHandler | undefined;
  reply(data: Buffer, remote: Endpoint, local: Endpoint): void;
}

const URI_SCHEMES = new Set(['sip', 'sips', 'tel']);

export function ingress(sink: IngressSink, data: Buffer, remote: Endpoint, local: Endpoint, opts: IngressOptions): void {
  const c = sink.counters;
  c.datagramsIn++;
  c.bytesIn += data.byteLength;
  if (isKeepAlive(data)) {
    // RFC 5626 §4.4.1 CRLF keep-alives; over UDP peers use STUN for keep-alive, so no pong.
    c.keepAlives++;
    return;
  }
  let msg: SipMessage;
  try {
    msg = parseMessage(data, opts.parse);
  } catch (err) {
    c.parseErrors++;
    if (err instanceof SipParseError && err.code === 'KEEPALIVE') {
      c.parseErrors--;
      c.keepAlives++;
      return;
    }
    const [status, reason] = err instanceof SipParseError ? statusForParseError(err) : [400, 'Bad Request'];
    answerRaw(sink, data, status, reason, remote, local);
    opts.onDrop?.(`unparseable: ${reason}`, remote, err);
    return;
  }
  let problem: [number, string, string?] | undefined;
  try {
    problem = check(msg, opts);
    if (!problem && msg.isRequest) stampVia(msg, remote);
  } catch (err) {
    // A lazily decoded header failed to parse when first read.
    const [status, reason] = err instanceof SipParseError ? statusForParseError(err) : [400, 'Bad Request'];
    problem = [status, reason];
  }
  if (problem) {
    c.parseErrors++;
    if (msg.isRequest) answerRaw(sink, data, problem[0], problem[1], remote, local, problem[2]);
    opts.onDrop?.(`invalid: ${problem[1]}`, remote);
    return;
  }
  const h = sink.handler;
  if (h) h(msg, remote, local);
}

/**
 * §8.1.3.3/§18.1.2 (responses) and §8.2/§16.3 (requests): the headers every layer above relies on.
 * Returns [status, reason, extra header line] for a request that must be refused.
 */
function check(msg: SipMessage, opts: IngressOptions): [number, string, string?] | undefined {
  if (msg.via.length === 0) return [400, 'Missing Via'];
  if (!msg.callId) return [400, 'Missing Call-ID'];
  const cseq = msg.cseq;
  if (!cseq) return [400, 'Missing CSeq'];
  if (!msg.from) return [400, 'Missing From'];
  if (!msg.to) return [400, 'Missing To'];
  if (!msg.isRequest) return undefined;
  if (cseq.method !== msg.method) return [400, 'CSeq Method Mismatch'];
  if (!URI_SCHEMES.has(msg.requestUri.scheme)) return [416, 'Unsupported URI Scheme'];
  if (opts.supported) {
    const unsupported = unsupportedRequire(msg, opts.supported);
    if (unsupported.length) return [420, 'Bad Extension', `Unsupported: ${unsupported.join(', ')}`];
  }
  return undefined;
}

function answerRaw(sink: IngressSink, data: Buffer, status: number, reason: string, remote: Endpoint, local: Endpoint, extra?: string): void {
  let answer = buildBadRequestAnswer(data, status, reason, randomBytes(6).toString('hex'));
  if (!answer) return;
  if (extra) answer = Buffer.concat([answer.subarray(0, answer.length - 2), Buffer.from(`${extra}\r\n\r\n`)]);
  sink.counters.badRequestsAnswered++;
  // §18.2.2 would route by Via, but this Via may be the broken part: answer the source address,
  // which is where RFC 3581 rport would send it anyway.
  sink.reply(answer, remote, local);
}
