/**
 * What a failed digest verification (core/sip DigestServer.verifyCredentials) earns, the same for
 * REGISTER (401, registrar.ts) and the phones' own requests (407, core/tunnel/device-auth.ts):
 * - a right answer on an expired nonce: a new challenge with stale=true (RFC 7616 §3.3);
 * - a wrong answer on a nonce we minted: 403 (wrong password, or a name that is not the account's);
 * - broken credentials (a parameter missing, a digest uri other than the Request-URI, RFC 3261
 *   §22.4): 400 naming what is wrong;
 * - anything else (a nonce we did not mint, another algorithm or realm): a fresh challenge.
 */
import type { VerifyFailureReason } from '../sip/digest.js';

export type DigestFailure = { answer: 'challenge'; stale: boolean } | { answer: 'forbidden' } | { answer: 'bad-request'; reason: string };

/** `header`: the credentials' header name, for the 400's reason phrase. */
export function digestFailure(v: { reason: VerifyFailureReason; param?: string }, header: 'Authorization' | 'Proxy-Authorization'): DigestFailure {
  switch (v.reason) {
    case 'stale':
      return { answer: 'challenge', stale: true };
    case 'bad-response':
      return { answer: 'forbidden' };
    case 'missing-param':
      return { answer: 'bad-request', reason: `Bad ${header} (${v.param ?? 'missing parameter'})` };
    case 'uri-mismatch':
      return { answer: 'bad-request', reason: `Bad ${header} (uri is not the Request-URI)` };
    default:
      return { answer: 'challenge', stale: false };
  }
}
