/**
 * core/transport: UDP sockets (IPv4/IPv6), RFC 3581 rport/received, RFC 3263 server location,
 * and an in-memory twin for tests. The layer above registers with `onMessage`.
 */
export * from './types.js';
export { TransportError, type TransportErrorCode } from './errors.js';
export { UdpTransport, type UdpListen, type UdpTransportOptions } from './udp.js';
export { MemoryNetwork, MemoryTransport, type SentDatagram } from './memory.js';
export { SipResolver, orderSrv, type DnsClient, type ResolverOptions } from './resolver.js';
export { endpointOf, responseTarget, stampVia } from './via.js';
export { statusForParseError, buildBadRequestAnswer } from './bad-request.js';
export type { IngressOptions } from './ingress.js';
