/**
 * A small pool of HTTP/2 connections to one origin (APNs or FCM), each carrying many
 * concurrent streams. What it guarantees to its callers:
 *  - never more streams on a connection than the peer's SETTINGS_MAX_CONCURRENT_STREAMS
 *    (RFC 9113 §6.5.2); requests beyond every connection's limit wait in a bounded queue,
 *    and a full queue fails fast (ERR_UPSTREAM_QUEUE_FULL) instead of growing;
 *  - every request settles exactly once: a response, or a typed error saying whether the
 *    server can have processed it. A GOAWAY (RFC 9113 §6.8) marks the connection as draining,
 *    streams above its last-stream-id come back as ERR_UPSTREAM_UNPROCESSED, and so does any
 *    stream reset or closed without a response;
 *  - a dropped connection is replaced on demand; timeouts on connect and on each stream;
 *  - a request's timeout runs from `requestTo`, not from when it gets a stream: time spent
 *    waiting for a connection (TCP, TLS, SETTINGS) or a free stream counts, so a caller that
 *    passes the time left before its deadline hears back by then even from a peer that never
 *    finishes its handshake. The connection attempt itself keeps its own timeout
 *    (`connectTimeoutMs`): it is shared by every request waiting, and by the ones after them.
 * Retrying is the caller's business (it knows the deadline and the push semantics).
 *
 * The connections are our own HTTP/2 client (./h2/session.ts), not node:http2: a push is a
 * few microseconds of CPU there instead of a hundred (see bench/mediator/h2client.bench.ts).
 */
import { connect as netConnect, isIP, type Socket, type TcpNetConnectOpts } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { UpstreamError } from './errors.js';
import { H2Session, type H2Response, type ResponseSink, type SessionOwner } from './h2/session.js';

export type { H2Response } from './h2/session.js';

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

/** A request waiting for a stream slot (only those: a request with a free slot goes straight out). */
interface Pending {
  headers: OutgoingHttpHeaders;
  body: Buffer;
  timeoutMs: number;
  /** Epoch ms at which the request times out, waiting or not. */
  expiresAt: number;
  /** Collect the body of a 200 answer too (errors' bodies are always collected). */
  wantBody: boolean;
  sink: ResponseSink;
}

/** The promise form's sink: the promise's own resolve and reject. */
class PromiseSink implements ResponseSink {
  constructor(
    readonly resolve: (r: H2Response) => void,
    readonly reject: (e: Error) => void,
  ) {}
}

type OnRead = Pick<TcpNetConnectOpts, 'onread'>;

/** Size of a connection's read buffer (TLS records are at most 16 KiB of plaintext). */
const READ_BUFFER = 64 * 1024;

/** The `onread` callback of a connection's socket, bound once, handing reads to its session. */
class Reader {
  session: H2Session | undefined;
  readonly buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
  readonly callback = (n: number): boolean => {
    this.session?.receive(this.buffer, n);
    return true;
  };
}

class Connection implements SessionOwner {
  readonly session: H2Session;
  /** Unknown until the peer's first SETTINGS frame: no stream is opened before that. */
  limit = 0;
  ready = false;
  draining = false;
  readonly connectTimer: NodeJS.Timeout;

  constructor(
    private readonly pool: H2Pool,
    socket: Socket,
    reader: Reader,
    authority: string,
    scheme: 'https' | 'http',
    log: Logger,
    connectTimeoutMs: number,
  ) {
    this.session = new H2Session(socket, this, { log, authority, scheme, externalRead: true });
    reader.session = this.session;
    this.connectTimer = setTimeout(() => {
      if (this.ready) return;
      log.warn('HTTP/2 connect timed out');
      this.session.destroy(new UpstreamError('ERR_UPSTREAM_CONNECT', `connect to ${authority} timed out`));
    }, connectTimeoutMs);
  }

  hasRoom(): boolean {
    return this.ready && !this.draining && this.session.usable && this.session.active < this.limit;
  }

