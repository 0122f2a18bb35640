/**
 * UDP transport over `node:dgram`: any number of IPv4 and IPv6 listen addresses, one socket each.
 *
 * Requests leave from the first socket of the destination's family (or the one named), responses
 * from the socket the request arrived on (§18.2.2: the client's NAT binding and `rport` point
 * there). Sockets are unconnected, so an ICMP port-unreachable is invisible to Node (Linux reports
 * it only on connected sockets or with IP_RECVERR, which Node does not expose): a dead target is
 * noticed by the transaction's timeout, and RFC 3263 failover happens on that timeout. Errors the
 * kernel reports synchronously at send time (EHOSTUNREACH, ENETUNREACH, EMSGSIZE) reach the
 * send callback and fail the transaction at once.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { TransportError } from './errors.js';
import { ingress, type IngressOptions, type IngressSink } from './ingress.js';
import { hostForUri, ipFamily, newCounters, type Endpoint, type MessageHandler, type SendCallback, type Transport, type TransportCounters } from './types.js';

export interface UdpListen {
  /** IP literal to bind ('0.0.0.0', '::', '127.0.0.1', '::1'). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * The address put in Via sent-by (and, by upper layers, in Contact) for requests from this
   * socket: needed when binding a wildcard address. Defaults to the bound address.
   */
  advertise?: string;
  advertisePort?: number;
}

export interface UdpTransportOptions extends IngressOptions {
  listen: UdpListen[];
  /** SO_RCVBUF / SO_SNDBUF in bytes; the kernel may double or cap them (net.core.rmem_max). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /**
   * Called once each datagram has been handled synchronously (parsed, passed up, and whatever it
   * caused handed to the kernel), with `performance.now()` taken when it reached JavaScript: how
   * long sipis held it. For benchmarks; when unset the receive path has no extra work.
   */
  onHandled?: (arrivedAt: number) => void;
}

interface Bound {
  socket: Socket;
  family: 4 | 6;
  endpoint: Endpoint;
  sentByHost: string;
  sentByPort: number;
}

export class UdpTransport implements Transport {
  readonly counters: TransportCounters = newCounters();
  private readonly bound: Bound[] = [];
  private readonly sink: IngressSink;
  private closed = false;

  private constructor(private readonly opts: UdpTransportOptions) {
    this.sink = {
      counters: this.counters,
      handler: undefined,
      reply: (data, remote, local) => this.send(data, remote, local),
    };
  }

  /** Binds every listen address; rejects with ERR_TRANSPORT_BIND (and closes what was bound). */
  static async listen(opts: UdpTransportOptions): Promise<UdpTransport> {
    if (opts.listen.length === 0) throw new TransportError('ERR_TRANSPORT_BIND', 'no listen address');
    const t = new UdpTransport(opts);
    try {
      for (const l of opts.listen) await t.bind(l);
    } catch (err) {
      await t.close();
      throw err;
    }
    return t;
  }

  get endpoints(): readonly Endpoint[] {
    return this.bound.map((b) => b.endpoint);
  }

  /** The kernel's actual buffer sizes, per socket (for diagnostics and tests). */
  bufferSizes(): Array<{ recv: number; send: number }> {
    return this.bound.map((b) => ({ recv: b.socket.getRecvBufferSize(), send: b.socket.getSendBufferSize() }));
  }

  onMessage(handler: MessageHandler): void {
    this.sink.handler = handler;
  }

  send(data: Uint8Array, remote: Endpoint, local?: Endpoint, cb?: SendCallback): void {
    const b = this.pick(remote, local);
    if (!b) {
      this.counters.sendErrors++;
      const err = new TransportError('ERR_TRANSPORT_NO_SOCKET', `no UDP socket for ${remote.address}`);
      if (cb) queueMicrotask(() => cb(err));
      return;
    }
    this.counters.datagramsOut++;
    this.counters.bytesOut += data.byteLength;
    b.socket.send(data, remote.port, remote.address, (err) => {
      if (err) {
        this.counters.sendErrors++;
        if (cb) cb(new TransportError('ERR_TRANSPORT_SEND', `send to ${remote.address}:${remote.port} failed: ${err.message}`, { cause: err }));
      } else if (cb) cb(null);
    });
  }

  sentBy(remote: Endpoint, local?: Endpoint): { host: string; port: number; local: Endpoint } {
    const b = this.pick(remote, local);
    if (!b) throw new TransportError('ERR_TRANSPORT_NO_SOCKET', `no UDP socket for ${remote.address}`);
    return { host: b.sentByHost, port: b.sentByPort, local: b.endpoint };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.bound.map((b) => new Promise<void>((resolve) => b.socket.close(() => resolve()))));
    this.bound.length = 0;
  }

  private pick(remote: Endpoint, local?: Endpoint): Bound | undefined {
    const bound = this.bound;
    if (local) {
      for (let i = 0; i < bound.length; i++) {
        const b = bound[i]!;
        if (b.endpoint.port === local.port && b.endpoint.address === local.address) return b;
      }
    }
    const fam = remote.address.includes(':') ? 6 : 4;
    for (let i = 0; i < bound.length; i++) if (bound[i]!.family === fam) return bound[i];
    return undefined;
  }

  private bind(l: UdpListen): Promise<void> {
    const fam = ipFamily(l.host);
    if (fam === 0) return Promise.reject(new TransportError('ERR_TRANSPORT_BIND', `listen host must be an IP literal: ${l.host}`));
    return new Promise((resolve, reject) => {
      // ipv6Only: a '::' socket must not also take IPv4 (mapped addresses would confuse rport/received).
      const socket = createSocket({
        type: fam === 6 ? 'udp6' : 'udp4',
        ipv6Only: fam === 6,
        lookup: literalLookup,
        recvBufferSize: this.opts.recvBufferSize,
        sendBufferSize: this.opts.sendBufferSize,
      });
      const onError = (err: Error): void => {
        socket.close();
        reject(new TransportError('ERR_TRANSPORT_BIND', `cannot bind udp ${l.host}:${l.port}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.bind(l.port, l.host, () => {
        socket.off('error', onError);
        const a = socket.address();
        const endpoint = { address: a.address, port: a.port };
        const entry: Bound = {
          socket,
          family: fam,
          endpoint,
          sentByHost: hostForUri(l.advertise ?? a.address),
          sentByPort: l.advertisePort ?? a.port,
        };
        this.bound.push(entry);
        // Runtime socket errors (rare on UDP: e.g. ENOBUFS) are counted, never thrown.
        socket.on('error', () => {
          this.counters.sendErrors++;
        });
        const onHandled = this.opts.onHandled;
        if (onHandled) {
          socket.on('message', (data, rinfo) => {
            const t = performance.now();
            ingress(this.sink, data, { address: rinfo.address, port: rinfo.port }, endpoint, this.opts);
            onHandled(t);
          });
        } else {
          socket.on('message', (data, rinfo) => {
            ingress(this.sink, data, { address: rinfo.address, port: rinfo.port }, endpoint, this.opts);
          });
        }
        resolve();
      });
    });
  }
}

/**
 * dgram resolves every destination with dns.lookup, even an IP literal, which costs a trip
 * through the lookup machinery per datagram. This transport only ever sends to addresses the
 * RFC 3263 resolver already produced, so literals are answered at once; anything else still
 * goes to dns.lookup.
 */
function literalLookup(host: string, family: unknown, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const fam = ipFamily(host);
  if (fam !== 0) cb(null, host, fam);
  else dnsLookup(host, { family: family === 6 ? 6 : 4 }, cb);
}
