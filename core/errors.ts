/**
 * One base class for every error the SIP stack raises, each with a stable `code`
 * (the undici model: callers branch on `code`, never on message text).
 * Each layer adds its own subclass in its own folder (SipParseError in core/sip, …).
 */
export class SipStackError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