  onRemoteSettings(): void {
    this.pool.onSettings(this);
  }
  onGoaway(_s: H2Session, errorCode: number, lastStreamId: number): void {
    this.draining = true;
    this.pool.onGoaway(this, errorCode, lastStreamId);
  }
  onStreamClosed(): void {
    this.pool.onStreamClosed();
  }
  onClose(_s: H2Session, err: Error | undefined): void {
    clearTimeout(this.connectTimer);
    this.pool.onClose(this, err);
  }
}

export class H2Pool {
  private readonly conns: Connection[] = [];
  private readonly queue: Pending[] = [];
  /** Per header name, the last value found fit for the wire (see badFieldValue). */
  private readonly lastValid = new Map<string, string>();
  private queueHead = 0;
  private closed = false;
  private readonly maxConns: number;
  private readonly maxStreams: number;
  private readonly maxQueue: number;
  private readonly connectTimeoutMs: number;
  private readonly pingTimer: NodeJS.Timeout;
  /**
   * One timer for the earliest expiry among the queued requests. Left to fire when the queue
   * empties (a sweep of nothing): a queue that fills and drains all the time under load would
   * otherwise set and clear a timer per request.
   */
  private queueTimer: NodeJS.Timeout | undefined;
  private queueTimerAt = 0;
  private readonly sweepQueueBound = () => this.sweepQueue();
  private readonly url: URL;
  private readonly log: Logger;

  constructor(private readonly opts: H2PoolOptions) {
    this.maxConns = opts.connections ?? 2;
    this.maxStreams = opts.maxStreamsPerConnection ?? 1000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.url = new URL(opts.origin);
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:') throw new UpstreamError('ERR_UPSTREAM_CONNECT', `origin ${opts.origin} is neither https: nor http:`);
    this.log = opts.log.child({ origin: opts.origin });
    const every = opts.pingIntervalMs ?? 60_000;
    this.pingTimer = setInterval(() => this.pingIdle(every), every);
    this.pingTimer.unref();
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }
  get inFlight(): number {
    let n = 0;
    for (const c of this.conns) n += c.session.active;
    return n;
  }
  /**
   * The first header whose value cannot go on the wire as it is, or undefined. HPACK writes a
   * string one octet per character, and RFC 9113 §8.2.1 makes a field with NUL, CR or LF
   * malformed (the peer resets the stream, or the connection): refused here, before a frame is
   * laid. Most values repeat from push to push (topic, JWT): only a value not seen last time for
   * its name is scanned, which keeps this at a few hundred ns instead of ~2 µs a request.
   */
  private badFieldValue(headers: OutgoingHttpHeaders): string | undefined {
    for (const name in headers) {
      const v = headers[name];
      if (typeof v === 'string') {
        if (this.lastValid.get(name) === v) continue;
        if (!isFieldValue(v)) return name;
        if (this.lastValid.size < 64 || this.lastValid.has(name)) this.lastValid.set(name, v);
      } else if (Array.isArray(v)) {
        for (const one of v) if (!isFieldValue(one)) return name;
      }
    }
    return undefined;
  }

  get connectionCount(): number {
    return this.conns.length;
  }

  /** The promise form of `requestTo` (tests, tools, the FCM adapter's token endpoint). */
  request(headers: OutgoingHttpHeaders, body: Buffer | string, timeoutMs: number, wantBody = true): Promise<H2Response> {
    return new Promise<H2Response>((resolve, reject) => {
      this.requestTo(headers, typeof body === 'string' ? Buffer.from(body) : body, timeoutMs, wantBody, new PromiseSink(resolve, reject));
    });
  }

