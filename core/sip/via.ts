/**
 * Via (RFC 3261 §20.42, §25.1; RFC 3581 rport):
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport   (SLASH = SWS "/" SWS)
 *   sent-by = host [ COLON port ]
 */
import { parseDigits, scanToken, skipWs, trimEnd } from './chars.js';
import { parseParams } from './params.js';
import type { Params, Via } from './types.js';

function isHostChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f
  );
}

function isIpv6Char(c: number): boolean {
  return (c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2e;
}

/** Parses one via-parm s[start..end); null when invalid. */
export function parseViaAt(s: string, start: number, end: number): Via | null {
  let i = skipWs(s, start, end);
  end = trimEnd(s, i, end);
  const first = i;
  // protocol-name / protocol-version / transport, each a token, separated by SWS "/" SWS
  let j = scanToken(s, i, end);
  if (j === i) return null;
  const name = s.slice(i, j);
  i = skipWs(s, j, end);
  if (s.charCodeAt(i) !== 0x2f) return null;
  i = skipWs(s, i + 1, end);
  j = scanToken(s, i, end);
  if (j === i) return null;
  const version = s.slice(i, j);
  i = skipWs(s, j, end);
  if (s.charCodeAt(i) !== 0x2f) return null;
  i = skipWs(s, i + 1, end);
  j = scanToken(s, i, end);
  if (j === i) return null;
  const transport = s.slice(i, j).toUpperCase();
  i = skipWs(s, j, end);
  if (i === j) return null; // LWS is mandatory before sent-by
  // sent-by
  const hs = i;
  if (s.charCodeAt(i) === 0x5b) {
    i++;
    while (i < end && isIpv6Char(s.charCodeAt(i))) i++;
    if (i >= end || s.charCodeAt(i) !== 0x5d || i === hs + 1) return null;
    i++;
  } else {
    while (i < end && isHostChar(s.charCodeAt(i))) i++;
    if (i === hs) return null;
  }
  const host = s.slice(hs, i).toLowerCase();
  let port: number | undefined;
  const afterHost = i;
  i = skipWs(s, i, end);
  if (i < end && s.charCodeAt(i) === 0x3a) {
    i = skipWs(s, i + 1, end);
    const ps = i;
    while (i < end && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    const p = parseDigits(s, ps, i, 65535);
    if (p < 0) return null;
    port = p;
  } else i = afterHost;
  const params: Params = new Map();
  if (!parseParams(s, i, end, params)) return null;
  const via: Via = {
    protocol: name.toUpperCase() + '/' + version,
    transport,
    host,
    hasRport: params.has('rport'),
    params,
    raw: first === 0 && end === s.length ? s : s.slice(first, end),
  };
  if (port !== undefined) via.port = port;
  const branch = params.get('branch');
  if (branch) via.branch = branch;
  const received = params.get('received');
  if (received) via.received = received;
  const rport = params.get('rport');
  if (rport) {
    const n = parseDigits(rport, 0, rport.length, 65535);
    if (n < 0) return null;
    via.rport = n;
  }
  const maddr = params.get('maddr');
  if (maddr) via.maddr = maddr;
  const ttl = params.get('ttl');
  if (ttl !== undefined) {
    const n = ttl === null ? -1 : parseDigits(ttl, 0, ttl.length, 255);
    if (n < 0) return null;
    via.ttl = n;
  }
  if (params.has('branch') && !branch) return null;
  return via;
}

/** Parses a whole Via value already split; kept for symmetry with the other grammars. */
export function parseVia(s: string): Via | null {
  return parseViaAt(s, 0, s.length);
}

