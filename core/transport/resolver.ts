/**
 * RFC 3263 §4 server location for UDP: NAPTR → SRV → A/AAAA, through `node:dns` `Resolver`
 * (c-ares, never the blocking getaddrinfo thread pool), cached by TTL.
 *
 * - §4.1: `sips:` or a `transport` parameter other than udp fails with ERR_TRANSPORT_UNSUPPORTED
 *   (streams are the bridge's job; route such targets through an outbound proxy instead).
 * - §4.2: a numeric host is used as is (port from the URI or 5060); an explicit port skips
 *   NAPTR and SRV and looks up A/AAAA only.
 * - §4.1/§4.2: otherwise NAPTR records with service "SIP+D2U" (order, then preference) give SRV
 *   names; with no NAPTR, `_sip._udp.<host>` is tried; with no SRV either, A/AAAA on port 5060.
 * - SRV targets are ordered by priority, and by RFC 2782 weighted random choice within one.
 *
 * TTLs: Node returns them only for A/AAAA (`{ ttl: true }`); NAPTR and SRV answers are kept for
 * `defaultTtlS`. Failures (no such name, no data) are cached for `negativeTtlS`.
 */
import { Resolver } from 'node:dns/promises';
import type { SipUri } from '../sip/types.js';
import { TransportError } from './errors.js';
import { ipFamily, stripBrackets, type Endpoint } from './types.js';

/** The part of `dns/promises` Resolver used here (a test can point a real Resolver at a local server). */
export interface DnsClient {
  resolveNaptr(name: string): Promise<Array<{ flags: string; service: string; regexp: string; replacement: string; order: number; preference: number }>>;
  resolveSrv(name: string): Promise<Array<{ priority: number; weight: number; port: number; name: string }>>;
  resolve4(name: string, opts: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
  resolve6(name: string, opts: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
}

export interface ResolverOptions {
  /** DNS servers (`['127.0.0.1:5353']`); default: the system's. */
  servers?: string[];
  /** a ready client instead of a new Resolver. */
  dns?: DnsClient;
  /** TTL for NAPTR/SRV answers, seconds, default 300. */
  defaultTtlS?: number;
  /** TTL for failed lookups, seconds, default 30. */
  negativeTtlS?: number;
  /** which families to look up for a host name, in order of preference; default ['4', '6']. */
  families?: Array<4 | 6>;
  /** query timeout in ms for a new Resolver, default 2000; tries default 2. */
  timeoutMs?: number;
  tries?: number;
  /** clock for the cache, default Date.now (tests pass a fake one). */
  now?: () => number;
}

interface CacheEntry<T> {
  expires: number;
  value: T | undefined;
}

export class SipResolver {
  private readonly dns: DnsClient;
  private readonly cache = new Map<string, CacheEntry<unknown>>();
  private readonly defaultTtl: number;
  private readonly negativeTtl: number;
  private readonly families: Array<4 | 6>;
  private readonly now: () => number;

  constructor(opts: ResolverOptions = {}) {
    if (opts.dns) this.dns = opts.dns;
    else {
      const r = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 });
      if (opts.servers) r.setServers(opts.servers);
      this.dns = r;
    }
    this.defaultTtl = (opts.defaultTtlS ?? 300) * 1000;
    this.negativeTtl = (opts.negativeTtlS ?? 30) * 1000;
    this.families = opts.families ?? [4, 6];
    this.now = opts.now ?? Date.now;
  }

  /** Entries currently cached (expired ones are dropped when next read). */
  get cacheSize(): number {
    return this.cache.size;
  }

  /**
   * The ordered list of UDP endpoints to try for `uri` (a Request-URI, a Route or an outbound
   * proxy). Never empty: throws TransportError ERR_TRANSPORT_RESOLVE or ERR_TRANSPORT_UNSUPPORTED.
   */
  async resolve(uri: SipUri): Promise<Endpoint[]> {
    const literal = this.resolveLiteral(uri);
    if (literal) return literal;
    const host = stripBrackets(uri.params.get('maddr') ?? uri.host);
    if (uri.port !== undefined) return this.addresses(host, uri.port, uri);
    const srvs = await this.srvTargets(host);
    if (srvs.length === 0) return this.addresses(host, 5060, uri);
    const out: Endpoint[] = [];
    for (const s of srvs) {
      try {
        out.push(...(await this.addresses(s.name, s.port, uri)));
      } catch {
        // a dead SRV target is skipped; the next one may resolve
      }
    }
    if (out.length === 0) throw new TransportError('ERR_TRANSPORT_RESOLVE', `no address for any SRV target of ${host}`);
    return out;
  }

