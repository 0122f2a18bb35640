/**
 * Writing WWW-Authenticate / Authorization header values for Digest (RFC 3261 §25.1 grammar,
 * quoting as RFC 7616 §3.3/§3.4 shows it), and the typed error of the digest modules.
 *
 * The parser hands us `{scheme, params}` with values already unquoted; here we go the other
 * way. Which parameters are quoted is fixed by the grammar, not by the value: realm, nonce,
 * opaque, domain, qop-options (in a challenge), username, uri, response and cnonce are
 * quoted-strings; algorithm, stale, nc and message-qop (in credentials) are bare tokens.
 * Some registrars reject `algorithm="MD5"` or `qop="auth"` in credentials, so getting this
 * exactly right matters more than the grammar's leniency suggests.
 */
import { SipStackError } from '../errors.js';

export type DigestErrorCode =
  | 'ERR_DIGEST_UNSUPPORTED_SCHEME'
  | 'ERR_DIGEST_UNSUPPORTED_ALGORITHM'
  | 'ERR_DIGEST_UNSUPPORTED_QOP'
  | 'ERR_DIGEST_MISSING_PARAM'
  | 'ERR_DIGEST_BAD_VALUE'
  | 'ERR_DIGEST_BAD_SECRET';

/** Raised for inputs we cannot turn into a header (never for a failed verification). */
export class DigestError extends SipStackError {
  declare readonly code: DigestErrorCode;
  constructor(code: DigestErrorCode, message: string) {
    super(code, message);
  }
}

/** Parameters written as quoted-string (RFC 3261 §25.1 digest-cln / dig-resp). */
const QUOTED = new Set(['realm', 'nonce', 'opaque', 'domain', 'username', 'uri', 'response', 'cnonce']);

// RFC 3261 §25.1 token characters.
const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/**
 * A quoted-string with `"` and `\` escaped. CR, LF and NUL are refused: a value that could end
 * the header line would let whoever controls a username or realm inject header fields.
 */
export function quoteString(name: string, value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) {
      throw new DigestError('ERR_DIGEST_BAD_VALUE', `the ${name} parameter contains CR, LF or NUL`);
    }
  }
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

function tokenValue(name: string, value: string): string {
  if (!TOKEN_RE.test(value)) throw new DigestError('ERR_DIGEST_BAD_VALUE', `the ${name} parameter is not a token`);
  return value;
}

/**
 * `Digest name=value, name="value", …` in the order given. Undefined values are skipped.
 * `qopOptions` is the challenge's qop (a quoted list); `qop` is the credentials' bare token.
 */
export function formatDigest(params: ReadonlyArray<readonly [string, string | undefined]>, kind: 'challenge' | 'credentials'): string {
  const parts: string[] = [];
  for (const [name, value] of params) {
    if (value === undefined) continue;
    const quoted = QUOTED.has(name) || (name === 'qop' && kind === 'challenge');
    parts.push(`${name}=${quoted ? quoteString(name, value) : tokenValue(name, value)}`);
  }
  return `Digest ${parts.join(', ')}`;
}

/** The challenge's qop-options, a comma-separated list inside one quoted-string. */
export function splitQopOptions(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
}
