/**
 * Which header fields cross the tunnel. sipis is a B2BUA (RFC 7092 §3.1 "signaling-only"):
 * each side is its own dialog, so the fields that belong to one hop or one dialog (Via, Route,
 * Record-Route, Contact, From/To/Call-ID/CSeq, Max-Forwards, credentials, RSeq/RAck which are
 * mapped) are written per side, and everything else (Allow, Supported, Require, P-Asserted-
 * Identity, Alert-Info, Call-Info, Subject, Accept, Session-Expires, Min-SE, Reason, Event, …)
 * is copied as is. A deny list rather than an allow list: a header the relay does not know is
 * more likely to be one the far end needs (RFC 3261 §8.2.2.3 lets UAs ignore unknown ones).
 */
import type { SipMessage } from '../sip/index.js';
import { H, idFromName } from '../sip/header-names.js';
import { endpointOf } from '../transport/index.js';

/** lower-case full and compact names. */
const DIALOG_OR_HOP = [
  'via', 'v', 'route', 'record-route', 'contact', 'm', 'from', 'f', 'to', 't', 'call-id', 'i', 'cseq',
  'max-forwards', 'content-length', 'l', 'content-type', 'c', 'authorization', 'proxy-authorization',
  'www-authenticate', 'proxy-authenticate', 'authentication-info', 'rseq', 'rack', 'path',
  'x-sipis-flow', 'x-sipis-call-id', 'x-sipis-push-status', 'x-sipis-reason', 'proxy-require',
];
const DENY = new Set(DIALOG_OR_HOP);
/** The same by core/sip's id of the known header names (compact forms included), 1 = denied. */
const DENIED_ID = new Uint8Array(256);
for (const n of DIALOG_OR_HOP) DENIED_ID[idFromName(n)] = 1;
DENIED_ID[0] = 0; // 0: a name core/sip does not know, looked up by name

/**
 * Names as written → denied or not, so that the names every message repeats ('Via', 'CSeq', …)
 * are not lower-cased again for each one. Bounded: a peer inventing names only fills it once.
 */
const DENIED_AS_WRITTEN = new Map<string, boolean>();
const MAX_MEMO = 512;

function denied(name: string): boolean {
  let d = DENIED_AS_WRITTEN.get(name);
  if (d === undefined) {
    d = DENY.has(name.toLowerCase());
    if (DENIED_AS_WRITTEN.size < MAX_MEMO) DENIED_AS_WRITTEN.set(name, d);
  }
  return d;
}

/**
 * Header fields of `msg` that are copied to the other side, in order (`extraDeny`: lower-case
 * names). Read through SipMessage's field accessors (`_id`, `_name`, `_value`: core/sip's index of
 * the received bytes) rather than `headers()`, so that the fields that stay behind (Via, From,
 * To, Contact, Route…, most of a message) are neither decoded nor copied into pairs: ~5.5 KB less
 * garbage per relayed call (bench/tunnel/gc.bench.ts, allocated 76 -> 71 KB per call).
 */
export function copiedHeaders(msg: SipMessage, extraDeny?: ReadonlySet<string>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const n = msg.headerCount;
  for (let i = 0; i < n; i++) {
    const id = msg._id(i);
    if (id !== 0 && DENIED_ID[id] === 1) continue;
    const name = msg._name(i);
    if (denied(name) || (extraDeny && extraDeny.has(name.toLowerCase()))) continue;
    if (id === H.SUPPORTED) {
      const v = endToEndOptions(msg._value(i));
      if (v !== '') out.push([name, v]);
      continue;
    }
    out.push([name, msg._value(i)]);
  }
  return out;
}

/**
 * Option tags that describe one hop or one registration, not the session: `outbound` (RFC 5626:
 * the phone's flow to sipis), `path` (RFC 3327: registrations), `gruu` (RFC 5627: our Contact on
 * the other side is no GRUU). A B2BUA that copied them would claim for itself what only the far
 * UA supports. The rest (100rel, timer, replaces, …) concern the session sipis relays unchanged.
 */
const HOP_OPTIONS = ['outbound', 'path', 'gruu'];
const HOP_OPTION = new RegExp(`^(?:${HOP_OPTIONS.join('|')})$`, 'i');
/** Any of them inside the value: most values have none and are returned as they are. */
const MAY_HAVE_HOP_OPTION = new RegExp(HOP_OPTIONS.join('|'), 'i');

/** `Supported` without the hop-by-hop option tags; the value as is when it has none. */
export function endToEndOptions(value: string): string {
  if (!MAY_HAVE_HOP_OPTION.test(value)) return value;
  return value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '' && !HOP_OPTION.test(t))
    .join(', ');
}

/**
 * A From/To value with its tag replaced (`tag` undefined: removed). Keeps the display name and
 * the other header parameters exactly as written.
 */
export function withTag(value: string, tag: string | undefined): string {
  const gt = value.lastIndexOf('>');
  // addr-spec form: every ';' after the URI starts a header parameter (RFC 3261 §20.10)
  const semi = gt >= 0 ? -1 : value.indexOf(';');
  const paramsAt = gt >= 0 ? gt + 1 : semi < 0 ? value.length : semi;
  let out = value.slice(0, paramsAt).trim();
  // each parameter trimmed; empty ones and the tag dropped (one slice per parameter, no arrays)
  for (let i = paramsAt; i < value.length; ) {
    let j = value.indexOf(';', i);
    if (j < 0) j = value.length;
    const p = value.slice(i, j).trim();
    if (p.length > 0 && !TAG_PARAM.test(p)) out += `;${p}`;
    i = j + 1;
  }
  return tag === undefined ? out : `${out};tag=${tag}`;
}

const TAG_PARAM = /^tag\s*(=|$)/i;

/** RFC 3326: does this Reason say the call was completed elsewhere (cause=200)? */
export function isCompletedElsewhere(reason: string | undefined): boolean {
  if (!reason) return false;
  return /^\s*SIP\s*;(?:[^,]*;)?\s*cause\s*=\s*200\b/i.test(reason);
}

export const COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"';

/** `ip:port` / `[v6]:port` → endpoint. */
export function parseHostPort(text: string): { address: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  // shared objects: a call keeps its device's address for its lifetime and Timer M after it
  return endpointOf(m[1]!, Number(m[2]));
}

/** quoted-string for a display name (RFC 3261 §25.1). */
export function quoteDisplay(name: string): string {
  return `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
