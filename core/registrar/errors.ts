/**
 * Typed errors of the device registrar. Most failures of a REGISTER become a SIP response
 * (401/403/423/555…) rather than an exception; these are for the cases a caller must handle:
 * bad configuration, a binding that cannot be stored, bad push parameters.
 */
import { SipStackError } from '../errors.js';

export type RegistrarErrorCode =
  /** the registrar options are invalid (expiry bounds, secret, bridge address). */
  | 'ERR_REGISTRAR_CONFIG'
  /** a Contact's push parameters are malformed or name a provider we do not serve (→ 555 / 400). */
  | 'ERR_REGISTRAR_PUSH_PARAMS'
  /** the database could not take the binding: down or busy → 503 with Retry-After; refused → 500. */
  | 'ERR_REGISTRAR_STORE'
  /** a flow value read back from the database does not decode. */
  | 'ERR_REGISTRAR_FLOW';

export class RegistrarError extends SipStackError {
  declare readonly code: RegistrarErrorCode;
  constructor(code: RegistrarErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
