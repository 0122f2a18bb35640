/**
 * RFC 3261 §8.2.2.3 (Require): what a UAS checks before it acts on a request, and what the
 * registrar checks as step 2 of §10.3.
 */
import type { SipMessage } from './message.js';

/**
 * The option tags of the request's Require that `supported` (lowercase tags) lacks, for a
 * `420 Bad Extension` with `Unsupported: …`; empty when it can be processed. ACK and CANCEL are
 * never refused for their Require (§8.2.2.3: it would be ignored on the INVITE's path anyway).
 */
export function unsupportedRequire(req: SipMessage, supported: ReadonlySet<string>): string[] {
  if (req.method === 'ACK' || req.method === 'CANCEL') return [];
  const require = req.require;
  if (require.length === 0) return require;
  return require.filter((tag) => !supported.has(tag.toLowerCase()));
}
