/**
 * Errors of the register-on-behalf engine, each with a stable code (see core/errors.ts).
 */
import { SipStackError } from '../errors.js';

export type UpstreamErrorCode =
  /** an account the engine cannot use (no id, no AOR, no registrar, not a sip: URI). */
  | 'ERR_UPSTREAM_BAD_ACCOUNT'
  /** an engine option out of range (rate, burst). */
  | 'ERR_UPSTREAM_BAD_OPTION';

export class UpstreamError extends SipStackError {
  declare readonly code: UpstreamErrorCode;
  constructor(code: UpstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
