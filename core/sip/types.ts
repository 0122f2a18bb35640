/**
 * The public shapes of the SIP message layer. This file is the contract every other layer
 * (transport, transaction, bridge, tools) codes against; the parser implements it.
 * Values are decoded lazily from the original bytes and cached (see parser.ts).
 */

/** URI parameters and header-field parameters: names lowercased, `null` for a flag (`;lr`). */
export type Params = Map<string, string | null>;

/** RFC 3261 §19.1 SIP/SIPS URI, RFC 3966 tel URI, or any other scheme kept opaque. */
export interface SipUri {
  /** lowercased: 'sip', 'sips', 'tel', or another scheme. */
  scheme: string;
  /** unescaped user part (for tel: the number), undefined when absent. */
  user?: string;
  password?: string;
  /** lowercased host; an IPv6 reference keeps its brackets, e.g. '[2001:db8::1]'. Empty for opaque URIs. */
  host: string;
  port?: number;
  params: Params;
  /** URI headers (`?a=b&c=d`), unescaped. */
  headers: Map<string, string>;
  /** for schemes other than sip/sips/tel: everything after the colon, verbatim. */
  opaque?: string;
  /** the text as it appeared in the message. */
  raw: string;
}

/** name-addr / addr-spec with header parameters: From, To, Route, Record-Route, Contact. */
export interface NameAddr {
  /** display name with quoted-string escapes resolved; undefined when absent. */
  displayName?: string;
  uri: SipUri;
  /** header parameters after the URI (names lowercased). */
  params: Params;
  /** the `tag` parameter (From/To). */
  tag?: string;
  raw: string;
}

export interface Contact extends NameAddr {
  /** true for `Contact: *` (then uri is an empty opaque URI). */
  star: boolean;
  /** the `expires` header parameter in seconds. */
  expires?: number;
  /** the `q` header parameter, 0..1. */
  q?: number;
  /** the `+sip.instance` parameter with its quotes and angle brackets removed. */
  instance?: string;
}

export interface Via {
  /** 'SIP/2.0' */
  protocol: string;
  /** uppercased transport: 'UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP', … */
  transport: string;
  /** sent-by host, lowercased; IPv6 keeps its brackets. */
  host: string;
  port?: number;
  branch?: string;
  received?: string;
  /** RFC 3581: true when `rport` is present (with or without a value). */
  hasRport: boolean;
  rport?: number;
  maddr?: string;
  ttl?: number;
  params: Params;
  raw: string;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** WWW-Authenticate / Proxy-Authenticate. Param values unquoted, names lowercased. */
export interface AuthChallenge {
  scheme: string;
  params: Map<string, string>;
}

/** Authorization / Proxy-Authorization. Param values unquoted, names lowercased. */
export interface AuthCredentials {
  scheme: string;
  params: Map<string, string>;
}

export interface EventHeader {
  /** event-type, lowercased ('presence', 'message-summary', …). */
  type: string;
  id?: string;
  params: Params;
}

export interface ParseLimits {
  /** whole message, default 65536 */
  maxMessageBytes: number;
  /** header fields (after folding), default 256 */
  maxHeaders: number;
  /** one header field including folded continuation lines, default 8192 */
  maxHeaderBytes: number;
  /** body, default 65536 */
  maxBodyBytes: number;
}

export interface ParseOptions {
  limits?: Partial<ParseLimits>;
  /**
   * 'datagram' (default): a missing Content-Length means the body is the rest of the datagram.
   * 'stream': the message was framed from a stream; Content-Length is mandatory (RFC 3261 §18.3).
   */
  framing?: 'datagram' | 'stream';
}
