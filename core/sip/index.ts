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
