import { SipStackError } from '../errors.js';

/**
 * Stable codes of the message layer. A transport maps them to a response where one can be sent
 * (RFC 3261 §21.4: 400 for malformed input, 413 for TOO_LARGE/BODY_TOO_LARGE, 505 for BAD_VERSION).
 */
export type SipParseErrorCode =
  | 'EMPTY'
  | 'KEEPALIVE'
  | 'TOO_LARGE'
  | 'TOO_MANY_HEADERS'
  | 'HEADER_TOO_LONG'
  | 'BODY_TOO_LARGE'
  | 'BAD_START_LINE'
  | 'BAD_VERSION'
  | 'BAD_URI'
  | 'BAD_HEADER'
  | 'BAD_HEADER_VALUE'
  | 'MISSING_HEADER'
  | 'BAD_CONTENT_LENGTH'
  | 'TRUNCATED';

export class SipParseError extends SipStackError {
  declare readonly code: SipParseErrorCode;
  /** the header the error is about, when there is one. */
  readonly header: string | undefined;
  constructor(code: SipParseErrorCode, message: string, header?: string) {
    super(code, header === undefined ? message : `${message} (${header})`);
    this.header = header;
  }
}
