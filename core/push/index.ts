/**
 * core/push: the client of sipis-mediator (the unified push protocol in protocol.ts).
 */
export { PushClient, type PushClientOptions, type SendOptions, type SendResult, type SendOutcome, type BindingSource } from './client.js';
export { PushMetrics, LATENCY_BUCKETS_S } from './metrics.js';
export { PushError, type PushErrorCode } from './errors.js';
export { pickTarget } from './targets.js';
export * from './protocol.js';
