/**
 * Typed errors of the mediator, one stable `code` each (callers branch on `code`).
 * Config and registry errors name the offending field (`apps["x"].auth.keyFile`), so an
 * operator reading the start-up failure knows what to fix.
 */
import { SipStackError } from '../core/errors.js';

export type MediatorErrorCode =
  | 'ERR_MEDIATOR_CONFIG'
  | 'ERR_MEDIATOR_USAGE'
  | 'ERR_MEDIATOR_REGISTRY'
  | 'ERR_MEDIATOR_CREDENTIALS'
  /** the port cannot be bound (in use, not permitted). */
  | 'ERR_MEDIATOR_LISTEN'
  | 'ERR_UPSTREAM_UNPROCESSED'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_CONNECT'
  | 'ERR_UPSTREAM_QUEUE_FULL'
  | 'ERR_UPSTREAM_CLOSED'
  /** A header value that HTTP/2 cannot carry (RFC 9113 §8.2.1): our bug, refused before sending. */
  | 'ERR_UPSTREAM_BAD_HEADER'
  | 'ERR_FCM_TOKEN';

export class MediatorError extends SipStackError {
  /** The config/registry field at fault, when there is one. */
  readonly field: string | undefined;
  constructor(code: MediatorErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(code, message, options);
    this.field = options?.field;
  }
}

/** An upstream (APNs/FCM) transport failure: the request may be retried. */
export class UpstreamError extends MediatorError {}
