import { SipStackError } from '../errors.js';

/**
 * Stable codes of the transport layer.
 * - ERR_TRANSPORT_UNSUPPORTED: a URI asks for TCP/TLS/SCTP/WS or `sips:` (the bridge owns streams).
 * - ERR_TRANSPORT_RESOLVE: RFC 3263 found no address for the target.
 * - ERR_TRANSPORT_SEND: the socket refused the datagram (EHOSTUNREACH, EMSGSIZE, closed socket, …).
 * - ERR_TRANSPORT_NO_SOCKET: no listening socket of the destination's address family.
 * - ERR_TRANSPORT_BIND: a listen address could not be bound.
 */
export type TransportErrorCode =
  | 'ERR_TRANSPORT_UNSUPPORTED'
  | 'ERR_TRANSPORT_RESOLVE'
  | 'ERR_TRANSPORT_SEND'
  | 'ERR_TRANSPORT_NO_SOCKET'
  | 'ERR_TRANSPORT_BIND';

export class TransportError extends SipStackError {
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