  /**
   * Sends one request; its one outcome goes to `sink` (a response, or an UpstreamError), never
   * from inside this call except for a request refused at once (pool closed, bad header, queue
   * full). No promise and no closure per request: the hot path of every push.
   * `valuesChecked`: the caller built every header value from fields already checked to be
   * fit for the wire (the APNs adapter: token charset, UUID, digits, visible ASCII), so the
   * per-request scan of badFieldValue is skipped.
   */
  requestTo(headers: OutgoingHttpHeaders, body: Buffer, timeoutMs: number, wantBody: boolean, sink: ResponseSink, valuesChecked = false): void {
    if (this.closed) return sink.reject(new UpstreamError('ERR_UPSTREAM_CLOSED', 'connection pool closed'));
    const bad = valuesChecked ? undefined : this.badFieldValue(headers);
    if (bad !== undefined) return sink.reject(new UpstreamError('ERR_UPSTREAM_BAD_HEADER', `header ${bad}: a value HTTP/2 cannot carry (NUL, CR, LF or a character above U+00FF)`));
    const conn = this.queued === 0 ? this.pickConnection() : undefined;
    if (conn) return this.start(conn, headers, body, timeoutMs, wantBody, sink);
    if (this.queued >= this.maxQueue) return sink.reject(new UpstreamError('ERR_UPSTREAM_QUEUE_FULL', `${this.queued} requests already wait for a stream`));
    const expiresAt = Date.now() + timeoutMs;
    this.queue.push({ headers, body, timeoutMs, expiresAt, wantBody, sink });
    if (this.queueTimer === undefined || expiresAt < this.queueTimerAt) this.armQueueTimer(expiresAt);
    this.ensureCapacity();
  }

  /** Closes every connection after its streams finish; queued requests fail as unprocessed. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pingTimer);
    this.disarmQueueTimer();
    this.failQueue(new UpstreamError('ERR_UPSTREAM_CLOSED', 'connection pool closed'));
    await Promise.all(
      this.conns.map((c) => {
        if (c.session.closed) return undefined;
        const t = setTimeout(() => c.session.destroy(new UpstreamError('ERR_UPSTREAM_CLOSED', 'connection pool closed')), 2000);
        return c.session.close().then(() => clearTimeout(t));
      }),
    );
  }

  // ---- called by connections -------------------------------------------------------------

  onSettings(conn: Connection): void {
    // RFC 9113 §6.5.2: the peer's limit on streams we may open; absent means unlimited.
    conn.limit = Math.min(conn.session.maxConcurrentStreams, this.maxStreams);
    if (!conn.ready) {
      conn.ready = true;
      clearTimeout(conn.connectTimer);
      this.opts.onConnectionEvent?.('open');
      this.log.debug({ limit: conn.limit }, 'HTTP/2 connection ready');
    }
    this.pump();
  }

  onGoaway(_conn: Connection, errorCode: number, lastStreamID: number): void {
    // Streams above lastStreamID were not processed: the session fails them as unprocessed.
    this.opts.onConnectionEvent?.('goaway');
    this.log.info({ errorCode, lastStreamID }, 'GOAWAY received; draining connection');
    this.ensureCapacity();
  }

  onStreamClosed(): void {
    if (this.queued > 0) this.pump();
  }

  onClose(conn: Connection, err: Error | undefined): void {
    const wasReady = conn.ready;
    conn.draining = true;
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    if (err !== undefined && !this.closed) {
      this.opts.onConnectionEvent?.('error');
      this.log.warn({ err: err.message }, 'HTTP/2 connection failed');
    }
    this.opts.onConnectionEvent?.('close');
    if (!wasReady) {
      // Nothing could connect: fail the waiting requests so their callers can back off
      // against their own deadlines rather than wait here without a bound.
      if (!this.conns.some((c) => c.ready || !c.draining)) {
        this.failQueue(new UpstreamError('ERR_UPSTREAM_CONNECT', `cannot connect to ${this.opts.origin}`, { cause: err }));
      }
      return;
    }
    if (!this.closed && this.queued > 0) this.pump();
  }

  // ---- internals -------------------------------------------------------------------------

  private pickConnection(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.conns) {
      if (c.hasRoom() && (!best || c.session.active < best.session.active)) best = c;
    }
    return best;
  }

  /** Opens another connection when every usable one is full and the pool may grow. */
  private ensureCapacity(): void {
    if (this.closed) return;
    let connecting = 0;
    let usable = 0;
    for (const c of this.conns) {
      if (c.hasRoom()) return;
      if (!c.ready && !c.draining) connecting++;
      if (!c.draining) usable++;
    }
    if (connecting > 0 || usable >= this.maxConns) return;
    this.connect();
  }

