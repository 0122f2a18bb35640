/**
 * SIP Digest authentication, both sides (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).
 *
 * Client: `pickChallenge` → `buildAuthorization` (or `DigestClientState.authorize`, which
 * counts nc per realm for nonce reuse). Server: `new DigestServer({secret})` →
 * `buildChallenge` / `verifyCredentials` with stateless HMAC nonces.
 * Header values are parsed by the message parser into `AuthChallenge` / `AuthCredentials`
 * (`msg.wwwAuthenticate`, `msg.authorization`, …); this module only formats them.
 */
export { computeHa1, computeResponse, formatNc, lookupAlgorithm, storedHa1 } from './digest-algorithms.js';
export type { DigestAlgorithm, DigestQop, ResponseInputs } from './digest-algorithms.js';
export { DigestError, formatDigest, quoteString, splitQopOptions } from './digest-params.js';
export type { DigestErrorCode } from './digest-params.js';
export { buildAuthorization, createCredentials, DigestClientState, formatCredentials, pickChallenge } from './digest-client.js';
export type { AuthorizationInput, AuthorizeInput } from './digest-client.js';
export { DigestServer } from './digest-server.js';
export type { ChallengeInput, DigestServerOptions, VerifyFailureReason, VerifyInput, VerifyResult } from './digest-server.js';
