/**
 * What every transaction gets from its layer: the wheel, the timer values, the transport and a
 * way to leave the layer's maps when it terminates. One object per layer, shared by all
 * transactions, so a transaction costs only its own fields.
 */
import type { Logger } from 'pino';
import type { Transport } from '../transport/index.js';
import type { TimerValues } from './timers.js';
import type { TimerWheel } from './wheel.js';

export interface TxContext {
  readonly wheel: TimerWheel;
  readonly timers: TimerValues;
  readonly transport: Transport;
  readonly log: Logger | undefined;
  /** Called exactly once when a transaction reaches Terminated. */
  terminated(tx: { readonly key: string; readonly isClient: boolean }): void;
}

/** Shared state names (RFC 3261 §17 figures 5–8, RFC 6026 figures 3 and 5). */
export type TxState = 'Calling' | 'Trying' | 'Proceeding' | 'Accepted' | 'Completed' | 'Confirmed' | 'Terminated';
