/**
 * The bridge between core/store and the upstream engine: loads enabled accounts with their
 * saved registration (keyset pages), opens their passwords, converts rows both ways, and turns
 * LISTEN/NOTIFY account changes into engine calls (one reload per account at a time, in order).
 */
import type { Logger } from 'pino';
import type { Account, AccountChangeEvent, AccountWithRegistration, RegistrationState as StoredRegistration, Store } from '../store/index.js';
import type { UpstreamEngine } from '../upstream/engine.js';
import type { RegistrationRecord, UpstreamAccount } from '../upstream/types.js';

/**
 * What else follows the engine's accounts (the AOR index of accounts.ts, the provider addresses
 * of provider-sources.ts): told of every account loaded, changed, removed, and of a resync.
 */
export interface AccountMirror {
  put(a: UpstreamAccount): void;
  remove(id: string): void;
  replaceAll(all: readonly UpstreamAccount[]): void;
}

export function toUpstreamAccount(a: Account, password: string | null): UpstreamAccount {
  const u: UpstreamAccount = {
    id: String(a.id),
    aor: a.aor,
    authUser: a.authUser,
    password: password ?? '',
    registrar: a.registrar,
    expires: a.expires,
    enabled: a.enabled,
  };
  if (a.outboundProxy) u.outboundProxy = a.outboundProxy;
  if (a.realm) u.realm = a.realm;
  // sipis sends over UDP only: the engine refuses a tcp/tls account without a UDP outbound proxy
  if (a.transport !== 'udp') u.transport = a.transport;
  return u;
}

export function toRecord(r: StoredRegistration): RegistrationRecord | undefined {
  if (!r.callId) return undefined;
  return {
    accountId: String(r.accountId),
    state: r.state,
    callId: r.callId,
    cseq: r.cseq,
    expiresAt: r.expiresAt ? r.expiresAt.getTime() : null,
    lastStatus: r.lastStatus,
    lastReason: r.lastReason,
    failures: r.failures,
    retryAt: r.retryAt ? r.retryAt.getTime() : null,
    failingSince: r.failingSince ? r.failingSince.getTime() : null,
  };
}

/** `contactFor(accountId)` gives the Contact URI we register, stored for operators. */
export function toStored(r: RegistrationRecord, contactFor: (id: string) => string | null): StoredRegistration {
  return {
    accountId: Number(r.accountId),
    state: r.state,
    callId: r.callId,
    // the store documents "last CSeq sent": we store the reservation ceiling, which is ≥ it
    cseq: r.cseq,
    contact: contactFor(r.accountId),
    expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt),
    lastStatus: r.lastStatus,
    lastReason: r.lastReason,
    retryAt: r.retryAt === null ? null : new Date(r.retryAt),
    failures: r.failures,
    failingSince: r.failingSince === null ? null : new Date(r.failingSince),
  };
}

/** Opens the passwords of a page of accounts in one query (AccountStore.passwords). */
async function withPasswords(store: Store, accounts: Account[], log?: Logger): Promise<UpstreamAccount[]> {
  if (!accounts.length) return [];
  const { passwords, failed } = await store.accounts.passwords(accounts.map((a) => a.id));
  for (const [id, err] of failed) log?.warn({ account: id, code: err.code }, 'cannot open the password of an account; registering without one');
  return accounts.map((a) => toUpstreamAccount(a, passwords.get(a.id) ?? null));
}

/** A page of accounts with their saved rows, as the engine loads them (passwords opened). */
async function forEngine(store: Store, rows: readonly AccountWithRegistration[], log?: Logger): Promise<{ accounts: UpstreamAccount[]; records: Map<string, RegistrationRecord> }> {
  const accounts = await withPasswords(
    store,
    rows.map((r) => r.account),
    log,
  );
  const records = new Map<string, RegistrationRecord>();
  for (const r of rows) {
    const rec = r.registration && toRecord(r.registration);
    if (rec) records.set(rec.accountId, rec);
  }
  return { accounts, records };
}

