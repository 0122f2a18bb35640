/**
 * What the call tunnel needs from the rest of sipis, as narrow structural interfaces: the device
 * registrar (core/registrar `DeviceRegistrar` satisfies `TunnelRegistrar`), the push client
 * (core/push `PushClient` satisfies `TunnelPush`), the message store (core/store `MessageStore`
 * satisfies `TunnelStore`) and the accounts the upstream engine serves. Narrow on purpose: the
 * tunnel's tests run against small fakes, and the registrar can change without touching this.
 */
import type { Logger } from 'pino';
import type { PushVerb } from '../push/protocol.js';
import type { MessageStore } from '../store/messages.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { Endpoint } from '../transport/index.js';
import type { UpstreamAccount } from '../upstream/types.js';
import type { DeviceAuth } from './device-auth.js';

/** The fields of a registrar Binding the tunnel reads (brief-issue8.md, the contract). */
export interface TunnelBinding {
  id: string;
  accountId: string;
  instanceId: string;
  /** Contact URI: the Request-URI of requests to the device. */
  contact: string;
  /** Path name-addrs in order: the Route set of requests to the device (RFC 3327). */
  path: readonly string[];
  flow: { transport: string; source: string; viaBridge: boolean; flowId?: string; via: string };
  expiresAt: number;
  pushTargets: readonly unknown[];
  /** ms since the epoch of the last REGISTER (absent: unknown, treated as long ago). */
  lastSeen?: number;
  /** a request to this flow got 430 Flow Failed; the next REGISTER builds a fresh binding without it. */
  flowFailed?: boolean;
}

/**
 * "Reachable now" (incoming.ts, step 2): unexpired, its flow not known to be dead, and either no
 * push token (it can only be reached directly) or registered within `windowMs` (a phone in the
 * foreground refreshes often; a sleeping one does not).
 */
export function reachableNow(b: TunnelBinding, now: number, windowMs: number): boolean {
  if (b.expiresAt <= now || b.flowFailed) return false;
  if (b.pushTargets.length === 0) return true;
  return b.lastSeen !== undefined && now - b.lastSeen <= windowMs;
}

export type BindingRemovalReason = 'flow-failed' | 'token-dead';

export interface TunnelRegistrar {
  /** live (unexpired) bindings of an account. */
  bindingsOf(accountId: string): readonly TunnelBinding[];
  /** every successful REGISTER: the tunnel takes it as the device's readiness. */
  on(event: 'registered', cb: (b: TunnelBinding, info: { refresh: boolean }) => void): unknown;
  removeBinding(id: string, reason: BindingRemovalReason): Promise<void>;
}

/**
 * The push client. `sendToAccount` resolves when the mediator answered (or gave up) for every
 * device, `send` for one; the tunnel only asks "was a push delivered": it accepts an array of
 * per-device results (`{ outcome }` or `{ result: { outcome } }`), one result, or `{ delivered: n }`.
 */
export interface TunnelPush {
  sendToAccount(verb: PushVerb, accountId: string, payload: Record<string, unknown>): Promise<unknown>;
  /** One device (core/push PushClient.send): lets the tunnel push only the devices it cannot reach. */
  send?(verb: PushVerb, binding: TunnelBinding, payload: Record<string, unknown>): Promise<unknown>;
}

/** The MessageStore methods the tunnel uses (text messages, pending and missed calls). */
export type TunnelStore = Pick<MessageStore, 'store' | 'listUndelivered' | 'markDelivered' | 'countAttempt' | 'startPendingCall' | 'finishPendingCall'>;

/** The accounts this sipis serves (the upstream engine's view, passwords opened). */
export interface TunnelAccounts {
  get(accountId: string): UpstreamAccount | undefined;
  /**
   * The account a device's own request is for, from its From URI (user and host as the phone
   * wrote them: the AOR, or the AOR's user at the sipis domain). Undefined: not one of ours.
   */
  findByUser(user: string, host: string): UpstreamAccount | undefined;
}

export interface TunnelConfig {
  /** how long an incoming call waits for a device to get in touch (DESIGN.md flow 4: 2 min). */
  readinessTimeoutMs: number;
  /**
   * A binding is "reachable now" (gets the INVITE at once, no push) when it is unexpired and
   * either has no push target (nothing else could wake it) or registered within this window.
   */
  reachableWindowMs: number;
  /**
   * A "reachable" device that has a push target and sent no provisional response within this
   * long is pushed anyway (its flow may be dead without anyone knowing yet: Timer B would take
   * 32 s). 0: push only after our INVITE failed.
   */
  reachableGraceMs: number;
  /** RFC 3428 §8 lets a server refuse large messages: bodies above this get 413. Default 4 MiB. */
  maxMessageBytes: number;
  /** messages delivered per REGISTER at most (the rest wait for the next one). */
  deliverBatch: number;
  /** characters of a text/plain body put in the push as a preview (0: none). */
  previewChars: number;
}

export const DEFAULT_TUNNEL_CONFIG: TunnelConfig = {
  readinessTimeoutMs: 120_000,
  reachableWindowMs: 30_000,
  reachableGraceMs: 2_000,
  maxMessageBytes: 4 * 1024 * 1024,
  deliverBatch: 50,
  previewChars: 80,
};

export interface TunnelDeps {
  layer: TransactionLayer;
  registrar: TunnelRegistrar;
  push: TunnelPush;
  /** undefined: no database (benchmarks); messages are then refused with 503. */
  store?: TunnelStore;
  accounts: TunnelAccounts;
  config?: Partial<TunnelConfig>;
  logger?: Logger;
  /** clock for reachability decisions (tests). */
  now?: () => number;
  /**
   * Is `source` allowed to send requests for `account` as its provider (INVITE, MESSAGE to the
   * account's `acc-<id>` Contact)? Anyone who learns that Contact could otherwise ring the
   * user's phones; the server wiring answers from the provider's resolved addresses. Absent:
   * every source is believed. A refused request gets 403.
   */
  isProviderSource?: (source: Endpoint, account: UpstreamAccount) => boolean;
  /**
   * Digest for the devices' own requests (device-auth.ts): absent, a request from a binding's
   * flow is believed (tests of other parts, the loopback benchmarks).
   */
  deviceAuth?: DeviceAuth;
}

/** Plain numbers for /metrics. */
export interface TunnelCounters {
  callsIn: number;
  callsOut: number;
  callsAnswered: number;
  callsMissed: number;
  callsAnsweredElsewhere: number;
  callsNoResponse: number;
  callsFailed: number;
  pushesSent: number;
  pushesConfirmed: number;
  pushesFailed: number;
  relayedRequests: number;
  relayedResponses: number;
  /** re-INVITEs that overtook the ACK of the 2xx before them and waited for it (Side.awaitingAck). */
  reinvitesHeld: number;
  messagesStored: number;
  messagesDelivered: number;
  messagesDropped: number;
  messagesRefused: number;
  /** devices' own requests answered 407 (no, stale or foreign-nonce credentials). */
  deviceChallenges: number;
  /** devices' own requests refused for wrong or malformed credentials (403, 400). */
  deviceAuthFailures: number;
}
