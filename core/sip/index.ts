/**
 * The SIP message layer: bytes ↔ messages, with no I/O and no timers.
 *
 * - parseMessage(bytes, opts) indexes the start line and every header in one pass over the
 *   bytes, validates what the stack relies on (start line, Via, From, To, Call-ID, CSeq,
 *   Contact, Route, Record-Route, numeric headers, Date) and throws SipParseError (`code`)
 *   otherwise. Values are decoded when read, then cached; typed values are views over the
 *   received bytes (ViaView, NameAddrView, UriView) whose fields are decoded on first read.
 * - A message (and any view taken from it) keeps its Buffer alive: store strings (`raw`,
 *   `tag`, `uri.raw`, …), not views, in long-lived state.
 * - Mutation (setHeader, addHeader, removeHeader, setBody) writes new bytes, copying the
 *   untouched lines; serializeMessage returns the bytes without copying them.
 * - createRequest / createResponse (RFC 3261 §8.2.6) build messages; generateBranch,
 *   generateTag and generateCallId make the random values.
 */
export type * from './types.js';
export { SipParseError, type SipParseErrorCode } from './errors.js';
export { SipMessage, type AddHeaderOptions } from './message.js';
export { parseMessage, isKeepAlive, DEFAULT_LIMITS } from './parse.js';
export { serializeMessage } from './serialize.js';
export { parseUri, formatUri, tryParseUri } from './uri.js';
export { uriEquals } from './uri-equals.js';
export {
  createRequest,
  createResponse,
  generateBranch,
  generateTag,
  generateCallId,
  BRANCH_COOKIE,
  type CreateRequestInit,
  type CreateResponseOptions,
} from './build.js';
export { reasonPhrase } from './reason-phrases.js';
export { canonicalName } from './header-names.js';
export { parseNameAddr, parseContact, formatNameAddr, formatParams } from './name-addr.js';
export { parseVia } from './via.js';
export { parseAuth } from './auth-header.js';
export { listElements } from './values.js';
export { unsupportedRequire } from './extensions.js';
export { isKnownMethod } from './methods.js';
