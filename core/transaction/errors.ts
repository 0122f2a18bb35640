import { SipStackError } from '../errors.js';

/**
 * Stable codes of the transaction layer (RFC 3261 §8.1.3.1, §17.1.4):
 * - ERR_TX_TIMEOUT: Timer B or F fired (the TU treats it as 408 Request Timeout), or Timer H
 *   fired on a server transaction (no ACK for a non-2xx final response).
 * - ERR_TX_TRANSPORT: the transport could not send or could not resolve the target (503).
 * - ERR_TX_STATE: the TU asked for something the state does not allow (a response after the final one).
 */
export type TransactionErrorCode = 'ERR_TX_TIMEOUT' | 'ERR_TX_TRANSPORT' | 'ERR_TX_STATE';

export class TransactionError extends SipStackError {
  declare readonly code: TransactionErrorCode;
  /** the response status this error stands for (§8.1.3.1): 408 for a timeout, 503 for transport. */
  readonly status: number;
  constructor(code: TransactionErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = code === 'ERR_TX_TIMEOUT' ? 408 : code === 'ERR_TX_TRANSPORT' ? 503 : 500;
  }
}
