/**
 * core/upstream: the register-on-behalf engine. Each enabled account is kept registered at its
 * provider with the Contact `sip:acc-<account id>@<sipis address>` (contact.ts); an incoming
 * request is mapped back to its account with `accountIdFromUser(req.requestUri.user)`.
 */
export { UpstreamEngine, type EngineOptions, type EngineCounters } from './engine.js';
export { Registration, DEFAULT_POLICY, refreshDelay, type RegistrationPolicy, type Decision } from './registration.js';
export { SipRegistrationSender, toRegisterResponse, type SipSenderOptions } from './sender.js';
export { contactUserFor, accountIdFromUser, formatContact } from './contact.js';
export { backoffDelay, retryAfterDelay, jittered, seededRandom, DEFAULT_BACKOFF, type BackoffConfig } from './backoff.js';
export { TokenBucket } from './pacer.js';
export { DueHeap, type HeapItem } from './due-heap.js';
export { StateWriter } from './state-writer.js';
export { UpstreamError, type UpstreamErrorCode } from './errors.js';
export * from './types.js';
