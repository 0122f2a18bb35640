/**
 * A small pool of pg-native connections.
 *
 * - A lost connection is dropped and a new one opened with exponential backoff and jitter
 *   (one reconnect loop per pool, so a dead server sees one attempt per delay, not one per query).
 * - A query issued while no connection is free waits in a bounded FIFO queue for at most
 *   `acquireTimeoutMs`; past that, or with the queue full, it fails with STORE_UNAVAILABLE
 *   (retryable). Nothing is retried behind the caller's back: a statement cut off by a lost
 *   connection may or may not have committed, so the caller decides (our writes are idempotent
 *   upserts, so retrying them is always safe).
 * - Events: 'down' when the last connection is lost or the first reconnect fails, 'up' when a
 *   connection is open again.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff.js';
import { PgConnection, redactUrl, withConnOptions, type SqlParam } from './connection.js';
import { StoreError } from './errors.js';

export interface PoolOptions {
  url: string;
  /** connections at most (default 4). */
  size?: number;
  connectTimeoutMs?: number;
  /** deadline of one statement (default 30 s); past it the connection is dropped. */
  queryTimeoutMs?: number;
  /** how long a query waits for a connection (default 5 s). */
  acquireTimeoutMs?: number;
  /** queries waiting at most (default 10,000). */
  maxQueue?: number;
  backoff?: BackoffOptions;
  appName?: string;
  logger?: Logger;
}

interface Waiter {
  resolve: (c: PgConnection) => void;
  reject: (e: StoreError) => void;
  timer: NodeJS.Timeout;
}

export interface Queryable {
  query<T = Record<string, unknown>>(text: string, params?: readonly SqlParam[]): Promise<T[]>;
  execute<T = Record<string, unknown>>(name: string, text: string, params: readonly SqlParam[]): Promise<T[]>;
}

export class Pool extends EventEmitter implements Queryable {
  readonly conninfo: string;
  private readonly size: number;
  private readonly queryTimeoutMs: number;
  private readonly acquireTimeoutMs: number;
  private readonly maxQueue: number;
  private readonly backoff: Backoff;
  private readonly log: Logger | undefined;
  private readonly all = new Set<PgConnection>();
  private readonly idle: PgConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private connecting = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private isDown = false;

  constructor(opts: PoolOptions) {
    super();
    this.size = Math.max(1, opts.size ?? 4);
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 30_000;
    this.acquireTimeoutMs = opts.acquireTimeoutMs ?? 5_000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.backoff = new Backoff(opts.backoff);
    this.log = opts.logger;
    this.conninfo = withConnOptions(opts.url, (opts.connectTimeoutMs ?? 5_000) / 1000, opts.appName ?? 'sipis');
  }

  /** opens the first connection; throws STORE_UNAVAILABLE when the database cannot be reached. */
  async start(): Promise<void> {
    const c = await PgConnection.open(this.conninfo).catch((err: StoreError) => {
      throw new StoreError('STORE_UNAVAILABLE', `${err.message} [${redactUrl(this.conninfo)}]`, { cause: err });
    });
    this.adopt(c);
    this.release(c);
  }

  get down(): boolean {
    return this.isDown;
  }

  /**
   * Throws STORE_UNAVAILABLE at once when the database is known to be down, for a caller that
   * answers someone waiting (a phone's REGISTER) and should not sit out `acquireTimeoutMs` first.
   */
  failIfDown(): void {
    if (this.isDown) throw new StoreError('STORE_UNAVAILABLE', 'database unavailable (reconnecting)');
  }

  /** open connections, busy ones included. */
  get connections(): number {
    return this.all.size;
  }

  get queued(): number {
    return this.waiters.length;
  }

  query<T = Record<string, unknown>>(text: string, params?: readonly SqlParam[]): Promise<T[]> {
    return this.withConnection((c) => c.query<T>(text, params, this.queryTimeoutMs));
  }

