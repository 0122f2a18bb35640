/**
 * The shard key of a SIP request: the account, `user@domain`, taken from a header's URI.
 * By default (RFC 3261 §10.2) a REGISTER names the account in To (From may be a third
 * party registering on its behalf); every other request from a phone names it in From.
 */
import { ShardError } from './errors.js';

/** Which header names the account: `auto` = To for REGISTER, From otherwise. */
export type ShardKeySource = 'auto' | 'from' | 'to';

export const SHARD_KEY_SOURCES: readonly ShardKeySource[] = ['auto', 'from', 'to'];

/** Picks the header per `source` for a request with `method`. */
export function keyHeaderFor(method: string, source: ShardKeySource): 'from' | 'to' {
  if (source === 'auto') return method === 'REGISTER' ? 'to' : 'from';
  return source;
}

/**
 * `user@host` from a From/To/Contact header value (name-addr or addr-spec, with parameters):
 * scheme, password, port and URI parameters dropped, host lowercased (RFC 3261 §19.1.4:
 * hosts compare case-insensitively, users case-sensitively). A URI without a user part keys
 * on its host alone. Throws ShardError ERR_SHARD_BAD_KEY when no URI can be found.
 */
export function accountKeyFromHeader(value: string): string {
  let start = value.indexOf('<');
  let end: number;
  if (start >= 0) {
    start++;
    end = value.indexOf('>', start);
    if (end < 0) throw new ShardError('ERR_SHARD_BAD_KEY', 'unterminated <URI> in header value');
  } else {
    start = 0;
    end = value.indexOf(';');
    if (end < 0) end = value.length;
  }
  const uri = value.slice(start, end).trim();
  return accountKeyFromUri(uri);
}

/** `user@host` from a URI text (see accountKeyFromHeader). */
export function accountKeyFromUri(uri: string): string {
  const colon = uri.indexOf(':');
  if (colon <= 0) throw new ShardError('ERR_SHARD_BAD_KEY', `not a URI: ${JSON.stringify(uri.slice(0, 80))}`);
  const scheme = uri.slice(0, colon).toLowerCase();
  let rest = uri.slice(colon + 1);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    return semi >= 0 ? rest.slice(0, semi) : rest;
  }
  // URI parameters and headers end the hostport (RFC 3261 §19.1.1).
  for (const stop of [';', '?']) {
    const i = rest.indexOf(stop);
    if (i >= 0) rest = rest.slice(0, i);
  }
  const at = rest.lastIndexOf('@');
  let user = at >= 0 ? rest.slice(0, at) : '';
  let host = at >= 0 ? rest.slice(at + 1) : rest;
  const pw = user.indexOf(':');
  if (pw >= 0) user = user.slice(0, pw);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close >= 0 ? host.slice(0, close + 1) : host;
  } else {
    const p = host.indexOf(':');
    if (p >= 0) host = host.slice(0, p);
  }
  host = host.toLowerCase();
  if (!host) throw new ShardError('ERR_SHARD_BAD_KEY', `URI without host: ${JSON.stringify(uri.slice(0, 80))}`);
  return user ? `${unescapeUnreserved(user)}@${host}` : host;
}

/** RFC 3986 §2.3 unreserved characters, as RFC 3261 §25.1 lists them (alphanum and mark). */
const UNRESERVED = /[A-Za-z0-9\-_.!~*'()]/;

/**
 * The user part with each %HH of an unreserved character decoded (RFC 3261 §19.1.4: `%61lice`
 * and `alice` are the same user, so they must be the same key), the other escapes kept with
 * upper-case hex (an escaped reserved character is not its plain self).
 */
function unescapeUnreserved(user: string): string {
  if (!user.includes('%')) return user;
  return user.replace(/%([0-9A-Fa-f]{2})/g, (esc, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : esc.toUpperCase();
  });
}

/**
 * The key an operator types (admin `/shard?key=`, `sipis-ctl shard`): `user@domain`, or a URI
 * or header value (`sip:user@domain;transport=tcp`, `"A" <sip:…>`), normalised as a request's.
 */
export function accountKeyFromInput(input: string): string {
  const text = input.trim();
  if (text.includes('<') || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(text)) return accountKeyFromHeader(text);
  return accountKeyFromUri(`sip:${text}`);
}