  /**
   * The synchronous part of `resolve`: checks the scheme and transport (throws
   * ERR_TRANSPORT_UNSUPPORTED) and answers for an IP literal (§4.2) or localhost; undefined when
   * DNS is needed.
   */
  resolveLiteral(uri: SipUri): Endpoint[] | undefined {
    if (uri.scheme === 'sips') throw new TransportError('ERR_TRANSPORT_UNSUPPORTED', `sips: needs TLS, which sipis leaves to the bridge: ${uri.raw}`);
    if (uri.scheme !== 'sip') throw new TransportError('ERR_TRANSPORT_UNSUPPORTED', `cannot route to a ${uri.scheme}: URI`);
    const tp = uri.params.get('transport');
    if (tp && tp.toLowerCase() !== 'udp') throw new TransportError('ERR_TRANSPORT_UNSUPPORTED', `transport=${tp} is not UDP: route it through the bridge or an outbound proxy`);
    // §4.1: maddr, when present, replaces the host for the lookups.
    const host = stripBrackets(uri.params.get('maddr') ?? uri.host);
    if (ipFamily(host) !== 0) return [{ address: host, port: uri.port ?? 5060 }];
    // RFC 6761 §6.3: localhost is loopback, without asking DNS (c-ares does not read /etc/hosts).
    if (host === 'localhost') return [{ address: '127.0.0.1', port: uri.port ?? 5060 }];
    return undefined;
  }

  /** NAPTR (SIP+D2U) → SRV names, else `_sip._udp.host`; SRV records in the order to try. */
  private async srvTargets(host: string): Promise<Array<{ name: string; port: number }>> {
    const naptr = await this.cached(`NAPTR ${host}`, () => this.dns.resolveNaptr(host), () => this.defaultTtl);
    let names: string[];
    const udp = (naptr ?? [])
      .filter((r) => r.service.toUpperCase() === 'SIP+D2U' && r.flags.toLowerCase() === 's' && r.replacement)
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    if (udp.length) names = udp.map((r) => r.replacement);
    else if (naptr && naptr.length) return []; // §4.1: NAPTR exists but offers no UDP: no SRV guess
    else names = [`_sip._udp.${host}`];
    const out: Array<{ name: string; port: number }> = [];
    for (const n of names) {
      const srv = await this.cached(`SRV ${n}`, () => this.dns.resolveSrv(n), () => this.defaultTtl);
      if (srv) out.push(...orderSrv(srv).map((r) => ({ name: r.name, port: r.port })));
    }
    return out;
  }

  private async addresses(host: string, port: number, uri: SipUri): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for (const fam of this.families) {
      const recs = await this.cached(
        `A${fam} ${host}`,
        () => (fam === 4 ? this.dns.resolve4(host, { ttl: true }) : this.dns.resolve6(host, { ttl: true })),
        (v) => Math.max(1, Math.min(...v.map((r) => r.ttl))) * 1000,
      );
      if (recs) for (const r of recs) out.push({ address: r.address, port });
    }
    if (out.length === 0) throw new TransportError('ERR_TRANSPORT_RESOLVE', `no A/AAAA record for ${host} (${uri.raw})`);
    return out;
  }

  /** A lookup through the cache; a failed or empty lookup is cached as undefined. */
  private async cached<T extends unknown[]>(key: string, lookup: () => Promise<T>, ttl: (v: T) => number): Promise<T | undefined> {
    const hit = this.cache.get(key) as CacheEntry<T> | undefined;
    const now = this.now();
    if (hit) {
      if (hit.expires > now) return hit.value;
      this.cache.delete(key);
    }
    let value: T | undefined;
    try {
      value = await lookup();
      if (value.length === 0) value = undefined;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Timeouts and server failures are not cached: the next request asks again.
      if (code !== 'ENOTFOUND' && code !== 'ENODATA' && code !== 'ENONAME' && code !== 'EBADRESP' && code !== 'NXDOMAIN') return undefined;
      value = undefined;
    }
    this.cache.set(key, { expires: now + (value ? ttl(value) : this.negativeTtl), value });
    return value;
  }
}

/** RFC 2782: ascending priority; within a priority, weighted random order. */
export function orderSrv<T extends { priority: number; weight: number }>(recs: T[], random: () => number = Math.random): T[] {
  const byPrio = new Map<number, T[]>();
  for (const r of recs) {
    const l = byPrio.get(r.priority);
    if (l) l.push(r);
    else byPrio.set(r.priority, [r]);
  }
  const out: T[] = [];
  for (const prio of [...byPrio.keys()].sort((a, b) => a - b)) {
    // zero-weight records first in the list, as RFC 2782 asks, so they get a small chance
    const left = byPrio.get(prio)!.sort((a, b) => a.weight - b.weight);
    while (left.length) {
      const total = left.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        let x = random() * total;
        pick = left.findIndex((r) => (x -= r.weight) < 0);
        if (pick < 0) pick = left.length - 1;
      }
      out.push(left.splice(pick, 1)[0]!);
    }
  }
  return out;
}
