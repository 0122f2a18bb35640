/**
 * Small request builders for tests and benchmarks of the transaction and dialog layers.
 */
import { createRequest, type SipMessage } from '../../sip/index.js';
import { newCallId, newTag } from '../ids.js';

export interface TestRequestInit {
  method: string;
  uri?: string;
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  /** a Via to send (for raw server-side tests); default a placeholder the layer replaces. */
  via?: string;
  headers?: Array<[string, string]>;
  body?: string;
  contentType?: string;
}

export function testRequest(o: TestRequestInit): SipMessage {
  return createRequest({
    method: o.method,
    uri: o.uri ?? 'sip:bob@127.0.0.1:5060',
    headers: [
      ['Via', o.via ?? 'SIP/2.0/UDP 0.0.0.0:0;branch=z9hG4bKplaceholder'],
      ['From', o.from ?? `<sip:alice@127.0.0.1>;tag=${newTag()}`],
      ['To', o.to ?? '<sip:bob@127.0.0.1>'],
      ['Call-ID', o.callId ?? newCallId()],
      ['CSeq', `${o.cseq ?? 1} ${o.method}`],
      ['Contact', '<sip:alice@127.0.0.1:5070>'],
      ...(o.headers ?? []),
    ],
    body: o.body,
    contentType: o.contentType ?? (o.body ? 'application/sdp' : undefined),
  });
}

/** Raw request text with a given Via (for server-side tests that inject datagrams). */
export function rawRequest(method: string, via: string, extra = '', cseq = 1, callId = 'cid-1@test', fromTag = 'ft1', toTag?: string): string {
  return (
    `${method} sip:bob@127.0.0.1 SIP/2.0\r\n` +
    `Via: ${via}\r\n` +
    `Max-Forwards: 70\r\n` +
    `From: <sip:alice@127.0.0.1>;tag=${fromTag}\r\n` +
    `To: <sip:bob@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}\r\n` +
    `Call-ID: ${callId}\r\n` +
    `CSeq: ${cseq} ${method}\r\n` +
    extra +
    `Content-Length: 0\r\n\r\n`
  );
}