  private connect(): void {
    const { tls } = this.opts;
    const u = this.url;
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    let socket: Socket;
    // Reads land in one buffer per connection and go straight to the session (`onread`): no
    // Readable stream, no Buffer and no 'data' event per read.
    const reader = new Reader();
    const onread = { buffer: reader.buffer, callback: reader.callback };
    if (u.protocol === 'https:') {
      const port = Number(u.port || 443);
      const servername = tls?.servername ?? (isIP(host) ? undefined : host);
      // tls.connect takes net.connect's `onread` too (Node's types leave it out).
      const options: ConnectionOptions & OnRead = {
        host,
        port,
        ALPNProtocols: ['h2'],
        onread,
        ...(servername ? { servername } : {}),
        ...(tls?.ca ? { ca: tls.ca } : {}),
        ...(tls?.cert ? { cert: tls.cert } : {}),
        ...(tls?.key ? { key: tls.key } : {}),
        ...(tls?.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      };
      socket = tlsConnect(options);
    } else {
      socket = netConnect({ host, port: Number(u.port || 80), onread });
    }
    const conn = new Connection(this, socket, reader, u.host, u.protocol === 'https:' ? 'https' : 'http', this.log, this.connectTimeoutMs);
    this.conns.push(conn);
  }

  private failQueue(err: Error): void {
    const waiting = this.queue.splice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    this.disarmQueueTimer();
    for (const p of waiting) p.sink.reject(err);
  }

  private armQueueTimer(at: number): void {
    if (this.queueTimer !== undefined) clearTimeout(this.queueTimer);
    this.queueTimerAt = at;
    this.queueTimer = setTimeout(this.sweepQueueBound, Math.max(0, at - Date.now()));
  }

  private disarmQueueTimer(): void {
    if (this.queueTimer !== undefined) clearTimeout(this.queueTimer);
    this.queueTimer = undefined;
  }

  /** Fails the queued requests whose time is up (rare: only while nothing can take them). */
  private sweepQueue(): void {
    this.queueTimer = undefined;
    const now = Date.now();
    const expired: Pending[] = [];
    let next = Infinity;
    let kept = 0;
    // Compacted in place, in order: the ones still waiting keep their turn.
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const p = this.queue[i]!;
      if (p.expiresAt <= now) expired.push(p);
      else {
        this.queue[kept++] = p;
        if (p.expiresAt < next) next = p.expiresAt;
      }
    }
    this.queue.length = kept;
    this.queueHead = 0;
    if (next !== Infinity) this.armQueueTimer(next);
    for (const p of expired) p.sink.reject(waitTimedOut(p.timeoutMs, this.opts.origin));
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
      // The stream gets what is left of the request's time; the sweep fails the ones with none.
      this.start(conn, p.headers, p.body, Math.max(1, p.expiresAt - Date.now()), p.wantBody, p.sink);
    }
  }

  private start(conn: Connection, headers: OutgoingHttpHeaders, body: Buffer, timeoutMs: number, wantBody: boolean, sink: ResponseSink): void {
    conn.session.request(headers, body, timeoutMs, wantBody, sink);
    // Stream ids used up (RFC 9113 §5.1.1): let this connection drain and open another.
    if (conn.session.draining) {
      conn.draining = true;
      void conn.session.close();
    }
  }

  private pingIdle(every: number): void {
    const now = Date.now();
    for (const c of this.conns) {
      if (!c.ready || c.draining || c.session.active > 0 || now - c.session.lastUse < every) continue;
      // The answer may take a while on a loaded peer: at least a second, at most ten.
      c.session.ping(Math.min(Math.max(every, 1000), 10_000));
    }
  }
}

function waitTimedOut(timeoutMs: number, origin: string): UpstreamError {
  return new UpstreamError('ERR_UPSTREAM_TIMEOUT', `no stream to ${origin} within ${timeoutMs} ms (connection not ready or every stream busy)`);
}

function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}
