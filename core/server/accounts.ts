/**
 * The accounts this sipis serves, as the call tunnel asks for them (core/tunnel `TunnelAccounts`):
 * by id (the `acc-<id>` of our upstream Contact) straight from the upstream engine, and by the
 * user and host a phone writes in its From (its AOR, or the AOR's user at the sipis domain)
 * through an index by AOR. The index is kept next to the engine's account load and follow
 * (upstream-store.ts), so it never needs a query on the request path.
 */
import type { Logger } from 'pino';
import { tryParseUri } from '../sip/uri.js';
import type { TunnelAccounts } from '../tunnel/index.js';
import type { UpstreamEngine } from '../upstream/engine.js';
import type { UpstreamAccount } from '../upstream/types.js';

/** `user@host` as the index keys it: RFC 3261 §19.1.4 compares the user case-sensitively, the host not. */
const keyOf = (user: string, host: string): string => `${user}@${host.toLowerCase()}`;

export class AccountIndex implements TunnelAccounts {
  /** `user@host` of the AOR → account id. */
  private readonly byAor = new Map<string, string>();
  /** account id → its key in byAor. */
  private readonly keys = new Map<string, string>();
  /** AOR user → account ids (for a From at the sipis domain). */
  private readonly byUser = new Map<string, Set<string>>();

  /**
   * `localHosts`: the hosts that mean "sipis itself" in a phone's From (the sipis domain, the
   * advertised host, our addresses), lowercased, IPv6 in brackets as URIs write them.
   */
  constructor(
    private readonly engine: Pick<UpstreamEngine, 'get'>,
    private readonly localHosts: ReadonlySet<string>,
    private readonly log?: Logger,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  /** An account loaded or changed: indexed when enabled, dropped from the index otherwise. */
  put(a: UpstreamAccount): void {
    if (!a.enabled) return this.remove(a.id);
    const uri = tryParseUri(a.aor);
    if (!uri?.user) {
      this.remove(a.id);
      this.log?.warn({ account: a.id }, 'account AOR without a user part: phones cannot be matched to it');
      return;
    }
    const key = keyOf(uri.user, uri.host);
    const old = this.keys.get(a.id);
    if (old === key) return;
    if (old !== undefined) this.remove(a.id);
    this.byAor.set(key, a.id);
    this.keys.set(a.id, key);
    let ids = this.byUser.get(uri.user);
    if (!ids) this.byUser.set(uri.user, (ids = new Set()));
    ids.add(a.id);
  }

  remove(id: string): void {
    const key = this.keys.get(id);
    if (key === undefined) return;
    this.keys.delete(id);
    if (this.byAor.get(key) === id) this.byAor.delete(key);
    const user = key.slice(0, key.lastIndexOf('@'));
    const ids = this.byUser.get(user);
    ids?.delete(id);
    if (ids?.size === 0) this.byUser.delete(user);
  }

  /** After a resync: exactly these accounts. */
  replaceAll(all: Iterable<UpstreamAccount>): void {
    const seen = new Set<string>();
    for (const a of all) {
      seen.add(a.id);
      this.put(a);
    }
    for (const id of [...this.keys.keys()]) if (!seen.has(id)) this.remove(id);
  }

  /** The account with this id, while the engine serves it (not while it is being unregistered). */
  get(id: string): UpstreamAccount | undefined {
    const m = this.engine.get(id);
    return m && !m.removeWhenDone && m.account.enabled ? m.account : undefined;
  }

  /**
   * The account a phone's request is for, from its From URI: the AOR itself, or the AOR's user
   * at one of our own hosts when exactly one account has that user (two providers may share a
   * user name: then the phone must write its AOR).
   */
  findByUser(user: string, host: string): UpstreamAccount | undefined {
    const id = this.byAor.get(keyOf(user, host));
    if (id !== undefined) return this.get(id);
    if (!this.localHosts.has(host.toLowerCase())) return undefined;
    const ids = this.byUser.get(user);
    if (ids?.size !== 1) return undefined;
    return this.get(ids.values().next().value!);
  }
}
