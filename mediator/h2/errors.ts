/**
 * Errors of our HTTP/2 client (RFC 9113) and its HPACK codec (RFC 7541). Each carries the
 * HTTP/2 error code (RFC 9113 §7) it maps to, so a connection error can be reported to the
 * peer in GOAWAY with the right code.
 */
import { SipStackError } from '../../core/errors.js';

export type H2ErrorCode =
  /** The peer broke the protocol (PROTOCOL_ERROR). */
  | 'ERR_H2_PROTOCOL'
  /** A header block could not be decoded (COMPRESSION_ERROR). */
  | 'ERR_H2_COMPRESSION'
  /** A frame over the size limit or of the wrong length for its type (FRAME_SIZE_ERROR). */
  | 'ERR_H2_FRAME_SIZE'
  /** The peer sent beyond our window or overflowed its own (FLOW_CONTROL_ERROR). */
  | 'ERR_H2_FLOW_CONTROL'
  /** A header list over our limit (ENHANCE_YOUR_CALM). */
  | 'ERR_H2_HEADER_LIST'
  /** TLS did not negotiate "h2" by ALPN (RFC 9113 §3.2). */
  | 'ERR_H2_ALPN'
  /** The peer closed the connection or it failed underneath (socket error). */
  | 'ERR_H2_CONNECTION'
  /** The peer did not answer our PING in time. */
  | 'ERR_H2_PING_TIMEOUT'
  /** The peer sent GOAWAY with an error code. */
  | 'ERR_H2_GOAWAY';

/** RFC 9113 §7 error codes. */
export const H2_NO_ERROR = 0x0;
export const H2_PROTOCOL_ERROR = 0x1;
export const H2_INTERNAL_ERROR = 0x2;
export const H2_FLOW_CONTROL_ERROR = 0x3;
export const H2_SETTINGS_TIMEOUT = 0x4;
export const H2_STREAM_CLOSED = 0x5;
export const H2_FRAME_SIZE_ERROR = 0x6;
export const H2_REFUSED_STREAM = 0x7;
export const H2_CANCEL = 0x8;
export const H2_COMPRESSION_ERROR = 0x9;
export const H2_ENHANCE_YOUR_CALM = 0xb;

const WIRE_CODE: Record<H2ErrorCode, number> = {
  ERR_H2_PROTOCOL: H2_PROTOCOL_ERROR,
  ERR_H2_COMPRESSION: H2_COMPRESSION_ERROR,
  ERR_H2_FRAME_SIZE: H2_FRAME_SIZE_ERROR,
  ERR_H2_FLOW_CONTROL: H2_FLOW_CONTROL_ERROR,
  ERR_H2_HEADER_LIST: H2_ENHANCE_YOUR_CALM,
  ERR_H2_ALPN: H2_PROTOCOL_ERROR,
  ERR_H2_CONNECTION: H2_NO_ERROR,
  ERR_H2_PING_TIMEOUT: H2_NO_ERROR,
  ERR_H2_GOAWAY: H2_NO_ERROR,
};

export class H2Error extends SipStackError {
  /** The RFC 9113 §7 code sent in GOAWAY when this error ends the connection. */
  readonly h2Code: number;
  constructor(code: H2ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.h2Code = WIRE_CODE[code];
  }
}
