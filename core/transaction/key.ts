/**
 * Transaction keys (RFC 3261 §17.1.3, §17.2.3) as flat strings for one Map lookup per message.
 *
 * Client: branch of the top Via + CSeq method (a CANCEL has the INVITE's branch but is its own
 * transaction). Server, RFC 3261 branch (magic cookie): branch + sent-by + method, with ACK
 * mapped to INVITE so the ACK for a non-2xx response finds its INVITE transaction. Server,
 * RFC 2543 peer (no magic cookie): Request-URI, From tag, Call-ID, CSeq number, method and the
 * whole top Via; the To tag is compared separately for ACKs (it is the tag of our response,
 * which the INVITE did not carry), see `ist.ts`.
 */
import type { SipMessage } from '../sip/index.js';
import { MAGIC_COOKIE } from './ids.js';

/** The method as a transaction sees it: an ACK belongs to its INVITE. */
function txMethod(method: string): string {
  return method === 'ACK' ? 'INVITE' : method;
}

export function clientKey(branch: string, cseqMethod: string): string {
  return `${branch}\u0000${cseqMethod}`;
}

/** Key of the client transaction a response belongs to; undefined without a branch. */
export function clientKeyOfResponse(res: SipMessage): string | undefined {
  const branch = res.via[0]?.branch;
  return branch ? clientKey(branch, res.cseq.method) : undefined;
}

/** Key of the server transaction a request belongs to (`asMethod` to look up the INVITE for a CANCEL). */
export function serverKey(req: SipMessage, asMethod?: string): string {
  const top = req.via[0]!;
  const method = asMethod ?? txMethod(req.method);
  const branch = top.branch;
  if (branch !== undefined && branch.startsWith(MAGIC_COOKIE)) {
    return `${branch}\u0000${top.host}:${top.port ?? ''}\u0000${method}`;
  }
  // RFC 2543 fallback (§17.2.3).
  return `2543\u0000${req.uri}\u0000${req.from.tag ?? ''}\u0000${req.callId}\u0000${req.cseq.seq}\u0000${method}\u0000${top.raw}`;
}

/** True when the request carries an RFC 3261 branch. */
export function hasMagicCookie(req: SipMessage): boolean {
  return req.via[0]?.branch?.startsWith(MAGIC_COOKIE) ?? false;
}
