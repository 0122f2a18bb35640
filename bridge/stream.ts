/**
 * TCP and TLS front ends (RFC 3261 §18.3 stream framing, RFC 5626 keep-alives). One
 * StreamFlow per connection: its socket, its framer, nothing else, so an idle connection
 * costs the socket plus a few hundred bytes.
 *
 * TLS: 1.2 or later, certificate and key from files, optional client-certificate check
 * against a CA file; `reloadTls()` (wired to SIGHUP) reads the files again and swaps the
 * secure context with `server.setSecureContext`: new handshakes use the new certificate,
 * established connections keep theirs.
 */
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket, type Server as TlsServer } from 'node:tls';
import type { BridgeContext, PartialHolder } from './context.js';
import { BridgeError } from './errors.js';
import type { ListenerInfo, PhoneFlow, StreamTransport } from './flow.js';
import { StreamFramer } from './framer.js';

const CRLF = Buffer.from('\r\n');

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates; with verifyClient, a phone must present one it signed. */
  caFile?: string;
  verifyClient?: boolean;
}

class StreamFlow implements PhoneFlow, PartialHolder {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #framer: StreamFramer;

  constructor(
    readonly listener: ListenerInfo,
    readonly socket: Socket,
    readonly ctx: BridgeContext,
  ) {
    this.id = ctx.flows.newId();
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.#framer = new StreamFramer(
      {
        message: (msg) => ctx.relay.fromPhone(this, msg),
        ping: () => {
          ctx.metrics.keepAlives.inc(listener.transport);
          socket.write(CRLF);
        },
      },
      ctx.limits.maxMessageBytes,
    );
  }

  get partialSince(): number {
    return this.#framer.partialSince;
  }

  onData(chunk: Buffer): void {
    try {
      this.#framer.push(chunk);
    } catch (err) {
      const code = err instanceof BridgeError ? err.code : 'ERR_INTERNAL';
      this.ctx.metrics.framingErrors.inc(code);
      this.ctx.log.warn({ flow: this.id, transport: this.listener.transport, remote: `${this.remoteAddress}:${this.remotePort}`, code, msg: (err as Error).message }, 'broken stream: closing connection');
      this.socket.destroy();
      return;
    }
    if (this.#framer.partialSince) this.ctx.partial.add(this);
    else this.ctx.partial.delete(this);
  }

  send(parts: Buffer[]): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return false;
    if (s.writableLength > this.ctx.limits.maxWriteBufferBytes) {
      this.ctx.metrics.connectionsRejected.inc('write-buffer-full');
      this.close('phone does not read: write buffer full');
      return false;
    }
    if (parts.length === 1) s.write(parts[0]!);
    else {
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
    return true;
  }

  close(reason: string): void {
    this.ctx.log.info({ flow: this.id, remote: `${this.remoteAddress}:${this.remotePort}`, reason }, 'closing connection');
    this.socket.destroy();
  }
}

export class StreamListener {
  readonly server: Server | TlsServer;
  readonly info: ListenerInfo;
  readonly #ctx: BridgeContext;
  readonly #tls: TlsFiles | undefined;
  readonly #sockets = new Set<Socket>();
  #advertise: string | undefined;

  constructor(transport: Extract<StreamTransport, 'tcp' | 'tls'>, ctx: BridgeContext, opts: { advertise?: string; tls?: TlsFiles }) {
    this.#ctx = ctx;
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
      const srv = createTlsServer({ ...this.#secureOptions(), handshakeTimeout: ctx.limits.headerTimeoutMs });
      srv.on('secureConnection', (s: TLSSocket) => this.#accept(s));
      srv.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
        ctx.metrics.connectionsRejected.inc('tls-handshake');
        ctx.log.info({ remote: s.remoteAddress, code: err.code, msg: err.message }, 'TLS handshake failed');
      });
      this.server = srv;
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
        requestCert: verify,
        rejectUnauthorized: verify,
      };
    } catch (err) {
      throw new BridgeError('ERR_CONFIG', `cannot read TLS files: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Re-reads certificate, key and CA; established connections are untouched. */
  reloadTls(): void {
    if (!this.#tls) return;
    (this.server as TlsServer).setSecureContext(this.#secureOptions());
  }

  #accept(socket: Socket): void {
    const ctx = this.#ctx;
    const address = socket.remoteAddress ?? '';
    if (!ctx.admit(address)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (ctx.limits.idleTimeoutMs > 0) socket.setTimeout(ctx.limits.idleTimeoutMs);
    const flow = new StreamFlow(this.info, socket, ctx);
    this.#sockets.add(socket);
    ctx.opened(flow);
    socket.on('data', (chunk: Buffer) => flow.onData(chunk));
    socket.on('timeout', () => {
      ctx.metrics.connectionsRejected.inc('idle-timeout');
      flow.close('idle timeout');
    });
    socket.on('error', (err: Error & { code?: string }) => ctx.log.debug({ flow: flow.id, code: err.code }, 'socket error'));
    socket.once('close', () => {
      this.#sockets.delete(socket);
      ctx.partial.delete(flow);
      ctx.release(address);
      ctx.closed(flow);
    });
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address();
    const bound = { host, port: a && typeof a === 'object' ? a.port : port };
    if (this.#advertise === undefined) this.#advertise = hostport(bound.host, bound.port);
    return bound;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function hostport(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
