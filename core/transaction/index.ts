/**
 * core/transaction: RFC 3261 §17 client and server transactions with the RFC 6026 fixes, one
 * state machine per file, every timer on one TimerWheel.
 */
export { TransactionLayer, type TransactionLayerOptions, type SendOptions, type LayerCounters, type RequestHandler, type AckHandler, type CancelHandler, type StrayResponseHandler } from './layer.js';
export { ClientTransaction, type ClientTransactionUser } from './client.js';
export { ServerTransaction, type ReplyOptions } from './server.js';
export { InviteClientTransaction } from './ict.js';
export { NonInviteClientTransaction } from './nict.js';
export { InviteServerTransaction } from './ist.js';
export { NonInviteServerTransaction } from './nist.js';
export { TransactionError, type TransactionErrorCode } from './errors.js';
export { TimerWheel, WheelTimer, type WheelOptions } from './wheel.js';
export { ExpiryQueue } from './expiry.js';
export { ChurnMap } from './churn-map.js';
export { deriveTimers, DEFAULT_TIMER_BASE, type TimerBase, type TimerValues } from './timers.js';
export { newBranch, newTag, newCallId, MAGIC_COOKIE } from './ids.js';
export { buildAckForNon2xx, buildCancel } from './build.js';
export { clientKey, serverKey } from './key.js';
export type { TxState } from './context.js';
export { keep, keptBytes, lastKeptIn, lingerBytes, ownBytes } from './linger.js';
