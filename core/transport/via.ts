/**
 * RFC 3261 §18.2.1 with RFC 3581: the server transport stamps the top Via of every received
 * request with `received` (when the sent-by host is not the source address, and always when the
 * client asked for `rport`: RFC 3581 §4 wants it "even if it is identical to the value of the
 * sent-by component") and fills an empty `rport` with the source port; §18.2.2 then sends
 * responses to received:rport.
 */
import type { SipMessage } from '../sip/index.js';
import type { Via } from '../sip/types.js';
import { stripBrackets, type Endpoint } from './types.js';

/** Serializes a Via with `received`/`rport` set for `remote`. */
export function viaWithReceived(v: Via, remote: Endpoint, setReceived: boolean): string {
  let s = `${v.protocol}/${v.transport} ${v.host}${v.port !== undefined ? `:${v.port}` : ''}`;
  for (const [k, val] of v.params) {
    if (k === 'received') continue;
    if (k === 'rport') s += `;rport=${remote.port}`;
    else s += val === null ? `;${k}` : `;${k}=${val}`;
  }
  if (setReceived) s += `;received=${remote.address}`;
  return s;
}

/** Rewrites the top Via when RFC 3581 asks for it; leaves the message untouched otherwise. */
export function stampVia(msg: SipMessage, remote: Endpoint): void {
  const vias = msg.via;
  const top = vias[0]!;
  const setReceived = top.hasRport || stripBrackets(top.host) !== remote.address;
  const fillRport = top.hasRport && top.rport !== remote.port;
  if (!fillRport && top.received === remote.address) return;
  if (!setReceived && !fillRport && top.received === undefined) return;
  const values = vias.map((v, i) => (i === 0 ? viaWithReceived(v, remote, setReceived) : v.raw));
  // One rewrite: every Via field becomes one comma-separated field (§7.3.1 allows it), in order.
  msg.setHeader('Via', values.join(', '));
}

/**
 * §18.2.2 for UDP: where a response goes. `received` (or the sent-by host when the request came
 * from it) at `rport` (or the sent-by port, default 5060). `maddr` (multicast) is not supported: a
 * response to a Via with maddr goes to received/sent-by like any other.
 */
export function responseTarget(top: Via): Endpoint {
  const address = top.received ?? stripBrackets(top.host);
  const port = top.rport ?? top.port ?? 5060;
  return endpointOf(address, port);
}

/**
 * Shared Endpoint objects for the few peers a server talks to (the provider, the bridge): every
 * server transaction keeps where its responses go for up to 32 s (Timer J, L), ~32,000 of them at
 * 500 calls/s, and most of them name the same peer. Endpoints are never mutated. Bounded: the
 * cache starts over once it holds 4096 peers (a scan of many sources must not grow it).
 */
const endpoints = new Map<string, Endpoint>();

export function endpointOf(address: string, port: number): Endpoint {
  const key = `${port} ${address}`;
  let e = endpoints.get(key);
  if (e === undefined) {
    if (endpoints.size >= 4096) endpoints.clear();
    e = Object.freeze({ address: flatCopy(address), port });
    endpoints.set(key, e);
  }
  return e;
}

/** `s` as a flat string of its own, not a slice keeping a larger string alive. */
function flatCopy(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'latin1').toString('latin1');
}
