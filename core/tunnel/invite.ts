/**
 * The INVITE sipis sends to a device for an incoming call (DESIGN.md flow 4), built from the
 * provider's INVITE: the caller's From (display name kept, our own tag), the To as dialled, the
 * body and Content-Type byte for byte, and every end-to-end header (headers.ts); a fresh
 * Call-ID and CSeq (a new dialog, RFC 3261 §8.1.1), the binding's contact as Request-URI and its
 * Path as Route (RFC 3327 §5.3 / RFC 5626 §5.2), our Contact (not on a MESSAGE), and `X-Sipis-Call-Id` carrying
 * the call id of the push so the app matches the INVITE with the notification it just showed.
 */
import { createRequest, generateCallId, generateTag, type SipMessage } from '../sip/index.js';
import { copiedHeaders, withTag } from './headers.js';
import { nextMaxForwards } from './relay.js';

export const CALL_ID_HEADER = 'X-Sipis-Call-Id';

/** a Via the transaction layer replaces with ours (createRequest needs one). */
export const PLACEHOLDER_VIA = 'SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKtunnel';

export interface LegInviteInit {
  /** the INVITE we received. */
  original: SipMessage;
  requestUri: string;
  route: readonly string[];
  contact: string;
  callId?: string;
  /** extra headers (X-Sipis-Call-Id, …). */
  headers?: Array<[string, string]>;
  from?: string;
  to?: string;
}

/** A new out-of-dialog request of the original's method (INVITE, MESSAGE, SUBSCRIBE, …). */
export function buildLegRequest(init: LegInviteInit): SipMessage {
  const o = init.original;
  const headers: Array<[string, string]> = [['Via', PLACEHOLDER_VIA]];
  for (const r of init.route) headers.push(['Route', r]);
  headers.push(
    ['Max-Forwards', String(nextMaxForwards(o))],
    ['From', init.from ?? withTag(o.header('From')!, generateTag())],
    ['To', init.to ?? withTag(o.header('To')!, undefined)],
    ['Call-ID', init.callId ?? generateCallId()],
    ['CSeq', `${o.cseq.seq} ${o.method}`],
  );
  // RFC 3428 §4: a MESSAGE creates no dialog, and user agents MUST NOT put a Contact in it
  if (o.method !== 'MESSAGE') headers.push(['Contact', init.contact]);
  for (const h of copiedHeaders(o)) headers.push(h);
  if (init.headers) for (const h of init.headers) headers.push(h);
  const body = o.body;
  return createRequest({
    method: o.method,
    uri: init.requestUri,
    headers,
    ...(body.length > 0 ? { body, contentType: o.header('Content-Type') ?? 'application/sdp' } : {}),
  });
}

/**
 * The same request again with a new CSeq and `extra` headers replaced (after a 401/407, RFC
 * 3261 §22.2: same Call-ID and From tag, CSeq + 1, credentials added).
 */
export function rebuildWith(req: SipMessage, extra: Array<[string, string]>): SipMessage {
  const drop = new Set(['via', 'v', 'cseq', 'content-length', 'l', 'content-type', 'c', ...extra.map(([n]) => n.toLowerCase())]);
  const headers: Array<[string, string]> = [['Via', PLACEHOLDER_VIA]];
  for (const [n, v] of req.headers()) if (!drop.has(n.toLowerCase())) headers.push([n, v]);
  headers.push(['CSeq', `${req.cseq.seq + 1} ${req.method}`], ...extra);
  const body = req.body;
  return createRequest({
    method: req.method,
    uri: req.uri,
    headers,
    ...(body.length > 0 ? { body, contentType: req.header('Content-Type') ?? 'application/octet-stream' } : {}),
  });
}
