/**
 * TCP and TLS front ends (RFC 3261 §18.3 stream framing, RFC 5626 keep-alives). One
 * StreamFlow per connection: its socket and, only while a message is incomplete, a framer.
 *
 * TLS: 1.2 or later, certificate and key from files, optional client-certificate check
 * against a CA file; `reloadTls()` (wired to SIGHUP) reads the files again and swaps the
 * secure context with `server.setSecureContext`: new handshakes use the new certificate,
 * established connections keep theirs.
 *
 * Memory per idle connection is what limits a bridge (issue 7: under 20 KiB per idle TLS
 * connection; measured 21.5 KiB at 10 000 and 50 000, `bench/bridge/memory.bench.ts`). What an
 * idle node:tls connection costs and what this file does about it, measured with 1 000–10 000
 * idle connections held, clients in other processes (RSS of the server ÷ connections, after a
 * GC; heaptrack for the native side):
 *
 * - node:tls feeds each TLS connection from libuv into a per-connection buffer (NodeBIO
 *   "enc_in") sized by the *first* read: libuv asks for 64 KiB, so a tls.Server connection
 *   keeps a 64 KiB buffer for life, of which the pages the handshake touched stay resident
 *   (≈4–5 KiB per connection). Bytes handed in from JS instead size that buffer to what
 *   arrived (at least 1 KiB), and later reads are cut to its free space. So the listening
 *   socket is a plain `net` server paused on connect: it reads the first flight (the
 *   ClientHello), puts it back with `unshift`, and passes the socket to an unlistened
 *   `tls.Server` with `emit('connection')`; node:tls then receives the buffered bytes
 *   through TLSWrap::Receive. Handshake, certificate checks, `tlsClientError` and
 *   `setSecureContext` are node:tls's own, unchanged. Bare servers: 26.7 → 21.3 KiB/conn.
 * - Per-connection closures and timers: the socket listeners are shared functions that find
 *   their flow through one symbol property; the idle timeout is one sweep per listener over
 *   a tick counter instead of a `socket.setTimeout` Timeout per connection (re-armed on every
 *   read and write); the handshake timeout likewise (node:tls keeps its cleared handshake
 *   Timeout referenced for the connection's life); the framer exists only while a message
 *   is incomplete. The bridge's own state per connection is now ≈0.1 KiB over a bare server.
 * - Cipher suites: AEAD only, ChaCha20-Poly1305 preferred (TLS_CIPHERS below): its context
 *   pair is ≈0.4 KiB smaller than AES-GCM's.
 * - What is left, per connection (1 000 held: heaptrack of the live native allocations, a heap
 *   snapshot diff for JS; Node 20.20, OpenSSL 3.0.19, TLS 1.3, X25519, 2048-bit RSA test
 *   certificate, Node's own TLS client):
 *     OpenSSL   SSL object 7.5 (its record layer arrays, inline), cipher context pair 1.5
 *               (AES-256-GCM: 1.9), session (re-made for the TLS 1.3 ticket) 0.9, CERT copy
 *               0.5, the handshake's X25519 key pair and the peer's key ≈0.6 (kept until
 *               SSL_free), client's cipher list 0.5, transcript hash 0.3, post-handshake-auth
 *               transcript copy 0.3 (only for clients offering PHA, as Node's does; BoringSSL
 *               phones do not), record-layer secrets and sigalgs ≈0.5
 *     node      NodeBIO buffers 2.5: enc_in 1 KiB, enc_out the size of the server's first
 *               flight (OpenSSL writes it in one piece), 1.4 KiB here, 2.3 KiB with a leaf +
 *               intermediate chain (measured, RSA 2048); TLSWrap 0.5, TCPWrap 0.4, BIOs 0.3
 *     malloc    chunk headers and rounding ≈1.3 (in use 18.3 KiB for 16.9 requested)
 *     JS heap   3.5: TLSSocket and its stream states 0.6, its `_events` 0.5 (a dictionary: node:tls
 *               adds a listener before EventEmitter initialises it), the plain socket beneath with
 *               its states and events 0.6, its TCP handle 0.3 (a dictionary: node:tls redefines
 *               `reading`), TLSWrap's JS side 0.3, listener arrays and closures of node:tls 0.5,
 *               options copy and peer-name caches 0.4, this file's StreamFlow and table entries 0.2
 *   ≈21–22 KiB in all. All but the last 0.2 KiB belong to Node and OpenSSL; below 20 KiB needs
 *   another TLS stack (uWebSockets.js's WSS, BoringSSL underneath, costs ≈4 KiB).
 * - TLS 1.2 as the highest version saves ≈1 KiB (20.6 vs 21.5 KiB at 10 000) but gives up TLS
 *   1.3: `TlsFiles.maxVersion`, an operator's opt-in (--tls-max-version), not the default.
 * - Tried and not kept: no session tickets, glibc
 *   malloc settings (MALLOC_ARENA_MAX=1/2: in-use bytes unchanged, RSS within noise), ECDSA vs
 *   RSA certificates (no difference once established, except enc_out sized by the chain),
 *   V8 semi-space size (the young generation is not per connection: the bench excludes its free
 *   part), wrapping the socket in a JS stream (saves the same buffer but adds ~2 KiB of JS
 *   objects), rebuilding node:tls's dictionary-mode `_events` as a fast object after the
 *   handshake (−0.35 KiB, but it rewrites Node internals).
 */
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket, type Server as TlsServer } from 'node:tls';
import type { BridgeContext, PartialHolder } from './context.js';
import { BridgeError } from './errors.js';
import type { ListenerInfo, PhoneFlow, StreamTransport } from './flow.js';
import { StreamFramer, type FramerSink } from './framer.js';

