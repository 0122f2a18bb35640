/**
 * WebSocket front end (RFC 7118: SIP over WebSocket, subprotocol `sip`), plain and TLS, on
 * uWebSockets.js (`App` / `SSLApp` with key_file_name / cert_file_name). Each WebSocket
 * message carries exactly one SIP message (RFC 7118 §5.1), so there is no stream framing;
 * uWS enforces the size limit (maxPayloadLength) and the idle timeout itself.
 *
 * Limits of this uWS build: it does not expose the peer's port (the flow's source port is
 * reported as 0), and the WSS certificate is read once at start (no SIGHUP reload: restart
 * the bridge, or put the TLS listener in front of phones that need hot rotation).
 */
import { isUtf8 } from 'node:buffer';
import uWS from 'uWebSockets.js';
import { listenExclusive } from '../core/uws-listen.js';
import type { BridgeContext } from './context.js';
import { BridgeError } from './errors.js';
import type { ListenerInfo, PhoneFlow } from './flow.js';
import { hostport, type TlsFiles } from './stream.js';

interface WsUserData {
  address: string;
  flow?: WsFlow;
}

class WsFlow implements PhoneFlow {
  readonly id: string;
  readonly remotePort = 0;
  closed = false;

  constructor(
    readonly listener: ListenerInfo,
    readonly ws: uWS.WebSocket<WsUserData>,
    readonly remoteAddress: string,
    readonly ctx: BridgeContext,
  ) {
    this.id = ctx.flows.newId();
  }

  send(parts: Buffer[]): boolean {
    if (this.closed) return false;
    const msg = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    // RFC 7118 §5.1: a text frame for a message that is UTF-8 (nearly all are), a binary frame
    // otherwise (a latin1 display name, a binary body): a text frame must be valid UTF-8 (RFC
    // 6455 §8.1), and a browser fails the whole connection with 1007 on one that is not
    const status = this.ws.send(msg, !isUtf8(msg));
    if (status === 2) {
      this.ctx.metrics.connectionsRejected.inc('write-buffer-full');
      this.close('phone does not read: backpressure limit');
      return false;
    }
    return true;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.ctx.log.info({ flow: this.id, remote: this.remoteAddress, reason }, 'closing WebSocket');
    this.ws.end(1008, reason.slice(0, 100));
  }
}

/** uWebSockets.js's close message when a message exceeded maxPayloadLength. */
const TOO_BIG = 'Received too big message';

function hasSipSubprotocol(header: string): boolean {
  return header.split(',').some((p) => p.trim().toLowerCase() === 'sip');
}

export class WsListener {
  readonly info: ListenerInfo;
  readonly #app: uWS.TemplatedApp;
  readonly #ctx: BridgeContext;
  readonly #open = new Set<WsFlow>();
  #token: uWS.us_listen_socket | undefined;
  #advertise: string | undefined;