/** Start-up: every enabled account this shard owns, with its saved registration row. */
export async function loadIntoEngine(store: Store, engine: UpstreamEngine, owns: (shardKey: string) => boolean, log?: Logger, mirror?: AccountMirror): Promise<number> {
  let after: number | null = 0;
  let n = 0;
  while (after !== null) {
    const page = await store.registrations.loadPage({ afterId: after, limit: 1000, shard: owns });
    const { accounts, records } = await forEngine(store, page.rows, log);
    engine.load(accounts, records);
    if (mirror) for (const a of accounts) mirror.put(a);
    n += accounts.length;
    after = page.nextAfterId;
  }
  return n;
}

/**
 * Start-up, after loadIntoEngine: an account disabled while no sipis ran (sipis-ctl, plain SQL)
 * may still be registered at its provider, which would keep routing its calls to us until the
 * binding runs out. Those whose last saved state is a binding not yet expired are loaded as they
 * were and withdrawn at once, as a live disable would (unREGISTER, then forgotten). Returns how
 * many.
 */
export async function unregisterDisabled(store: Store, engine: UpstreamEngine, owns: (shardKey: string) => boolean, log?: Logger): Promise<number> {
  let after: number | null = 0;
  let n = 0;
  while (after !== null) {
    const page = await store.registrations.loadPage({ afterId: after, limit: 1000, shard: owns, disabledRegistered: true });
    const { accounts, records } = await forEngine(store, page.rows, log);
    engine.load(
      accounts.map((a) => ({ ...a, enabled: true })),
      records,
    );
    for (const a of accounts) engine.removeAccount(a.id, { deleted: false });
    n += accounts.length;
    after = page.nextAfterId;
  }
  if (n > 0) log?.info({ accounts: n }, 'accounts disabled while sipis was down: their provider bindings withdrawn');
  return n;
}

/** Every account (enabled or not) this shard owns, for a resync diff. */
async function loadAll(store: Store, owns: (shardKey: string) => boolean, log?: Logger): Promise<UpstreamAccount[]> {
  const out: UpstreamAccount[] = [];
  let after: number | null = 0;
  while (after !== null) {
    const page = await store.accounts.list({ afterId: after, limit: 1000, enabled: true, shard: owns });
    out.push(...(await withPasswords(store, page.rows, log)));
    after = page.nextAfterId;
  }
  return out;
}

/**
 * Subscribes the engine to account changes. Changes for one account are applied in arrival
 * order (a chain per account); a 'resync' reloads everything and diffs. Returns unsubscribe.
 */
export function followAccountChanges(store: Store, engine: UpstreamEngine, owns: (shardKey: string) => boolean, log?: Logger, mirror?: AccountMirror): () => void {
  const chains = new Map<number, Promise<void>>();
  let resyncing: Promise<void> | null = null;
  const apply = async (id: number, op: string): Promise<void> => {
    if (op === 'DELETE') {
      mirror?.remove(String(id));
      engine.removeAccount(String(id), { deleted: true });
      return;
    }
    const a = await store.accounts.get(id);
    if (!a) {
      mirror?.remove(String(id));
      engine.removeAccount(String(id), { deleted: true });
      return;
    }
    if (!owns(a.shardKey) || !a.enabled) {
      // another shard's account (never loaded here: a no-op) or a disabled one (unREGISTER)
      mirror?.remove(String(id));
      engine.upsertAccount({ ...toUpstreamAccount(a, null), enabled: false });
      return;
    }
    const pw = await store.accounts.password(id);
    const ua = toUpstreamAccount(a, pw);
    engine.upsertAccount(ua);
    mirror?.put(ua);
  };
  const onEvent = (ev: AccountChangeEvent): void => {
    if (ev.type === 'resync') {
      if (resyncing) return;
      log?.info({ reason: ev.reason }, 'account resync');
      resyncing = loadAll(store, owns, log)
        .then((all) => {
          engine.syncAccounts(all);
          mirror?.replaceAll(all);
        })
        .catch((err: unknown) => log?.warn({ err }, 'account resync failed; the next reconnect retries'))
        .finally(() => {
          resyncing = null;
        });
      return;
    }
    const { id, op } = ev.change;
    const prev = chains.get(id) ?? Promise.resolve();
    const next = prev
      .then(() => apply(id, op))
      .catch((err: unknown) => log?.warn({ err, account: id }, 'applying an account change failed'))
      .finally(() => {
        if (chains.get(id) === next) chains.delete(id);
      });
    chains.set(id, next);
  };
  return store.onAccountChange(onEvent);
}
