/**
 * What every transaction gets from its layer: the wheel, the timer values, the transport and a
 * way to leave the layer's maps when it terminates. One object per layer, shared by all
 * transactions, so a transaction costs only its own fields.
 */
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/index.js';
import type { Endpoint, Transport } from '../transport/index.js';
import type { ExpiryQueue } from './expiry.js';
import type { TimerValues } from './timers.js';
import type { TimerWheel } from './wheel.js';

/** A transaction that lingers (Timers D, I, J, K, L, M) ends through `expire` when its time is up. */
export interface Lingering {
  expire(): void;
}

export interface TxContext {
  readonly wheel: TimerWheel;
  readonly timers: TimerValues;
  readonly transport: Transport;
  readonly log: Logger | undefined;
  /**
   * Where lingering transactions wait for their end (expiry.ts: one wheel timer per tick for all
   * of them, no timer or closure of their own). Not cancelled: `expire` on a transaction that
   * ended otherwise does nothing.
   */
  readonly lingering: ExpiryQueue<Lingering>;
  /** RFC 6026 §8.7: an ACK that matched an INVITE server transaction in Accepted goes to the TU. */
  ackInAccepted(ack: SipMessage, tx: { readonly remote: Endpoint; readonly local: Endpoint }): void;
  /** Called exactly once when a transaction reaches Terminated. */
  terminated(tx: { readonly key: string; readonly isClient: boolean }): void;
}

/** Shared state names (RFC 3261 §17 figures 5–8, RFC 6026 figures 3 and 5). */
export type TxState = 'Calling' | 'Trying' | 'Proceeding' | 'Accepted' | 'Completed' | 'Confirmed' | 'Terminated';