const CRLF = Buffer.from('\r\n');

/**
 * TLS cipher suites, in the server's order of preference (honorCipherOrder): AEAD only, and in
 * TLS 1.2 only with ECDHE (forward secrecy; no CBC, no static-RSA key exchange, no finite-field
 * DHE). ChaCha20-Poly1305 first: its OpenSSL context pair is ≈0.4 KiB per connection smaller
 * than AES-GCM's (AES-GCM keeps a 1 KiB key schedule and GHASH table per direction), which
 * matters for connections that sit idle for hours and costs nothing that shows at SIP
 * signalling rates. Clients without ChaCha20 get AES-GCM.
 */
export const TLS_CIPHERS = [
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
].join(':');

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates; with verifyClient, a phone must present one it signed. */
  caFile?: string;
  verifyClient?: boolean;
  /**
   * Highest version offered (default TLSv1.3). TLSv1.2 costs ≈1 KiB less per idle connection
   * (no TLS 1.3 ticket session copy, transcript copies or traffic secrets kept) at the price
   * of TLS 1.3's protections (encrypted certificate, no renegotiation, its key schedule); the
   * cipher list keeps TLS 1.2 at ECDHE + AEAD either way. An operator's choice, not a default.
   */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3' | undefined;
}

/** The flow of an accepted socket, read by the shared listeners below. */
const FLOW = Symbol('sipis.streamFlow');
type FlowSocket = Socket & { [FLOW]?: StreamFlow };

// One function per event for every connection (`this` is the socket), not closures per connection.
function onSocketData(this: FlowSocket, chunk: Buffer): void {
  this[FLOW]?.onData(chunk);
}
function onSocketError(this: FlowSocket, err: Error & { code?: string }): void {
  const flow = this[FLOW];
  flow?.ctx.log.debug({ flow: flow.id, code: err.code }, 'socket error');
}
function onSocketClose(this: FlowSocket): void {
  this[FLOW]?.onClose();
}

/** A TLS connection between TCP accept and the end of its handshake. */
interface Handshake {
  /** the plain socket (node:tls wraps it; destroying it closes the TLS socket too). */
  raw: Socket;
  /** its source address, admitted (BridgeContext.admit) at the TCP accept. */
  address: string;
  /** Date.now() by which the handshake must be complete. */
  deadline: number;
  /** the first bytes arrived and node:tls has the socket. */
  handedOver: boolean;
  onClose(): void;
}

