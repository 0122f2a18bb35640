/**
 * §12.2.1.1: Request-URI and Route header fields of a request inside a dialog, from the remote
 * target and the route set.
 * - empty route set: Request-URI = remote target, no Route;
 * - first route a loose router (`;lr`): Request-URI = remote target, Route = the route set;
 * - first route a strict router: Request-URI = the first route's URI (without the parameters a
 *   Request-URI may not carry), Route = the rest of the route set followed by the remote target.
 */
import { formatUri, parseNameAddr } from '../sip/index.js';
import type { SipUri } from '../sip/types.js';

export interface RoutedRequest {
  uri: string;
  routes: string[];
}

/** URI parameters §19.1.1 (table 1) does not allow in a Request-URI; `method` and `ttl` too. */
const NOT_IN_REQUEST_URI = new Set(['method']);

function uriForRequestLine(uri: SipUri): string {
  if (uri.headers.size === 0 && ![...uri.params.keys()].some((k) => NOT_IN_REQUEST_URI.has(k))) return uri.raw;
  const copy: SipUri = { ...uri, headers: new Map(), params: new Map([...uri.params].filter(([k]) => !NOT_IN_REQUEST_URI.has(k))) };
  return formatUri(copy);
}

/** `routeSet`: name-addr texts in the order the Route header lists them. */
export function routeRequest(remoteTarget: string, routeSet: readonly string[]): RoutedRequest {
  if (routeSet.length === 0) return { uri: remoteTarget, routes: [] };
  const first = parseNameAddr(routeSet[0]!);
  // an entry we cannot parse is passed on untouched, as a loose route
  if (!first || first.uri.params.has('lr')) return { uri: remoteTarget, routes: [...routeSet] };
  return { uri: uriForRequestLine(first.uri), routes: [...routeSet.slice(1), `<${remoteTarget}>`] };
}
