/**
 * A small pool of HTTP/2 connections to one origin (APNs or FCM), each carrying many
 * concurrent streams. What it guarantees to its callers:
 *  - never more streams on a connection than the peer's SETTINGS_MAX_CONCURRENT_STREAMS
 *    (RFC 9113 §6.5.2); requests beyond every connection's limit wait in a bounded queue,
 *    and a full queue fails fast (ERR_UPSTREAM_QUEUE_FULL) instead of growing;
 *  - every request settles exactly once: a response, or a typed error saying whether the
 *    server can have processed it. A GOAWAY (RFC 9113 §6.8) marks the connection as draining,
 *    streams above its last-stream-id are refused by nghttp2 and come back as
 *    ERR_UPSTREAM_UNPROCESSED, and so does any stream reset or closed without a response;
 *  - a dropped connection is replaced on demand; timeouts on connect and on each stream.
 * Retrying is the caller's business (it knows the deadline and the push semantics).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Logger } from 'pino';
import { UpstreamError } from './errors.js';

export interface H2PoolOptions {
  /** `https://host:port` (TLS, ALPN h2) or `http://host:port` (h2c, tests only). */
  origin: string;
  /** Most connections to open; default 2. */
  connections?: number;
  /** Cap on streams per connection even if the peer allows more; default 1000. */
  maxStreamsPerConnection?: number;
  /** Requests allowed to wait for a stream slot; default 10000. */
  maxQueue?: number;
  connectTimeoutMs?: number;
  /** PING an idle connection this often to notice dead peers; default 60 s. */
  pingIntervalMs?: number;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean; servername?: string };
  log: Logger;
  /** Called on connection open/close for metrics. */
  onConnectionEvent?: (event: 'open' | 'close' | 'goaway' | 'error') => void;
}

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Pending {
  headers: OutgoingHttpHeaders;
  body: Buffer | string;
  timeoutMs: number;
  /** Collect the body of a 200 answer too (errors' bodies are always collected). */
  wantBody: boolean;
  resolve: (r: H2Response) => void;
  reject: (e: Error) => void;
}

const { NGHTTP2_CANCEL } = http2.constants;

class Connection {
  session: ClientHttp2Session;
  active = 0;
  /** Unknown until the peer's first SETTINGS frame: no stream is opened before that. */
  limit = 0;
  ready = false;
  draining = false;
  lastUse = Date.now();
  constructor(session: ClientHttp2Session) {
    this.session = session;
  }
  hasRoom(): boolean {
    return this.ready && !this.draining && this.active < this.limit;
  }
}

export class H2Pool {
  private readonly conns: Connection[] = [];
  private readonly queue: Pending[] = [];
  private queueHead = 0;
  private closed = false;
  private readonly maxConns: number;
  private readonly maxStreams: number;
  private readonly maxQueue: number;
  private readonly connectTimeoutMs: number;
  private readonly pingTimer: NodeJS.Timeout;

  constructor(private readonly opts: H2PoolOptions) {
    this.maxConns = opts.connections ?? 2;
    this.maxStreams = opts.maxStreamsPerConnection ?? 1000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const every = opts.pingIntervalMs ?? 60_000;
    this.pingTimer = setInterval(() => this.pingIdle(every), every);
    this.pingTimer.unref();
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }
  get inFlight(): number {
    let n = 0;
    for (const c of this.conns) n += c.active;
    return n;
  }
  get connectionCount(): number {
    return this.conns.length;
  }

  request(headers: OutgoingHttpHeaders, body: Buffer | string, timeoutMs: number, wantBody = true): Promise<H2Response> {
    if (this.closed) return Promise.reject(new UpstreamError('ERR_UPSTREAM_CLOSED', 'connection pool closed'));
    return new Promise<H2Response>((resolve, reject) => {
      const p: Pending = { headers, body, timeoutMs, wantBody, resolve, reject };
      const conn = this.queued === 0 ? this.pickConnection() : undefined;
      if (conn) {
        this.start(conn, p);
        return;
      }
      if (this.queued >= this.maxQueue) {
        reject(new UpstreamError('ERR_UPSTREAM_QUEUE_FULL', `${this.queued} requests already wait for a stream`));
        return;
      }
      this.queue.push(p);
      this.ensureCapacity();
    });
  }

  /** Closes every connection after its streams finish; queued requests fail as unprocessed. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pingTimer);
    this.failQueue(new UpstreamError('ERR_UPSTREAM_CLOSED', 'connection pool closed'));
    await Promise.all(
      this.conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.session.closed || c.session.destroyed) return resolve();
            const t = setTimeout(() => c.session.destroy(), 2000);
            c.session.close(() => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }

  private pickConnection(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.conns) {
      if (c.hasRoom() && (!best || c.active < best.active)) best = c;
    }
    return best;
  }

  /** Opens another connection when every usable one is full and the pool may grow. */
  private ensureCapacity(): void {
    if (this.closed) return;
    let connecting = 0;
    for (const c of this.conns) {
      if (c.hasRoom()) return;
      if (!c.ready && !c.draining) connecting++;
    }
    if (connecting > 0) return;
    if (this.conns.filter((c) => !c.draining).length >= this.maxConns) return;
    this.connect();
  }