class StreamFlow implements PhoneFlow, PartialHolder, FramerSink {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** idle sweep tick of the last traffic either way (see StreamListener.#sweepIdle). */
  lastActive: number;
  /** only while a message is incomplete: an idle connection holds no framer. */
  #framer: StreamFramer | undefined;

  constructor(
    readonly home: StreamListener,
    readonly socket: Socket,
  ) {
    this.id = home.ctx.flows.newId();
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.lastActive = home.tick;
  }

  get listener(): ListenerInfo {
    return this.home.info;
  }

  get ctx(): BridgeContext {
    return this.home.ctx;
  }

  get partialSince(): number {
    return this.#framer?.partialSince ?? 0;
  }

  // FramerSink
  message(msg: Buffer): void {
    this.home.ctx.relay.fromPhone(this, msg);
  }

  ping(): void {
    this.home.ctx.metrics.keepAlives.inc(this.home.info.transport);
    this.lastActive = this.home.tick;
    this.socket.write(CRLF);
  }

  onData(chunk: Buffer): void {
    const ctx = this.home.ctx;
    this.lastActive = this.home.tick;
    const framer = (this.#framer ??= new StreamFramer(this, ctx.limits.maxMessageBytes));
    try {
      framer.push(chunk);
    } catch (err) {
      const code = err instanceof BridgeError ? err.code : 'ERR_INTERNAL';
      ctx.metrics.framingErrors.inc(code);
      ctx.log.warn({ flow: this.id, transport: this.home.info.transport, remote: `${this.remoteAddress}:${this.remotePort}`, code, msg: (err as Error).message }, 'broken stream: closing connection');
      this.#framer = undefined;
      ctx.partial.delete(this);
      // a request whose headers are complete learns why (RFC 3261 §21.5.14) before the close:
      // its body cannot be skipped safely, so the stream ends here either way
      const head = framer.tooLargeHeaders;
      if (head && ctx.relay.refuseTooLarge(this, head)) {
        // end() lets the answer go out; what the phone still sends is discarded, and a phone
        // that never closes its side is cut a moment later
        const socket = this.socket;
        socket.removeListener('data', onSocketData);
        socket.end();
        socket.resume();
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      this.socket.destroy();
      return;
    }
    if (framer.partialSince) ctx.partial.add(this);
    else {
      ctx.partial.delete(this);
      // nothing held: a fresh framer on the next byte is the same state as this one (a held
      // CRLF is no partial message, but may be the first half of a CRLFCRLF ping)
      if (framer.pending === 0 && this.#framer === framer) this.#framer = undefined;
    }
  }

  send(parts: Buffer[]): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return false;
    const ctx = this.home.ctx;
    if (s.writableLength > ctx.limits.maxWriteBufferBytes) {
      ctx.metrics.connectionsRejected.inc('write-buffer-full');
      this.close('phone does not read: write buffer full');
      return false;
    }
    this.lastActive = this.home.tick;
    if (parts.length === 1) s.write(parts[0]!);
    else {
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
    return true;
  }

  close(reason: string): void {
    this.home.ctx.log.info({ flow: this.id, remote: `${this.remoteAddress}:${this.remotePort}`, reason }, 'closing connection');
    this.socket.destroy();
  }

  onClose(): void {
    const ctx = this.home.ctx;
    this.home.flows.delete(this);
    this.#framer = undefined;
    ctx.partial.delete(this);
    ctx.release(this.remoteAddress);
    ctx.closed(this);
  }
}

export class StreamListener {
  /** the listening socket: plain TCP for both transports (TLS: see the file comment). */
  readonly server: Server;
  readonly info: ListenerInfo;
  readonly ctx: BridgeContext;
  /** open flows of this listener (closed by close(), visited by the idle sweep). */
  readonly flows = new Set<StreamFlow>();
  /** TLS connections not yet established, by `address|port` (see #firstFlight). */
  readonly #handshakes = new Map<string, Handshake>();
  /** advances once per idle sweep period; flows stamp it on traffic. */
  tick = 0;
  readonly #tls: TlsFiles | undefined;
  readonly #tlsServer: TlsServer | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #handshakeSweep: NodeJS.Timeout | undefined;
  #advertise: string | undefined;

  constructor(transport: Extract<StreamTransport, 'tcp' | 'tls'>, ctx: BridgeContext, opts: { advertise?: string; tls?: TlsFiles }) {
    this.ctx = ctx;
    this.#tls = transport === 'tls' ? opts.tls : undefined;
    this.#advertise = opts.advertise;
    const self = this;
    this.info = {
      transport,
      viaTransport: transport === 'tls' ? 'TLS' : 'TCP',
      get advertise() {
        return self.#advertise ?? '';
      },
    };
    if (transport === 'tls') {
      if (!opts.tls) throw new BridgeError('ERR_CONFIG', 'the TLS listener needs a certificate and a key');
      // Never listens: connections are injected by #firstFlight with emit('connection').
      // handshakeTimeout -1: no timer per socket (node:tls arms one only for a positive value,
      // and keeps the cleared Timeout referenced for the connection's life); the header
      // timeout is enforced from the TCP accept to the end of the handshake by #sweepHandshakes.
      const srv = createTlsServer({ ...this.#secureOptions(), handshakeTimeout: -1 });
      srv.on('secureConnection', (s: TLSSocket) => {
        this.#handshakeDone(`${s.remoteAddress}|${s.remotePort}`);
        this.#accept(s, true);
      });
      srv.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
        ctx.metrics.connectionsRejected.inc('tls-handshake');
        ctx.log.info({ remote: s.remoteAddress, code: err.code, msg: err.message }, 'TLS handshake failed');
        // node:tls leaves the socket open on ERR_TLS_HANDSHAKE_TIMEOUT: a client stalled
        // mid-handshake would otherwise hold its connection for ever
        s.destroy();
      });
      this.#tlsServer = srv;
      this.server = createNetServer({ pauseOnConnect: true }, (raw) => this.#firstFlight(raw));
    } else {
      this.server = createNetServer((s) => this.#accept(s));
    }
    this.server.on('error', (err) => ctx.log.error({ err }, 'listener error'));
  }

  #secureOptions(): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
    const t = this.#tls!;
    const verify = t.verifyClient === true;
    try {
      return {
        cert: readFileSync(t.certFile),
        key: readFileSync(t.keyFile),
        ca: t.caFile ? readFileSync(t.caFile) : undefined,
        minVersion: 'TLSv1.2',
        maxVersion: t.maxVersion ?? 'TLSv1.3',
        ciphers: TLS_CIPHERS,
        honorCipherOrder: true,
        requestCert: verify,
        rejectUnauthorized: verify,
      };
    } catch (err) {
      throw new BridgeError('ERR_CONFIG', `cannot read TLS files: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Re-reads certificate, key and CA; established connections are untouched. */
  reloadTls(): void {
    if (!this.#tlsServer) return;
    this.#tlsServer.setSecureContext(this.#secureOptions());
  }

  /**
   * TLS: wait for the client's first bytes on the plain socket, put them back and hand the
   * socket to node:tls, which then sizes its receive buffer to them (file comment). The
   * connection is remembered by address and port (public on both the plain and the TLS
   * socket) until the handshake ends, for the header timeout and for close().
   */
  #firstFlight(raw: Socket): void {
    const ctx = this.ctx;
    const tlsServer = this.#tlsServer!;
    if (raw.remoteAddress === undefined) {
      raw.destroy(); // already gone
      return;
    }
    // the per-address limit counts a connection from its TCP accept: admitted only after the
    // handshake, one address could hold any number of half-open ones and make the bridge do
    // each handshake before refusing it
    const address = raw.remoteAddress;
    if (!ctx.admit(address)) {
      raw.destroy();
      return;
    }
    const key = `${address}|${raw.remotePort}`;
    const hs: Handshake = {
      raw,
      address,
      deadline: ctx.limits.headerTimeoutMs > 0 ? Date.now() + ctx.limits.headerTimeoutMs : Infinity,
      handedOver: false,
      // closed before its handshake ended (the flow releases the address once it exists)
      onClose: () => {
        if (this.#handshakes.get(key) === hs) this.#handshakes.delete(key);
        ctx.release(address);
      },
    };
    this.#handshakes.set(key, hs);
    const onError = (err: Error & { code?: string }): void => ctx.log.debug({ remote: raw.remoteAddress, code: err.code }, 'socket error before TLS');
    raw.on('error', onError).once('close', hs.onClose);
    raw.once('data', (chunk: Buffer) => {
      raw.pause();
      raw.off('error', onError); // node:tls adds its own
      hs.handedOver = true;
      raw.unshift(chunk);
      tlsServer.emit('connection', raw);
      // node:tls waits for a 'connect' on the wrapped socket (written for client sockets); an
      // accepted socket never emits it, and the once() wrapper would live as long as the
      // connection (≈0.2 KiB each)
      raw.removeAllListeners('connect');
    });
    raw.resume();
  }

  #handshakeDone(key: string): void {
    const hs = this.#handshakes.get(key);
    if (!hs) return;
    hs.raw.off('close', hs.onClose);
    this.#handshakes.delete(key);
  }

  /** Closes TLS connections whose handshake has not ended within the header timeout. */
  #sweepHandshakes(): void {
    const now = Date.now();
    for (const [key, hs] of this.#handshakes) {
      if (hs.deadline > now) continue;
      this.#handshakeDone(key);
      this.ctx.release(hs.address);
      // once node:tls has the socket, closing it reports tlsClientError, which counts it
      if (!hs.handedOver) this.ctx.metrics.connectionsRejected.inc('tls-handshake');
      this.ctx.log.info({ remote: hs.raw.remoteAddress }, 'TLS handshake not complete within the header timeout');
      hs.raw.destroy();
    }
  }

  /** A connection ready for SIP; `admitted`: counted for its address already (TLS, at accept). */
  #accept(socket: Socket, admitted = false): void {
    const ctx = this.ctx;
    const address = socket.remoteAddress ?? '';
    if (!admitted && !ctx.admit(address)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const flow = new StreamFlow(this, socket);
    (socket as FlowSocket)[FLOW] = flow;
    this.flows.add(flow);
    ctx.opened(flow);
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    // `on`, not `once`: 'close' is emitted once anyway, and once() costs a wrapper object and a
    // bound function per connection (≈0.2 KiB) for as long as the connection lives
    socket.on('close', onSocketClose);
  }

  /**
   * The idle timeout (no traffic either way for idleTimeoutMs) as one timer per listener:
   * every period the tick advances and flows silent for `limit` ticks are closed, so a
   * connection is closed between idleTimeoutMs and idleTimeoutMs + period after its last
   * traffic (period = idleTimeoutMs / 8, 100 ms to 30 s).
   */
  #startIdleSweep(): void {
    const idleMs = this.ctx.limits.idleTimeoutMs;
    if (idleMs <= 0) return;
    const period = Math.max(100, Math.min(30_000, Math.floor(idleMs / 8)));
    const limit = Math.ceil(idleMs / period);
    this.#sweep = setInterval(() => {
      this.tick++;
      for (const flow of this.flows) {
        if (this.tick - flow.lastActive >= limit) {
          this.ctx.metrics.connectionsRejected.inc('idle-timeout');
          flow.close('idle timeout');
        }
      }
    }, period);
    this.#sweep.unref();
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.#startIdleSweep();
    if (this.#tlsServer && this.ctx.limits.headerTimeoutMs > 0) {
      const period = Math.max(50, Math.min(1000, Math.floor(this.ctx.limits.headerTimeoutMs / 4)));
      this.#handshakeSweep = setInterval(() => this.#sweepHandshakes(), period);
      this.#handshakeSweep.unref();
    }
    const a = this.server.address();
    const bound = { host, port: a && typeof a === 'object' ? a.port : port };
    if (this.#advertise === undefined) this.#advertise = hostport(bound.host, bound.port);
    return bound;
  }

  async close(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    if (this.#handshakeSweep) clearInterval(this.#handshakeSweep);
    for (const hs of this.#handshakes.values()) hs.raw.destroy();
    for (const f of this.flows) f.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function hostport(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
