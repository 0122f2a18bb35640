/**
 * One libpq connection (pg-native), promise-based, with the three things the pool needs:
 * a per-query deadline, lazily prepared named statements, and a clear signal when the
 * connection is lost (server restart, network, idle kill) so the pool can replace it.
 *
 * pg-native keeps its reader running between queries, so a server that terminates an idle
 * connection is noticed at once through the client's 'error' event (libpq's PQconsumeInput
 * fails on EOF), not on the next query.
 */
import { createRequire } from 'node:module';
import { StoreError } from './errors.js';

/** A value bound to a `$n` placeholder. Buffers go as bytea hex, objects as JSON text. */
export type SqlParam = string | number | bigint | boolean | null | undefined | Buffer | Date | readonly unknown[] | object;

interface PqHandle {
  resultStatus(): string;
  resultErrorFields(): Record<string, string> | null;
}

interface NativeClient {
  pq: PqHandle;
  connect(conninfo: string, cb: (err?: Error) => void): void;
  query(text: string, values: string[] | undefined, cb: (err: Error | undefined, rows: unknown[]) => void): void;
  prepare(name: string, text: string, nParams: number, cb: (err?: Error) => void): void;
  execute(name: string, values: (string | null)[], cb: (err: Error | undefined, rows: unknown[]) => void): void;
  end(cb?: () => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  on(event: 'notification', fn: (msg: { relname: string; extra: string; be_pid: number }) => void): void;
  escapeIdentifier(s: string): string;
}

const require = createRequire(import.meta.url);
const NativeClientCtor = require('pg-native') as new () => NativeClient;

export interface Notification {
  channel: string;
  payload: string;
}

/** Converts a JS value to the text form libpq sends (pg-native would send `String(value)`). */
export function toSqlText(v: SqlParam): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return '\\x' + v.toString('hex');
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/** SQLSTATEs meaning the session is gone: class 08 (connection exception) and 57P01–57P03. */
function isConnectionState(sqlState: string | undefined): boolean {
  return sqlState === undefined || sqlState.startsWith('08') || /^57P0[123]$/.test(sqlState);
}

/** Adds libpq options we rely on (connect timeout, TCP keepalives) unless the URL sets them. */
export function withConnOptions(url: string, connectTimeoutS: number, appName: string): string {
  const opts: Record<string, string> = {
    connect_timeout: String(Math.max(1, Math.round(connectTimeoutS))),
    application_name: appName,
    keepalives: '1',
    keepalives_idle: '30',
    keepalives_interval: '10',
    keepalives_count: '3',
  };
  if (/^postgres(ql)?:\/\//.test(url)) {
    const q = url.indexOf('?');
    const params = new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
    for (const [k, v] of Object.entries(opts)) if (!params.has(k)) params.set(k, v);
    return `${q >= 0 ? url.slice(0, q) : url}?${params.toString()}`;
  }
  let out = url.trim();
  for (const [k, v] of Object.entries(opts)) if (!new RegExp(`(^|\\s)${k}\\s*=`).test(out)) out += ` ${k}=${v}`;
  return out.trim();
}

/** Strips the password from a URL for messages. */
export function redactUrl(url: string): string {
  return url.replace(/(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/, '$1***@').replace(/(password\s*=\s*)\S+/, '$1***');
}

export class PgConnection {
  private readonly client: NativeClient;
  private readonly prepared = new Set<string>();
  private pendingReject: ((err: StoreError) => void) | null = null;
  private lostHandlers: Array<(err: StoreError) => void> = [];
  private lostErr: StoreError | null = null;
  busy = false;
  lastUsed = Date.now();

  private constructor(client: NativeClient) {
    this.client = client;
    client.on('error', (err) => this.markLost(new StoreError('STORE_UNAVAILABLE', `connection lost: ${oneLine(err.message)}`)));
  }

  static async open(conninfo: string): Promise<PgConnection> {
    const client = new NativeClientCtor();
    await new Promise<void>((resolve, reject) => {
      client.connect(conninfo, (err) => {
        if (err) {
          finish(client);
          reject(new StoreError('STORE_UNAVAILABLE', `cannot connect to PostgreSQL: ${oneLine(err.message)}`, { cause: err }));
        } else resolve();
      });
    });
    return new PgConnection(client);
  }

  get lost(): boolean {
    return this.lostErr !== null;
  }

  /** called once when the connection is found dead (never for close()). */
  onLost(fn: (err: StoreError) => void): void {
    if (this.lostErr) fn(this.lostErr);
    else this.lostHandlers.push(fn);
  }

  /** delivers LISTEN notifications; starting to listen also keeps the reader running. */
  onNotification(fn: (n: Notification) => void): void {
    this.client.on('notification', (msg) => fn({ channel: msg.relname, payload: msg.extra }));
  }

  escapeIdentifier(s: string): string {
    return this.client.escapeIdentifier(s);
  }

  query<T>(text: string, params: readonly SqlParam[] | undefined, timeoutMs: number): Promise<T[]> {
    const values = params ? params.map(toSqlText) : undefined;
    // pg-native uses the simple protocol when values is not an array: needed for multi-statement
    // migration scripts; with values, the extended protocol (one statement, typed parameters).
    return this.run<T>(timeoutMs, (cb) => this.client.query(text, values as string[] | undefined, cb));
  }

  /** runs a named prepared statement, preparing it on first use on this connection. */
  async execute<T>(name: string, text: string, params: readonly SqlParam[], timeoutMs: number): Promise<T[]> {
    if (!this.prepared.has(name)) {
      await this.run<never>(timeoutMs, (cb) => this.client.prepare(name, text, params.length, (err) => cb(err, [])));
      this.prepared.add(name);
    }
    return this.run<T>(timeoutMs, (cb) => this.client.execute(name, params.map(toSqlText), cb));
  }

  close(): void {
    if (!this.lostErr) this.lostErr = new StoreError('STORE_CLOSED', 'connection closed');
    this.lostHandlers = [];
    this.pendingReject?.(this.lostErr);
    this.pendingReject = null;
    finish(this.client);
  }

  private markLost(err: StoreError): void {
    if (this.lostErr) return;
    this.lostErr = err;
    this.pendingReject?.(err);
    this.pendingReject = null;
    const handlers = this.lostHandlers;
    this.lostHandlers = [];
    for (const h of handlers) h(err);
    finish(this.client);
  }

  private run<T>(timeoutMs: number, start: (cb: (err: Error | undefined, rows: unknown[]) => void) => void): Promise<T[]> {
    if (this.lostErr) return Promise.reject(this.lostErr);
    this.lastUsed = Date.now();
    return new Promise<T[]>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        this.pendingReject = null;
        fn();
      };
      const began = Date.now();
      const timer = setInterval(() => {
        if (Date.now() - began >= timeoutMs) {
          // the statement may still run on the server; the only safe way to get a usable
          // connection back is to drop this one (callers retry idempotent writes)
          settle(() => reject(new StoreError('STORE_TIMEOUT', `query did not complete within ${timeoutMs} ms`)));
          this.markLost(new StoreError('STORE_TIMEOUT', 'connection dropped after a query deadline'));
          return;
        }
        this.pollStalled();
      }, Math.min(STALL_CHECK_MS, timeoutMs));
      this.pendingReject = (err) => settle(() => reject(err));
      try {
        start((err, rows) => {
          if (!err) return settle(() => resolve(rows as T[]));
          const mapped = this.mapError(err);
          settle(() => reject(mapped));
          if (mapped.code === 'STORE_UNAVAILABLE') this.markLost(mapped);
        });
      } catch (err) {
        const mapped = new StoreError('STORE_UNAVAILABLE', `cannot send query: ${oneLine((err as Error).message)}`, { cause: err });
        settle(() => reject(mapped));
        this.markLost(mapped);
      }
    });
  }

  /**
   * Reads whatever the server sent an idle connection: a connection the server closed while we
   * were not looking (restart, idle timeout) is found dead here, before a query is put on it.
   * Costs one non-blocking recv().
   */
  probe(): boolean {
    if (this.lostErr) return false;
    if (!this.busy) {
      const c = this.client as unknown as { _read?: () => void };
      // twice: a server's last words (FATAL) and its EOF are seen by separate reads
      if (typeof c._read === 'function') {
        c._read();
        if (!this.lostErr) c._read();
      }
    }
    return !this.lostErr;
  }

  /**
   * Works around a stall in node-libpq: when the server resets the connection (RST), libuv
   * reports POLLERR, stops the poll watcher and calls back with UV_EBADF, which node-libpq
   * ignores; no 'readable' ever comes and the query would wait for its deadline. Doing by hand
   * what a 'readable' event does (pg-native's reader: PQconsumeInput, then results) surfaces
   * the error ("server closed the connection") or any result that arrived unnoticed.
   */
  private pollStalled(): void {
    const c = this.client as unknown as { _reading?: boolean; _read?: () => void };
    if (c._reading && typeof c._read === 'function') c._read();
  }

  private mapError(err: Error | string | undefined): StoreError {
    // pg-native hands a bare string (libpq's error message) when a query could not even be
    // sent or flushed: the socket is gone
    if (!(err instanceof Error)) {
      return new StoreError('STORE_UNAVAILABLE', `connection lost: ${oneLine(String(err ?? 'send failed'))}`);
    }
    let fields: Record<string, string> | null = null;
    try {
      if (this.client.pq.resultStatus() === 'PGRES_FATAL_ERROR') fields = this.client.pq.resultErrorFields();
    } catch {
      fields = null;
    }
    const sqlState = fields?.sqlState;
    const msg = oneLine(fields?.messagePrimary ?? err.message);
    if (isConnectionState(sqlState)) {
      return new StoreError('STORE_UNAVAILABLE', `connection lost: ${msg}`, { cause: err, sqlState });
    }
    // 40001 serialization failure, 40P01 deadlock, 55P03 lock not available: nothing changed
    if (sqlState === '40001' || sqlState === '40P01' || sqlState === '55P03') return new StoreError('STORE_BUSY', msg, { sqlState });
    if (sqlState === '23505') {
      // the detail names the duplicate key ("Key (aor)=(sip:…) already exists"), never a secret
      const detail = fields?.messageDetail ? ` (${oneLine(fields.messageDetail)})` : '';
      return new StoreError('STORE_CONFLICT', `${msg}${detail}`, { sqlState });
    }
    // other constraint details print the whole failing row, which may hold a password: left out
    if (sqlState?.startsWith('22') || sqlState?.startsWith('23')) return new StoreError('STORE_INVALID', msg, { sqlState });
    return new StoreError('STORE_QUERY', msg, { sqlState });
  }
}

/**
 * Ends a libpq client and keeps it referenced for a moment. node-libpq's finish() queues
 * uv_close() on a poll handle that lives inside the native object and then unrefs that object;
 * if the garbage collector frees it before libuv completes the close (next loop turn), libuv
 * later touches freed memory and aborts (uv__finish_close assertion). Holding the JS object
 * for a second is enough: the close completes on the next turn.
 */
const finishing = new Set<NativeClient>();
function finish(client: NativeClient): void {
  if (finishing.has(client)) return;
  try {
    client.end();
  } catch {
    // already finished
  }
  finishing.add(client);
  setTimeout(() => finishing.delete(client), 1000).unref();
}

/** how often an outstanding query checks for a silently dead connection. */
const STALL_CHECK_MS = 500;

function oneLine(s: string): string {
  return s.replace(/^(ERROR|FATAL):\s+/, '').replace(/\s+/g, ' ').trim();
}
