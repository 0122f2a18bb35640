/**
 * Requests the transaction layer builds itself from an INVITE:
 * - the ACK for a non-2xx final response (§17.1.1.3);
 * - a CANCEL (§9.1).
 * Both are written as text from the INVITE's raw header values and parsed once: they are rare
 * (one per failed or cancelled call), so clarity wins over a copy-free path.
 */
import { parseMessage, type SipMessage } from '../sip/index.js';

function routeLines(invite: SipMessage): string {
  let s = '';
  for (const r of invite.headerValues('Route')) s += `Route: ${r}\r\n`;
  return s;
}

/**
 * §17.1.1.3: same Request-URI, Call-ID, From and CSeq number as the INVITE, method ACK; To from
 * the response (it carries the tag); one Via equal to the INVITE's top Via; the INVITE's Route
 * header fields.
 */
export function buildAckForNon2xx(invite: SipMessage, response: SipMessage): SipMessage {
  const text =
    `ACK ${invite.uri} SIP/2.0\r\n` +
    `Via: ${invite.via[0]!.raw}\r\n` +
    routeLines(invite) +
    `Max-Forwards: 70\r\n` +
    `From: ${invite.header('From')}\r\n` +
    `To: ${response.header('To')}\r\n` +
    `Call-ID: ${invite.callId}\r\n` +
    `CSeq: ${invite.cseq.seq} ACK\r\n` +
    `Content-Length: 0\r\n\r\n`;
  return parseMessage(Buffer.from(text));
}

/**
 * §9.1: Request-URI, Call-ID, To, From and the CSeq number of the INVITE, method CANCEL; one Via
 * equal to the INVITE's top Via (so the branch matches); the INVITE's Route header fields.
 * `reason` adds an RFC 3326 Reason header (e.g. `SIP;cause=200;text="Call completed elsewhere"`).
 */
export function buildCancel(invite: SipMessage, reason?: string): SipMessage {
  const text =
    `CANCEL ${invite.uri} SIP/2.0\r\n` +
    `Via: ${invite.via[0]!.raw}\r\n` +
    routeLines(invite) +
    `Max-Forwards: 70\r\n` +
    `From: ${invite.header('From')}\r\n` +
    `To: ${invite.header('To')}\r\n` +
    `Call-ID: ${invite.callId}\r\n` +
    `CSeq: ${invite.cseq.seq} CANCEL\r\n` +
    (reason ? `Reason: ${reason}\r\n` : '') +
    `Content-Length: 0\r\n\r\n`;
  return parseMessage(Buffer.from(text));
}
