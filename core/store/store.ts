/**
 * The store as sipis and sipis-ctl use it: one pool, migrations applied at open, the table
 * modules, and account change events.
 *
 *   const store = await Store.open({ url, keyring, logger });
 *   const off = store.onAccountChange((ev) => ev.type === 'resync' ? reloadAll() : reload(ev.change.id));
 */
import type { Logger } from 'pino';
import { AccountStore } from './accounts.js';
import { CleanupStore } from './cleanup.js';
import type { Keyring } from './config.js';
import { DeviceStore } from './devices.js';
import { AccountChangeListener, type AccountChange, type ResyncReason } from './listener.js';
import { MessageStore } from './messages.js';
import { migrate, schemaVersion, type MigrateResult } from './migrate.js';
import { latestVersion } from './migrations/index.js';
import { Pool, type PoolOptions } from './pool.js';
import { RegistrationStore, type RegistrationStateName } from './registrations.js';
import { StoreError } from './errors.js';

export interface StoreOptions extends PoolOptions {
  keyring?: Keyring;
  /** apply pending migrations at open (default true); false = refuse an out-of-date schema. */
  migrate?: boolean;
  /** open the LISTEN connection for onAccountChange (default true). */
  listen?: boolean;
  listenerHeartbeatMs?: number;
}

export type AccountChangeEvent = { type: 'change'; change: AccountChange } | { type: 'resync'; reason: ResyncReason };

export interface StoreStatus {
  accounts: number;
  enabledAccounts: number;
  registrations: Record<RegistrationStateName, number>;
  devices: number;
  liveTokens: number;
  undeliveredMessages: number;
  pendingCalls: number;
  schemaVersion: number;
}

export class Store {
  readonly accounts: AccountStore;
  readonly registrations: RegistrationStore;
  readonly devices: DeviceStore;
  readonly messages: MessageStore;
  /** the clean-up sweep's queries (stale devices, failing accounts, warnings). */
  readonly cleanup: CleanupStore;
  /** what the migration at open did (null when opened with migrate: false). */
  migration: MigrateResult | null = null;
  private listener: AccountChangeListener | null = null;
  private readonly subscribers = new Set<(ev: AccountChangeEvent) => void>();
  private readonly log: Logger | undefined;

  private constructor(
    readonly pool: Pool,
    readonly keyring: Keyring | undefined,
    logger: Logger | undefined,
  ) {
    this.log = logger;
    this.accounts = new AccountStore(pool, keyring);
    this.registrations = new RegistrationStore(pool);
    this.devices = new DeviceStore(pool);
    this.messages = new MessageStore(pool);
    this.cleanup = new CleanupStore(pool);
  }

  /** connects, migrates, starts listening; STORE_UNAVAILABLE when the database is unreachable. */
  static async open(opts: StoreOptions): Promise<Store> {
    // one child logger per component, created once
    const logger = opts.logger?.child({ component: 'store' });
    opts = { ...opts, logger };
    const pool = new Pool(opts);
    await pool.start();
    const store = new Store(pool, opts.keyring, logger);
    try {
      if (opts.migrate ?? true) store.migration = await migrate(pool, opts.logger);
      else {
        const v = await schemaVersion(pool);
        if (v < latestVersion) {
          throw new StoreError('STORE_SCHEMA', `database schema is version ${v}, this program needs ${latestVersion}: run "sipis-ctl db migrate"`);
        }
      }
      if (opts.listen ?? true) {
        store.listener = new AccountChangeListener({
          conninfo: pool.conninfo,
          heartbeatMs: opts.listenerHeartbeatMs,
          backoff: opts.backoff,
          logger: opts.logger,
        });
        store.listener.on('change', (c: AccountChange) => void store.onChange(c));
        store.listener.on('resync', (r: { reason: ResyncReason }) => void store.onResync(r.reason));
        store.listener.on('error', () => undefined);
        await store.listener.start();
      }
      if (opts.keyring) await store.accounts.sealPending();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /**
   * Account changes from any writer (sipis-ctl, admin API, the provider's plain SQL), within
   * about a second. After 'resync' the caller must reload: changes during an outage are lost.
   * Returns the unsubscribe function.
   */
  onAccountChange(cb: (ev: AccountChangeEvent) => void): () => void {
    if (!this.listener) throw new StoreError('STORE_CLOSED', 'store opened with listen: false');
    this.subscribers.add(cb);
    return () => this.subscribers.delete(cb);
  }

  /** true while the LISTEN connection is up. */
  get listening(): boolean {
    return this.listener?.listening ?? false;
  }

  async status(): Promise<StoreStatus> {
    const [counts, registrations, devices, other, version] = await Promise.all([
      this.accounts.count(),
      this.registrations.countByState(),
      this.devices.count(),
      this.pool.query<{ m: string; c: string }>(
        'SELECT (SELECT count(*) FROM message WHERE delivered_at IS NULL) AS m, (SELECT count(*) FROM pending_call) AS c',
      ),
      schemaVersion(this.pool),
    ]);
    return {
      accounts: counts.total,
      enabledAccounts: counts.enabled,
      registrations,
      devices: devices.devices,
      liveTokens: devices.liveTokens,
      undeliveredMessages: Number(other[0]!.m),
      pendingCalls: Number(other[0]!.c),
      schemaVersion: version,
    };
  }

  async close(): Promise<void> {
    this.listener?.close();
    this.listener = null;
    this.subscribers.clear();
    await this.pool.close();
  }

  private async onChange(change: AccountChange): Promise<void> {
    if (change.pendingPassword && change.op !== 'DELETE' && this.keyring) {
      await this.accounts.sealPending(change.id).catch((err: StoreError) => {
        this.log?.warn({ accountId: change.id, code: err.code }, 'could not seal a plaintext password yet');
      });
    }
    this.dispatch({ type: 'change', change });
  }

  private async onResync(reason: ResyncReason): Promise<void> {
    if (this.keyring) {
      await this.accounts.sealPending().catch((err: StoreError) => {
        this.log?.warn({ code: err.code }, 'could not seal plaintext passwords yet');
      });
    }
    this.dispatch({ type: 'resync', reason });
  }

  private dispatch(ev: AccountChangeEvent): void {
    for (const cb of this.subscribers) {
      try {
        cb(ev);
      } catch (err) {
        this.log?.error({ err }, 'account change subscriber threw');
      }
    }
  }
}
