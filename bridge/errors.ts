/**
 * Errors of the bridge, each with a stable code. Framing errors close the one connection they
 * happened on; message errors drop (or answer) the one message.
 */
import { SipStackError } from '../core/errors.js';

export type BridgeErrorCode =
  // stream framing (framer.ts): the connection is closed
  | 'ERR_FRAME_BAD_START_LINE'
  | 'ERR_FRAME_HEADERS_TOO_LARGE'
  | 'ERR_FRAME_MESSAGE_TOO_LARGE'
  | 'ERR_FRAME_MISSING_CONTENT_LENGTH'
  | 'ERR_FRAME_BAD_CONTENT_LENGTH'
  // message scanning (scan.ts): the message is dropped or answered 400
  | 'ERR_SCAN_BAD_START_LINE'
  | 'ERR_SCAN_BAD_HEADER'
  | 'ERR_SCAN_TOO_MANY_HEADERS'
  | 'ERR_SCAN_NO_END_OF_HEADERS'
  | 'ERR_SCAN_MISSING_HEADER'
  | 'ERR_SCAN_BAD_VIA'
  // configuration (config.ts): the process exits 2
  | 'ERR_CONFIG'
  /** a listener cannot bind its address (in use, not permitted). */
  | 'ERR_LISTEN';

export class BridgeError extends SipStackError {
  declare readonly code: BridgeErrorCode;
  constructor(code: BridgeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
