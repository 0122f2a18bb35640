/**
 * The registrar's public shapes: the contract the call tunnel (core/tunnel) and the push client
 * (core/push) code against. See /work/brief-issue8.md "The contract between registrar and tunnel".
 */

/** One way to wake a device: a push token at a push service (RFC 8599 pn-provider / pn-prid). */
export interface PushTarget {
  /** 'apns' | 'fcm' (the RFC 8599 pn-provider values we serve; 'apns.dev' is stored as 'apns'). */
  provider: 'apns' | 'fcm' | string;
  /** iOS 13+: 'voip' = PushKit token (calls only), 'remote' = the rest. FCM tokens are 'remote'. */
  kind: 'voip' | 'remote';
  /** the key of the app in the mediator's registry: the bundle id (iOS) or the package / app id. */
  appId: string;
  /** pn-prid / pn-tok. A secret-ish value: never logged in full. */
  token: string;
  /** pn-param as sent (APNs: TEAMID.bundle[.voip]; FCM: the project id). */
  param?: string;
}

/** How requests reach the device (RFC 5626 flow, possibly through sipis-bridge). */
export interface BindingFlow {
  /** the transport the phone uses: 'udp', or 'tcp' | 'tls' | 'ws' | 'wss' through the bridge. */
  transport: string;
  /** the phone's own address `ip:port` (through the bridge: X-Sipis-Flow src). */
  source: string;
  viaBridge: boolean;
  /** the bridge's flow token (X-Sipis-Flow id). */
  flowId?: string;
  /** `ip:port` that datagrams of this flow come from: the bridge, or the phone itself. */
  via: string;
}

export interface Binding {
  /** store id (device.id) as a string. */
  id: string;
  /** the account id (account.id) as a string, like core/upstream's account keys. */
  accountId: string;
  /** +sip.instance (RFC 5626 §4.1) without quotes/brackets, else the Contact URI. */
  instanceId: string;
  /** the Contact URI (addr-spec, without the name-addr's brackets and header parameters). */
  contact: string;
  /** Path URIs in order, as name-addrs (`<sip:FLOW@bridge;lr;ob>`): the route set towards the device. */
  path: string[];
  flow: BindingFlow;
  /** ms since the epoch. */
  expiresAt: number;
  /** live tokens only (dead ones are dropped); empty for a device without push. */
  pushTargets: PushTarget[];
  userAgent?: string;
  /** ms since the epoch of the last successful REGISTER for this binding. */
  lastSeen: number;
  /**
   * Set when a request to this flow got 430 Flow Failed (RFC 5626 §5.3) and the device can still
   * be woken by push; the next REGISTER replaces the binding and so clears it.
   */
  flowFailed?: boolean;
}

/** `stale`: the clean-up sweep removed a device not seen for days (core/server/cleanup.ts). */
export type RemovalReason = 'expired' | 'unregistered' | 'token-dead' | 'flow-failed' | 'stale';

export interface RegisteredInfo {
  /** true when the binding existed before this REGISTER. */
  refresh: boolean;
}

/** The source address of a datagram, as the transport saw it. */
export interface SourceAddress {
  address: string;
  port: number;
}
