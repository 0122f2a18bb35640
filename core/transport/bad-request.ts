/**
 * Answers for requests the parser rejected (RFC 3261 §8.2, §21.4, DESIGN "Bad input").
 *
 * When `parseMessage` throws we still try to answer if the datagram looks like a request: a
 * request line and at least one Via line. The answer is built from raw header lines, without the
 * parser, because the parser just refused this message: Via, From, To, Call-ID and CSeq are copied
 * verbatim (§8.2.6.2), a To tag is added, and the reason phrase names the problem
 * ("400 Bad CSeq"), the way Kamailio's sl module words it. ACK is never answered (§17.2.1).
 */
import type { SipParseError } from '../sip/errors.js';

/** RFC 3261 §21 status for a parse error code, with the reason phrase to send. */
export function statusForParseError(err: Pick<SipParseError, 'code' | 'header'>): [number, string] {
  switch (err.code) {
    case 'TOO_LARGE':
    case 'BODY_TOO_LARGE':
      return [413, 'Request Entity Too Large'];
    case 'BAD_VERSION':
      return [505, 'Version Not Supported'];
    case 'BAD_URI':
      return [400, 'Bad Request-URI'];
    case 'BAD_START_LINE':
      return [400, 'Bad Request Line'];
    case 'TOO_MANY_HEADERS':
      return [400, 'Too Many Headers'];
    case 'HEADER_TOO_LONG':
      return [400, err.header ? `${headerLabel(err.header)} Too Long` : 'Header Too Long'];
    case 'MISSING_HEADER':
      return [400, err.header ? `Missing ${headerLabel(err.header)}` : 'Missing Header'];
    case 'BAD_CONTENT_LENGTH':
      return [400, 'Bad Content-Length'];
    default:
      return [400, err.header ? `Bad ${headerLabel(err.header)}` : 'Bad Request'];
  }
}

const COMPACT: Record<string, string> = { v: 'Via', f: 'From', t: 'To', i: 'Call-ID', l: 'Content-Length', m: 'Contact' };

/** 'cseq' → 'CSeq', 'call-id' → 'Call-ID', 'f' → 'From' for reason phrases. */
function headerLabel(name: string): string {
  const lower = name.toLowerCase();
  if (COMPACT[lower]) return COMPACT[lower]!;
  if (lower === 'cseq') return 'CSeq';
  if (lower === 'call-id') return 'Call-ID';
  return lower.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

/** Only these are copied into the answer (§8.2.6.2). */
function copiedName(name: string): 'via' | 'from' | 'to' | 'call-id' | 'cseq' | undefined {
  switch (name.toLowerCase()) {
    case 'v':
    case 'via':
      return 'via';
    case 'f':
    case 'from':
      return 'from';
    case 't':
    case 'to':
      return 'to';
    case 'i':
    case 'call-id':
      return 'call-id';
    case 'cseq':
      return 'cseq';
    default:
      return undefined;
  }
}

const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/**
 * A request line, malformed ones included (RFC 4475 §3.1.2.8-10: spaces inside the URI, several
 * SP between the elements, SP after the version still get their 400): a method, then anything
 * up to a SIP version.
 */
const REQUEST_LINE = /^([A-Za-z0-9!%*_+`'~.-]+)[ \t]+\S.*[ \t]SIP\/(\d+\.\d+)[ \t]*$/i;

/**
 * The SIP version of a request line (without its line end), malformed ones included as above:
 * "2.0", or "7.0" for a version to refuse with 505; undefined when the line is no request line.
 */
export function requestLineVersion(line: string): string | undefined {
  return REQUEST_LINE.exec(line)?.[2];
}
/** Header section scanned at most this far: the answer never depends on a huge body. */
const SCAN_LIMIT = 16 * 1024;
/** A copied line longer than this is not echoed (an answer must stay small). */
const LINE_LIMIT = 1024;

/**
 * Builds the raw answer for an unparseable datagram, or null when it must be dropped silently
 * (not a request, an ACK, no Via). `toTag` is added to To when it has none.
 */
export function buildBadRequestAnswer(data: Uint8Array, status: number, reason: string, toTag: string): Buffer | null {
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, SCAN_LIMIT)).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const lines = (end >= 0 ? head.slice(0, end) : head).split(/\r?\n/);
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m || m[1]!.toUpperCase() === 'ACK') return null;
  const kept: string[] = [];
  let vias = 0;
  let last: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > 0 && (line[0] === ' ' || line[0] === '\t')) {
      // folded continuation (§7.3.1) of a copied header
      if (last && kept.length && kept[kept.length - 1]!.length + line.length < LINE_LIMIT) kept[kept.length - 1] += ' ' + line.trim();
      continue;
    }
    last = undefined;
    const colon = line.indexOf(':');
    // control characters (NUL, …) are never echoed: the answer must not carry them on
    if (colon <= 0 || line.length > LINE_LIMIT || CONTROL.test(line)) continue;
    const name = copiedName(line.slice(0, colon).trim());
    if (!name) continue;
    let value = line.slice(colon + 1).trim();
    if (name === 'via') vias++;
    if (name === 'to' && !/;\s*tag\s*=/i.test(value)) value += `;tag=${toTag}`;
    last = name;
    kept.push(`${HEADER_OUT[name]}: ${value}`);
  }
  if (vias === 0) return null;
  const safeReason = reason.replace(/[\r\n]/g, ' ');
  return Buffer.from(`SIP/2.0 ${status} ${safeReason}\r\n${kept.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, 'latin1');
}

const HEADER_OUT = { via: 'Via', from: 'From', to: 'To', 'call-id': 'Call-ID', cseq: 'CSeq' } as const;