  private connect(): void {
    const { origin, tls, log } = this.opts;
    const session = http2.connect(origin, {
      ...(tls ?? {}),
      // APNs and FCM advertise their own limits; this is only our receive-side setting.
      settings: { enablePush: false },
    });
    const conn = new Connection(session);
    this.conns.push(conn);
    const connectTimer = setTimeout(() => {
      if (!conn.ready) {
        log.warn({ origin }, 'HTTP/2 connect timed out');
        session.destroy(new UpstreamError('ERR_UPSTREAM_CONNECT', `connect to ${origin} timed out`));
      }
    }, this.connectTimeoutMs);
    session.on('remoteSettings', (settings) => {
      // RFC 9113 §6.5.2: the peer's limit on streams we may open; absent means unlimited.
      conn.limit = Math.min(settings.maxConcurrentStreams ?? this.maxStreams, this.maxStreams);
      if (!conn.ready) {
        conn.ready = true;
        clearTimeout(connectTimer);
        this.opts.onConnectionEvent?.('open');
        log.debug({ origin, limit: conn.limit }, 'HTTP/2 connection ready');
      }
      this.pump();
    });
    session.on('goaway', (errorCode: number, lastStreamID: number) => {
      // Streams above lastStreamID were not processed; nghttp2 closes them with
      // REFUSED_STREAM and they come back to their callers as unprocessed.
      conn.draining = true;
      this.opts.onConnectionEvent?.('goaway');
      log.info({ origin, errorCode, lastStreamID }, 'GOAWAY received; draining connection');
      this.ensureCapacity();
    });
    session.on('error', (err: Error) => {
      this.opts.onConnectionEvent?.('error');
      log.warn({ origin, err: err.message }, 'HTTP/2 session error');
    });
    session.on('close', () => {
      clearTimeout(connectTimer);
      const wasReady = conn.ready;
      conn.draining = true;
      const i = this.conns.indexOf(conn);
      if (i >= 0) this.conns.splice(i, 1);
      this.opts.onConnectionEvent?.('close');
      if (!wasReady) {
        // Nothing could connect: fail the waiting requests so their callers can back off
        // against their own deadlines rather than wait here without a bound.
        if (!this.conns.some((c) => c.ready || !c.draining)) {
          this.failQueue(new UpstreamError('ERR_UPSTREAM_CONNECT', `cannot connect to ${origin}`));
        }
        return;
      }
      if (!this.closed && this.queued > 0) this.ensureCapacity();
    });
  }

  private failQueue(err: Error): void {
    const waiting = this.queue.splice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const p of waiting) p.reject(err);
  }

  private pump(): void {
    while (this.queued > 0) {
      const conn = this.pickConnection();
      if (!conn) {
        this.ensureCapacity();
        return;
      }
      const p = this.queue[this.queueHead++]!;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      this.start(conn, p);
    }
  }

  private start(conn: Connection, p: Pending): void {
    let stream: ClientHttp2Stream;
    try {
      stream = conn.session.request(p.headers, { endStream: false });
    } catch (err) {
      // The session went away between our check and the call (GOAWAY being processed).
      conn.draining = true;
      p.reject(new UpstreamError('ERR_UPSTREAM_UNPROCESSED', 'session closing', { cause: err }));
      return;
    }
    conn.active++;
    conn.lastUse = Date.now();
    let status = 0;
    let resHeaders: IncomingHttpHeaders | undefined;
    let chunks: Buffer[] | undefined;
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      stream.close(NGHTTP2_CANCEL);
      p.reject(new UpstreamError('ERR_UPSTREAM_TIMEOUT', `no response within ${p.timeoutMs} ms`));
    }, p.timeoutMs);
    stream.on('response', (h) => {
      resHeaders = h;
      status = Number(h[':status']);
      // A 200 from APNs/FCM carries nothing we need beyond its headers (the FCM message name
      // is the exception, and small); only then is the body collected.
      if (status === 200 && !p.wantBody) stream.resume();
      else stream.on('data', (c: Buffer) => (chunks ??= []).push(c));
    });
    stream.on('error', () => {
      // Reported through 'close' below, with or without a response.
    });
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (resHeaders) {
        p.resolve({ status, headers: resHeaders, body: chunks ? Buffer.concat(chunks) : Buffer.alloc(0) });
      } else {
        p.reject(
          new UpstreamError('ERR_UPSTREAM_UNPROCESSED', `stream closed without response (RST code ${stream.rstCode ?? 'none'})`),
        );
      }
    };
    // 'close' follows the end of the response (or a reset): one listener settles both cases.
    stream.on('close', () => {
      conn.active--;
      finish();
      if (this.queued > 0) this.pump();
    });
    stream.end(p.body);
  }

  private pingIdle(every: number): void {
    const now = Date.now();
    for (const c of this.conns) {
      if (!c.ready || c.draining || c.active > 0 || now - c.lastUse < every) continue;
      c.session.ping((err) => {
        if (err) {
          this.opts.log.warn({ origin: this.opts.origin, err: err.message }, 'PING failed; dropping connection');
          c.session.destroy();
        }
      });
    }
  }
}
