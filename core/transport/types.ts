/**
 * The contract between the transport and the layer above it. The transport never names that
 * layer: the layer registers one handler with `onMessage` (the sipgo `tpl.OnMessage` model).
 */
import type { SipMessage } from '../sip/index.js';

/** An IP endpoint. `address` is an IP literal without brackets ('127.0.0.1', '::1'). */
export interface Endpoint {
  address: string;
  port: number;
}

/** Called for every well-formed message; `local` is the socket it arrived on. */
export type MessageHandler = (msg: SipMessage, remote: Endpoint, local: Endpoint) => void;

/** Called once a datagram was handed to the kernel, with an error if it was not. */
export type SendCallback = (err: Error | null) => void;

/** Plain numbers, read by the metrics layer. Monotonic since start. */
export interface TransportCounters {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** datagrams that did not parse (each also counted in datagramsIn). */
  parseErrors: number;
  /** 4xx/5xx answers the transport itself sent for unparseable requests. */
  badRequestsAnswered: number;
  /** CRLF keep-alives (RFC 5626 §4.4.1), ignored. */
  keepAlives: number;
  sendErrors: number;
}

export function newCounters(): TransportCounters {
  return {
    datagramsIn: 0,
    datagramsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    parseErrors: 0,
    badRequestsAnswered: 0,
    keepAlives: 0,
    sendErrors: 0,
  };
}

export interface Transport {
  readonly counters: TransportCounters;
  /** the bound local endpoints, in listen order. */
  readonly endpoints: readonly Endpoint[];
  /** Registers the one handler for inbound messages (a later call replaces it). */
  onMessage(handler: MessageHandler): void;
  /**
   * Sends one datagram. `local` picks the socket (responses leave from the socket the request
   * came in on, §18.2.2); otherwise the first socket of the destination's family.
   */
  send(data: Uint8Array, remote: Endpoint, local?: Endpoint, cb?: SendCallback): void;
  /**
   * The sent-by value (host, port) for a Via of a request to `remote` (§18.1.1): the advertised
   * address of the socket that `send` would use. Throws TransportError ERR_TRANSPORT_NO_SOCKET.
   */
  sentBy(remote: Endpoint, local?: Endpoint): { host: string; port: number; local: Endpoint };
  close(): Promise<void>;
}

/** 4 or 6 for an IP literal, 0 for anything else (a host name). */
export function ipFamily(address: string): 0 | 4 | 6 {
  // Cheaper than net.isIP on the hot path and enough here: callers pass literals or names.
  // Called for every datagram sent (dgram looks each destination up): no allocation.
  if (address.includes(':')) return 6;
  // dotted quad: four runs of 1–3 digits separated by dots (a name may end in a digit: 'host1')
  let dots = 0;
  let run = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++run > 3) return 0;
    } else if (c === 46 && run > 0 && dots < 3) {
      dots++;
      run = 0;
    } else return 0;
  }
  return dots === 3 && run > 0 ? 4 : 0;
}

/** '[::1]' → '::1'; other hosts unchanged. */
export function stripBrackets(host: string): string {
  return host.length > 1 && host.charCodeAt(0) === 91 /* [ */ ? host.slice(1, -1) : host;
}

/** '::1' → '[::1]' for Via sent-by and URIs. */
export function hostForUri(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}
