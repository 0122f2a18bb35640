/**
 * Which account a REGISTER is for, and its password for digest: looked up in the store by the
 * To URI's `user@host` (the account's shard key: the same key sipis-bridge shards on), cached
 * for a short while so a burst of REGISTERs (401 round, refreshes) costs one query per account.
 * The cache holds passwords in memory only; they are never logged.
 */
import type { Store } from '../store/index.js';

export interface DeviceAccount {
  id: string;
  aor: string;
  authUser: string;
  /** the AOR's user part: accepted as a digest username besides authUser. */
  aorUser: string;
  enabled: boolean;
  password: string | null;
  /** the account's shard key (`user@host`). */
  key: string;
}

export interface AccountDirectory {
  /** the account whose AOR is `user@host` (host lower-cased) and whose auth user (or AOR user) is `username`. */
  find(shardKey: string, username: string): Promise<DeviceAccount | null>;
  /** drops cached data of one account (after a change), or all. */
  invalidate(accountId?: string): void;
}

interface CacheEntry {
  at: number;
  accounts: DeviceAccount[];
}

export class StoreAccountDirectory implements AccountDirectory {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: Store,
    private readonly opts: { ttlMs?: number; maxEntries?: number } = {},
  ) {}

  async find(shardKey: string, username: string): Promise<DeviceAccount | null> {
    const list = await this.byKey(shardKey.toLowerCase());
    // users compare case-sensitively (RFC 3261 §19.1.4): an exact AOR match wins over one
    // that differs only by case
    const exact = list.filter((a) => a.key === shardKey);
    const pool = exact.length > 0 ? exact : list;
    return pool.find((a) => a.authUser === username) ?? pool.find((a) => a.aorUser === username) ?? null;
  }

  invalidate(accountId?: string): void {
    if (accountId === undefined) {
      this.cache.clear();
      return;
    }
    for (const [k, e] of this.cache) if (e.accounts.some((a) => a.id === accountId)) this.cache.delete(k);
  }

  private async byKey(shardKey: string): Promise<DeviceAccount[]> {
    const ttl = this.opts.ttlMs ?? 30_000;
    const now = Date.now();
    const hit = this.cache.get(shardKey);
    if (hit && now - hit.at < ttl) return hit.accounts;
    // a database known to be down: fail now rather than after the pool's acquire timeout
    this.store.pool.failIfDown();
    const rows = await this.store.accounts.findByShardKey(shardKey);
    const accounts: DeviceAccount[] = [];
    for (const a of rows) {
      const password = a.hasPassword ? await this.store.accounts.password(a.id) : null;
      accounts.push({ id: String(a.id), aor: a.aor, authUser: a.authUser, aorUser: aorUser(a.aor), enabled: a.enabled, password, key: a.shardKey });
    }
    // Only found accounts are cached: a phone configured before its account must not wait a TTL.
    if (accounts.length > 0) {
      const max = this.opts.maxEntries ?? 100_000;
      if (this.cache.size >= max) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(shardKey, { at: now, accounts });
    }
    return accounts;
  }
}

/** `sip:alice@example.com` → `alice`; '' for an AOR without a user part (`sip:example.com`). */
export function aorUser(aor: string): string {
  const colon = aor.indexOf(':');
  const at = aor.indexOf('@');
  return at > colon ? aor.slice(colon + 1, at) : '';
}
