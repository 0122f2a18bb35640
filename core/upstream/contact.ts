/**
 * The Contact we register for an account, and the way back from an incoming request to the
 * account. Choice: the account key goes in the URI user part, `sip:acc-<key>@<sipis ip>:<port>`.
 * Why the user part and not a URI parameter: a registrar stores the Contact URI and the proxy
 * sends INVITEs to exactly that URI (RFC 3261 §10.3, §16.5); some provider proxies drop unknown
 * URI parameters when they rewrite the Request-URI, the user part survives everywhere.
 * Characters outside RFC 3261 §25.1 `unreserved` / `user-unreserved` are %-escaped so any key
 * (even an AOR with '@') makes a valid URI.
 */

const PREFIX = 'acc-';

// RFC 3261 §25.1: user = 1*( unreserved / escaped / user-unreserved )
const SAFE = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/;

const ALL_SAFE = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]*$/;

export function contactUserFor(accountId: string): string {
  // the usual key (digits, a UUID) needs no escaping: one test, one concatenation (this runs
  // twice per refresh)
  if (ALL_SAFE.test(accountId)) return PREFIX + accountId;
  let out = PREFIX;
  for (const ch of accountId) {
    if (SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * The account key from the user part of a Request-URI (as `SipUri.user`, already unescaped by
 * the parser, or raw with %-escapes: both work), or undefined when it is not one of ours.
 */
export function accountIdFromUser(user: string | undefined): string | undefined {
  if (!user || !user.startsWith(PREFIX) || user.length === PREFIX.length) return undefined;
  const rest = user.slice(PREFIX.length);
  if (!rest.includes('%')) return rest;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}

/** `<sip:acc-42@192.0.2.1:5060>;expires=3600` */
export function formatContact(user: string, host: string, port: number, expires: number): string {
  return `<sip:${user}@${host}:${port}>;expires=${expires}`;
}
