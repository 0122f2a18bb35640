/**
 * LISTEN sipis_account on a dedicated connection. Notifications sent while that connection is
 * down are lost for good (PostgreSQL queues them only for live listeners), so after every
 * reconnect the listener LISTENs again and emits 'resync': the caller reloads what it caches.
 * A heartbeat query notices a connection that died silently (no FIN from a dead host).
 *
 * Events: 'change' (AccountChange), 'resync' ({reason}), 'up', 'down' (StoreError).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff.js';
import { PgConnection } from './connection.js';
import type { StoreError } from './errors.js';

export const ACCOUNT_CHANNEL = 'sipis_account';

export interface AccountChange {
  op: 'INSERT' | 'UPDATE' | 'DELETE';
  id: number;
  shardKey: string;
  enabled: boolean;
  /** a plaintext password written by plain SQL waits to be sealed. */
  pendingPassword: boolean;
}

export type ResyncReason = 'reconnect' | 'bulk';

export interface ListenerOptions {
  conninfo: string;
  heartbeatMs?: number;
  backoff?: BackoffOptions;
  logger?: Logger;
}

export class AccountChangeListener extends EventEmitter {
  private conn: PgConnection | null = null;
  private readonly backoff: Backoff;
  private heartbeat: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private everUp = false;

  constructor(private readonly opts: ListenerOptions) {
    super();
    this.backoff = new Backoff(opts.backoff);
  }

  /** resolves once LISTEN is active; throws STORE_UNAVAILABLE when the first attempt fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  get listening(): boolean {
    return this.conn !== null && !this.conn.lost;
  }

  close(): void {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.retry) clearTimeout(this.retry);
    this.conn?.close();
    this.conn = null;
  }

  private async connect(): Promise<void> {
    const conn = await PgConnection.open(this.opts.conninfo);
    if (this.closed) return conn.close();
    conn.onNotification((n) => {
      if (n.channel === ACCOUNT_CHANNEL) this.onPayload(n.payload);
    });
    try {
      await conn.query(`LISTEN ${ACCOUNT_CHANNEL}`, undefined, 10_000);
    } catch (err) {
      conn.close();
      throw err;
    }
    this.conn = conn;
    conn.onLost((err) => this.lost(err));
    this.backoff.reset();
    const reconnected = this.everUp;
    this.everUp = true;
    this.emit('up');
    if (reconnected) this.emit('resync', { reason: 'reconnect' satisfies ResyncReason });
    const every = this.opts.heartbeatMs ?? 15_000;
    if (this.heartbeat) clearInterval(this.heartbeat);
    let beating = false; // one query at a time on a libpq connection
    this.heartbeat = setInterval(() => {
      if (beating || this.conn !== conn || conn.lost) return;
      beating = true;
      conn
        .query('SELECT 1', undefined, Math.max(1000, every))
        .catch(() => undefined)
        .finally(() => (beating = false));
    }, every);
    this.heartbeat.unref();
  }

  private lost(err: StoreError): void {
    if (this.closed) return;
    this.conn = null;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.opts.logger?.warn({ reason: err.message }, 'account listener lost its connection');
    this.emit('down', err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retry) return;
    const delay = this.backoff.next();
    this.retry = setTimeout(() => {
      this.retry = null;
      this.connect().catch((err: StoreError) => {
        this.opts.logger?.debug({ reason: err.message }, 'account listener reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  private onPayload(payload: string): void {
    let j: { op?: string; id?: number; shard_key?: string; enabled?: boolean; pending_password?: boolean };
    try {
      j = JSON.parse(payload) as typeof j;
    } catch {
      this.opts.logger?.warn('unparseable account notification ignored');
      return;
    }
    if (j.op === 'BULK') {
      this.emit('resync', { reason: 'bulk' satisfies ResyncReason });
      return;
    }
    if ((j.op !== 'INSERT' && j.op !== 'UPDATE' && j.op !== 'DELETE') || typeof j.id !== 'number') return;
    const change: AccountChange = {
      op: j.op,
      id: j.id,
      shardKey: j.shard_key ?? '',
      enabled: j.enabled ?? false,
      pendingPassword: j.pending_password ?? false,
    };
    this.emit('change', change);
  }
}