  execute<T = Record<string, unknown>>(name: string, text: string, params: readonly SqlParam[]): Promise<T[]> {
    return this.withConnection((c) => c.execute<T>(name, text, params, this.queryTimeoutMs));
  }

  async withConnection<R>(fn: (c: PgConnection) => Promise<R>): Promise<R> {
    const c = await this.acquire();
    try {
      return await fn(c);
    } finally {
      this.release(c);
    }
  }

  /** runs `fn` inside BEGIN … COMMIT on one connection; ROLLBACK when it throws. */
  async transaction<R>(fn: (tx: Queryable, conn: PgConnection) => Promise<R>): Promise<R> {
    return this.withConnection(async (c) => {
      const tx: Queryable = {
        query: (text, params) => c.query(text, params, this.queryTimeoutMs),
        execute: (name, text, params) => c.execute(name, text, params, this.queryTimeoutMs),
      };
      await c.query('BEGIN', undefined, this.queryTimeoutMs);
      try {
        const out = await fn(tx, c);
        await c.query('COMMIT', undefined, this.queryTimeoutMs);
        return out;
      } catch (err) {
        if (!c.lost) {
          await c.query('ROLLBACK', undefined, this.queryTimeoutMs).catch(() => c.close());
        }
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new StoreError('STORE_CLOSED', 'store closed'));
    }
    for (const c of this.all) c.close();
    this.all.clear();
    this.idle.length = 0;
  }

  private acquire(): Promise<PgConnection> {
    if (this.closed) return Promise.reject(new StoreError('STORE_CLOSED', 'store closed'));
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (c.probe()) {
        c.busy = true;
        return Promise.resolve(c);
      }
    }
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(new StoreError('STORE_UNAVAILABLE', `store queue full (${this.maxQueue} waiting)`));
    }
    return new Promise<PgConnection>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(
            new StoreError(
              'STORE_UNAVAILABLE',
              this.isDown
                ? `database unavailable (no connection within ${this.acquireTimeoutMs} ms)`
                : `no free database connection within ${this.acquireTimeoutMs} ms`,
            ),
          );
        }, this.acquireTimeoutMs),
      };
      this.waiters.push(w);
      // after queueing: grow() opens a connection only when someone is waiting for one
      this.grow();
    });
  }

  private release(c: PgConnection): void {
    c.busy = false;
    if (c.lost || this.closed) return;
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      c.busy = true;
      w.resolve(c);
    } else this.idle.push(c);
  }

  private adopt(c: PgConnection): void {
    this.all.add(c);
    c.busy = true;
    c.onLost((err) => {
      this.all.delete(c);
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
      if (this.closed) return;
      this.log?.warn({ code: err.code, reason: err.message, open: this.all.size }, 'database connection lost');
      if (this.all.size === 0) {
        this.setDown(true);
        this.grow(); // keep one reconnect loop running so we know when it is back
      }
    });
    if (this.isDown) this.setDown(false);
  }

  private setDown(down: boolean): void {
    if (this.isDown === down) return;
    this.isDown = down;
    if (down) this.log?.error('database unavailable');
    else this.log?.info('database connection restored');
    this.emit(down ? 'down' : 'up');
  }

  /** opens one more connection when there is demand and room; never while a backoff runs. */
  private grow(): void {
    if (this.closed || this.retryTimer || this.connecting > 0) return;
    if (this.all.size >= this.size) return;
    if (this.all.size > 0 && this.waiters.length === 0) return;
    this.connecting++;
    PgConnection.open(this.conninfo).then(
      (c) => {
        this.connecting--;
        if (this.closed) return c.close();
        this.backoff.reset();
        this.adopt(c);
        this.release(c);
        if (this.waiters.length) this.grow();
      },
      (err: StoreError) => {
        this.connecting--;
        if (this.closed) return;
        if (this.all.size === 0) this.setDown(true);
        const delay = this.backoff.next();
        this.log?.warn({ reason: err.message, retryInMs: delay }, 'database connect failed');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.grow();
        }, delay);
        this.retryTimer.unref();
      },
    );
  }
}
