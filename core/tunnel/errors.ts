import { SipStackError } from '../errors.js';

/**
 * Stable codes of the call tunnel:
 * - ERR_TUNNEL_CONFIG: a configuration value is out of range.
 * - ERR_TUNNEL_NO_ACCOUNT: a request names an account sipis does not serve.
 * - ERR_TUNNEL_BAD_REQUEST: a request the tunnel cannot relay (missing From tag, bad RAck, …).
 * - ERR_TUNNEL_CLOSED: the tunnel was closed.
 * - ERR_TUNNEL_CALL_ENDED: a message of a call was asked for after the call ended and let it go.
 */
export type TunnelErrorCode = 'ERR_TUNNEL_CONFIG' | 'ERR_TUNNEL_NO_ACCOUNT' | 'ERR_TUNNEL_BAD_REQUEST' | 'ERR_TUNNEL_CLOSED' | 'ERR_TUNNEL_CALL_ENDED';

export class TunnelError extends SipStackError {
  declare readonly code: TunnelErrorCode;
  constructor(code: TunnelErrorCode, message: string, opts?: { cause?: unknown }) {
    super(code, message, opts);
  }
}
