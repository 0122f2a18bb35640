/**
 * Password guessing against device digest (REGISTER here, the phones' own requests in
 * core/tunnel/device-auth.ts): a source address whose credentials fail `limit` times within
 * `windowS` is refused for `blockS` without its credentials being looked at, then forgiven.
 * The same defence as Kamailio's pike/secfilter or fail2ban on Asterisk's security log, built
 * in so that a provider does not need a log scraper in front of every shard.
 *
 * The key is the phone's IP address as sipis knows it: the datagram source, or the address the
 * trusted bridge names in X-Sipis-Flow (through the bridge every phone shares the bridge's
 * source). Ports are left out: a guesser picks a new one for each attempt at no cost. A proven
 * password from the address clears its count, so one misconfigured phone behind a NAT shared
 * with working ones does not lock them out. Only failures count: a 401 or 407 challenge is the
 * normal first step of every registration.
 *
 * Memory is bounded: at most `maxTracked` addresses (the oldest entry makes room), expired ones
 * swept as they are met.
 */
export interface AuthGuardOptions {
  /** failures within the window that start a block; 0 turns the guard off. */
  limit: number;
  windowS: number;
  blockS: number;
  maxTracked?: number;
}

interface Entry {
  failures: number;
  /** start of the current counting window (ms). */
  since: number;
  /** 0, or the end of the block (ms). */
  blockedUntil: number;
}

export const DEFAULT_AUTH_GUARD: Readonly<AuthGuardOptions> = Object.freeze({ limit: 10, windowS: 60, blockS: 300 });

export class AuthGuard {
  readonly counters = { blocksStarted: 0, refused: 0 };
  private readonly entries = new Map<string, Entry>();
  private readonly maxTracked: number;

  constructor(private readonly opts: AuthGuardOptions = DEFAULT_AUTH_GUARD) {
    this.maxTracked = opts.maxTracked ?? 100_000;
  }

  /** Is `ip` refused right now? (counts the refusal) */
  blocked(ip: string, now: number): boolean {
    if (this.opts.limit <= 0) return false;
    const e = this.entries.get(ip);
    if (!e || e.blockedUntil === 0) return false;
    if (now < e.blockedUntil) {
      this.counters.refused++;
      return true;
    }
    this.entries.delete(ip);
    return false;
  }

  /** A failed proof from `ip`; true when it starts a block (for one log line per block). */
  failed(ip: string, now: number): boolean {
    if (this.opts.limit <= 0) return false;
    let e = this.entries.get(ip);
    if (e && e.blockedUntil === 0 && now - e.since > this.opts.windowS * 1000) {
      this.entries.delete(ip);
      e = undefined;
    }
    if (!e) {
      if (this.entries.size >= this.maxTracked) this.evictOldest(now);
      e = { failures: 0, since: now, blockedUntil: 0 };
      this.entries.set(ip, e);
    }
    if (++e.failures < this.opts.limit || e.blockedUntil !== 0) return false;
    e.blockedUntil = now + this.opts.blockS * 1000;
    this.counters.blocksStarted++;
    return true;
  }

  /** A proven password from `ip`: its count starts again. */
  succeeded(ip: string): void {
    const e = this.entries.get(ip);
    if (e && e.blockedUntil === 0) this.entries.delete(ip);
  }

  /** addresses refused right now (for /metrics). */
  blockedCount(now: number): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.blockedUntil > now) n++;
    return n;
  }

  /**
   * Map order is insertion order: the first entries are the oldest. A few of them are looked at
   * (expired ones go), then the oldest goes anyway: a flood of forged sources must not make each
   * failure walk the whole map.
   */
  private evictOldest(now: number): void {
    let looked = 0;
    for (const [ip, e] of this.entries) {
      const done = e.blockedUntil !== 0 ? now >= e.blockedUntil : now - e.since > this.opts.windowS * 1000;
      if (done) this.entries.delete(ip);
      if (this.entries.size < this.maxTracked || ++looked >= 16) break;
    }
    if (this.entries.size < this.maxTracked) return;
    const first = this.entries.keys().next();
    if (!first.done) this.entries.delete(first.value);
  }
}

/** `1.2.3.4:5060` / `[2001:db8::1]:5060` → the address without the port. */
export function addressOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const colon = hostPort.lastIndexOf(':');
  return colon > 0 && hostPort.indexOf(':') === colon ? hostPort.slice(0, colon) : hostPort;
}