  constructor(secure: boolean, ctx: BridgeContext, opts: { advertise?: string; tls?: TlsFiles; origins?: readonly string[] }) {
    this.#ctx = ctx;
    this.#advertise = opts.advertise;
    const self = this;
    this.info = {
      transport: secure ? 'wss' : 'ws',
      viaTransport: secure ? 'WSS' : 'WS',
      get advertise() {
        return self.#advertise ?? '';
      },
    };
    if (secure) {
      if (!opts.tls) throw new BridgeError('ERR_CONFIG', 'the WSS listener needs a certificate and a key');
      this.#app = uWS.SSLApp({
        cert_file_name: opts.tls.certFile,
        key_file_name: opts.tls.keyFile,
        ...(opts.tls.caFile ? { ca_file_name: opts.tls.caFile } : {}),
        ssl_prefer_low_memory_usage: true,
      });
    } else this.#app = uWS.App();
    const origins = new Set(opts.origins ?? []);
    // uWS: idleTimeout in seconds, 0 or at least 8
    const idle = ctx.limits.idleTimeoutMs > 0 ? Math.max(8, Math.round(ctx.limits.idleTimeoutMs / 1000)) : 0;
    this.#app.ws<WsUserData>('/*', {
      maxPayloadLength: ctx.limits.maxMessageBytes,
      idleTimeout: idle,
      maxBackpressure: ctx.limits.maxWriteBufferBytes,
      compression: uWS.DISABLED,
      upgrade: (res, req, context) => {
        const protocols = req.getHeader('sec-websocket-protocol');
        const address = Buffer.from(res.getRemoteAddressAsText()).toString();
        // RFC 6455 §10.2: a browser names the page's origin; only the configured ones may use
        // the phones' accounts from a browser (a native client sends no Origin)
        const origin = req.getHeader('origin');
        if (origins.size > 0 && origin !== '' && !origins.has(origin.toLowerCase())) {
          ctx.metrics.connectionsRejected.inc('ws-origin');
          res.writeStatus('403 Forbidden').end('WebSocket Origin not allowed', true);
          return;
        }
        if (!hasSipSubprotocol(protocols)) {
          ctx.metrics.connectionsRejected.inc('ws-no-sip-subprotocol');
          res.writeStatus('400 Bad Request').end('WebSocket subprotocol "sip" required (RFC 7118)', true);
          return;
        }
        if (!ctx.admit(address)) {
          res.writeStatus('503 Service Unavailable').end('too many connections from this address', true);
          return;
        }
        res.upgrade<WsUserData>({ address }, req.getHeader('sec-websocket-key'), 'sip', req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => {
        const data = ws.getUserData();
        const flow = new WsFlow(this.info, ws, data.address, ctx);
        data.flow = flow;
        this.#open.add(flow);
        ctx.opened(flow);
      },
      message: (ws, message) => {
        const flow = ws.getUserData().flow!;
        // the ArrayBuffer is neutered when this handler returns: copy once, the relay keeps views
        const buf = Buffer.from(new Uint8Array(message));
        if (isKeepAlive(buf)) {
          if (buf.length >= 4) {
            ctx.metrics.keepAlives.inc(this.info.transport);
            ws.send('\r\n', false);
          }
          return;
        }
        ctx.relay.fromPhone(flow, buf);
      },
      close: (ws, code, message) => {
        ctx.log.debug({ code }, 'WebSocket closed');
        const data = ws.getUserData();
        const flow = data.flow;
        ctx.release(data.address);
        if (!flow) return;
        flow.closed = true;
        this.#open.delete(flow);
        ctx.closed(flow);
        // over maxPayloadLength uWS drops the connection itself: 1006 with this text, not 1009
        if (code === 1009 || (code === 1006 && Buffer.from(message).toString() === TOO_BIG)) {
          ctx.metrics.framingErrors.inc('ERR_FRAME_MESSAGE_TOO_LARGE');
          ctx.log.warn({ flow: flow.id, remote: flow.remoteAddress }, 'WebSocket message over the size limit: connection closed');
        }
      },
    });
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const token = await listenExclusive(this.#app, host, port);
    if (!token) throw new BridgeError('ERR_LISTEN', `cannot listen on ${hostport(host, port)} for ${this.info.transport} (address in use?)`);
    this.#token = token;
    const bound = { host, port: uWS.us_socket_local_port(token as unknown as uWS.us_socket) };
    if (this.#advertise === undefined) this.#advertise = hostport(host, bound.port);
    return bound;
  }

  async close(): Promise<void> {
    if (this.#token) uWS.us_listen_socket_close(this.#token);
    this.#token = undefined;
    for (const f of [...this.#open]) {
      f.closed = true;
      f.ws.close();
    }
  }
}

/** A message of only CR/LF bytes: an RFC 5626-style keep-alive some WebSocket clients send. */
function isKeepAlive(buf: Buffer): boolean {
  if (buf.length === 0 || buf.length > 4) return buf.length === 0;
  for (const b of buf) if (b !== 13 && b !== 10) return false;
  return true;
}
