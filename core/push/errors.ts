/**
 * Typed errors of the push client. `send` never throws (every failure is an outcome); these
 * are for configuration mistakes and, as `cause`, for what one HTTP attempt ran into.
 */
import { SipStackError } from '../errors.js';

export type PushErrorCode =
  /** bad client options (URL, key, limits). */
  | 'ERR_PUSH_CONFIG'
  /** one attempt did not get an answer in time. */
  | 'ERR_PUSH_TIMEOUT'
  /** connection refused / reset, DNS: the mediator is not reachable. */
  | 'ERR_PUSH_CONNECT'
  /** the mediator answered something that is not the protocol (status, JSON). */
  | 'ERR_PUSH_PROTOCOL';

export class PushError extends SipStackError {
  declare readonly code: PushErrorCode;
  constructor(code: PushErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
