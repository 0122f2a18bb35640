/**
 * Who may send requests to an account's upstream Contact (`acc-<id>@sipis`): its provider. Anyone
 * who learns that Contact could otherwise ring the user's phones or fill their message box, so
 * the tunnel asks `isProviderSource(source, account)` for every out-of-dialog request to it
 * (core/tunnel `TunnelDeps.isProviderSource`; a refusal is a 403).
 *
 * The provider's addresses are those of the account's outbound proxy, else its registrar,
 * located as RFC 3263 does for our own REGISTERs (NAPTR/SRV/A/AAAA through the same
 * `SipResolver`), resolved when the account is loaded and again every `refreshS`, plus the
 * configured extra addresses and CIDRs (a provider whose INVITEs come from other edge proxies
 * than its registrar). The port is not compared: proxies send from ports of their choosing.
 */
import type { Logger } from 'pino';
import { isIP } from 'node:net';
import { tryParseUri } from '../sip/uri.js';
import type { Endpoint, SipResolver } from '../transport/index.js';
import type { UpstreamAccount } from '../upstream/types.js';

interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

/** An address as a number (IPv4-mapped IPv6 addresses count as IPv4). */
function toBits(address: string): { family: 4 | 6; bits: bigint } | undefined {
  let a = address.startsWith('[') ? address.slice(1, -1) : address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  const fam = isIP(a);
  if (fam === 4) return { family: 4, bits: a.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n) };
  if (fam !== 6) return undefined;
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  // an embedded IPv4 tail (::1.2.3.4) becomes two hextets
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    a = a.slice(0, -v4[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { family: 6, bits: groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g || '0', 16)), 0n) };
}

export function parseCidr(text: string): Cidr | undefined {
  const [ip, p] = text.split('/');
  const b = toBits(ip ?? '');
  if (!b) return undefined;
  const width = b.family === 4 ? 32 : 128;
  const prefix = p === undefined ? width : Number(p);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return undefined;
  return { ...b, prefix };
}

function inCidr(c: Cidr, b: { family: 4 | 6; bits: bigint }): boolean {
  if (c.family !== b.family) return false;
  const shift = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
  return b.bits >> shift === c.bits >> shift;
}

/** the normalised text of an address (for set lookups): IPv4-mapped → IPv4, lowercase. */
function norm(address: string): string {
  const a = address.startsWith('[') ? address.slice(1, -1) : address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return (mapped ? mapped[1]! : a).toLowerCase();
}

interface HostEntry {
  /** the URI resolved (the account's outbound proxy or registrar). */
  uri: string;
  addresses: Set<string>;
  /** accounts using it. */
  users: number;
  resolving: Promise<void> | undefined;
  ok: boolean;
}

export interface ProviderSourcesOptions {
  resolver: Pick<SipResolver, 'resolve'>;
  /** extra addresses or CIDRs (config providers.addresses). */
  extra?: readonly string[];
  refreshS?: number;
  log?: Logger;
}

export class ProviderSources {
  /** the provider URI of each account (outbound proxy, else registrar). */
  private readonly uriOf = new Map<string, string>();
  private readonly hosts = new Map<string, HostEntry>();
  private readonly extra: Cidr[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** requests refused (for /metrics). */
  refused = 0;
  resolveErrors = 0;

  constructor(private readonly opts: ProviderSourcesOptions) {
    for (const e of opts.extra ?? []) {
      const c = parseCidr(e);
      if (c) this.extra.push(c);
    }
    const every = (opts.refreshS ?? 300) * 1000;
    this.timer = setInterval(() => void this.refresh(), every);
    this.timer.unref();
  }

  /** An account loaded or changed: its provider is resolved (once per distinct URI). */
  track(a: UpstreamAccount): void {
    if (!a.enabled) return this.untrack(a.id);
    const uri = a.outboundProxy ?? a.registrar;
    const old = this.uriOf.get(a.id);
    if (old === uri) return;
    if (old !== undefined) this.untrack(a.id);
    this.uriOf.set(a.id, uri);
    let h = this.hosts.get(uri);
    if (!h) {
      h = { uri, addresses: new Set(), users: 0, resolving: undefined, ok: false };
      this.hosts.set(uri, h);
      void this.resolve(h);
    }
    h.users++;
  }

  untrack(id: string): void {
    const uri = this.uriOf.get(id);
    if (uri === undefined) return;
    this.uriOf.delete(id);
    const h = this.hosts.get(uri);
    if (h && --h.users <= 0) this.hosts.delete(uri);
  }

  replaceAll(all: Iterable<UpstreamAccount>): void {
    const seen = new Set<string>();
    for (const a of all) {
      seen.add(a.id);
      this.track(a);
    }
    for (const id of [...this.uriOf.keys()]) if (!seen.has(id)) this.untrack(id);
  }

  /** Resolves when every provider known now has been looked up once (or `timeoutMs` passed). */
  async ready(timeoutMs = 5000): Promise<void> {
    const all = Promise.all([...this.hosts.values()].map((h) => h.resolving));
    let t: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    clearTimeout(t);
  }

  private resolve(h: HostEntry): Promise<void> {
    if (h.resolving) return h.resolving;
    const run = async (): Promise<void> => {
      const uri = tryParseUri(h.uri);
      try {
        if (!uri) throw new Error('not a SIP URI');
        const eps = await this.opts.resolver.resolve(uri);
        h.addresses = new Set(eps.map((e) => norm(e.address)));
        h.ok = true;
      } catch (err) {
        // the old addresses stay: a DNS hiccup must not lock the provider out
        this.resolveErrors++;
        this.opts.log?.warn({ provider: h.uri, err: (err as Error).message }, 'cannot resolve a provider: its requests are refused until it resolves');
      }
    };
    h.resolving = run().finally(() => {
      h.resolving = undefined;
    });
    return h.resolving;
  }

  async refresh(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => this.resolve(h)));
  }

  /** `TunnelDeps.isProviderSource`. */
  isProviderSource(source: Endpoint, account: UpstreamAccount): boolean {
    const addr = norm(source.address);
    const h = this.hosts.get(account.outboundProxy ?? account.registrar);
    if (h?.addresses.has(addr)) return true;
    if (this.extra.length > 0) {
      const b = toBits(addr);
      if (b && this.extra.some((c) => inCidr(c, b))) return true;
    }
    this.refused++;
    return false;
  }

  /** distinct provider URIs known and how many resolved. */
  get stats(): { providers: number; resolved: number } {
    let resolved = 0;
    for (const h of this.hosts.values()) if (h.ok) resolved++;
    return { providers: this.hosts.size, resolved };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
