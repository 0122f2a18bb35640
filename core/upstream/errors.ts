/**
 * Errors of the register-on-behalf engine, each with a stable code (see core/errors.ts).
 */
import { SipStackError } from '../errors.js';

export type UpstreamErrorCode =
  /** an account row the engine cannot use (no registrar, bad AOR, bad expires). */
  | 'ERR_UPSTREAM_BAD_ACCOUNT'
  /** a REGISTER could not be built or sent (resolution failed, no socket). */
  | 'ERR_UPSTREAM_SEND'
  /** the engine was used after stop(). */
  | 'ERR_UPSTREAM_STOPPED';

export class UpstreamError extends SipStackError {
  declare readonly code: UpstreamErrorCode;
  constructor(code: UpstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
