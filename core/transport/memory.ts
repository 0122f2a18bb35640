/**
 * An in-memory transport with the UDP transport's interface, for transaction and dialog tests and
 * in-process benchmarks: datagrams are copied bytes, delivered through the same ingress path
 * (parse, checks, Via stamping), asynchronously (a macrotask, like a socket) unless `sync` is set.
 *
 * `MemoryNetwork` connects several transports by endpoint; a datagram to an endpoint nobody holds
 * is dropped (like UDP), and `loss` drops a share of all datagrams to exercise retransmissions.
 */
import { ingress, type IngressOptions, type IngressSink } from './ingress.js';
import { TransportError } from './errors.js';
import { hostForUri, newCounters, type Endpoint, type MessageHandler, type SendCallback, type Transport, type TransportCounters } from './types.js';

export interface SentDatagram {
  data: Buffer;
  from: Endpoint;
  to: Endpoint;
}

export class MemoryNetwork {
  private readonly nodes = new Map<string, MemoryTransport>();
  /** every datagram sent on this network, in order (bounded: `keep`). */
  readonly log: SentDatagram[] = [];
  /** share of datagrams dropped, 0..1; `random` decides (pass a seeded one for reproducible tests). */
  loss = 0;
  random: () => number = Math.random;
  /** deliver inside `send` (benchmarks) instead of on a later macrotask. */
  sync = false;
  constructor(public keep = 10_000) {}

  /** A transport bound to `address:port` (port 0: the next free one from 5060). */
  transport(address = '127.0.0.1', port = 0, opts: IngressOptions = {}): MemoryTransport {
    let p = port;
    if (p === 0) for (p = 5060; this.nodes.has(`${address}|${p}`); p++);
    const t = new MemoryTransport(this, { address, port: p }, opts);
    this.nodes.set(`${address}|${p}`, t);
    return t;
  }

  /** @internal */
  deliver(data: Buffer, from: Endpoint, to: Endpoint): void {
    if (this.keep > 0) {
      this.log.push({ data, from, to });
      if (this.log.length > this.keep) this.log.splice(0, this.log.length - this.keep);
    }
    if (this.loss > 0 && this.random() < this.loss) return;
    const node = this.nodes.get(`${to.address}|${to.port}`);
    if (!node) return;
    if (this.sync) node.receive(data, from);
    else setImmediate(() => node.receive(data, from));
  }

  /** @internal */
  remove(t: MemoryTransport): void {
    const e = t.endpoints[0]!;
    this.nodes.delete(`${e.address}|${e.port}`);
  }
}

export class MemoryTransport implements Transport {
  readonly counters: TransportCounters = newCounters();
  readonly endpoints: readonly Endpoint[];
  private readonly sink: IngressSink;
  private closed = false;

  constructor(
    private readonly net: MemoryNetwork,
    private readonly self: Endpoint,
    private readonly opts: IngressOptions = {},
  ) {
    this.endpoints = [self];
    this.sink = { counters: this.counters, handler: undefined, reply: (d, r) => this.send(d, r) };
  }

  onMessage(handler: MessageHandler): void {
    this.sink.handler = handler;
  }

  send(data: Uint8Array, remote: Endpoint, _local?: Endpoint, cb?: SendCallback): void {
    if (this.closed) {
      this.counters.sendErrors++;
      cb?.(new TransportError('ERR_TRANSPORT_SEND', 'transport closed'));
      return;
    }
    this.counters.datagramsOut++;
    this.counters.bytesOut += data.byteLength;
    // A copy: the sender may reuse its buffer, as it may with a real socket.
    this.net.deliver(Buffer.from(data), this.self, remote);
    cb?.(null);
  }

  /** Injects raw bytes as if `from` had sent them (malformed-input tests). */
  inject(data: Buffer | string, from: Endpoint): void {
    this.receive(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, from);
  }

  /** @internal */
  receive(data: Buffer, from: Endpoint): void {
    if (this.closed) return;
    ingress(this.sink, data, from, this.self, this.opts);
  }

  sentBy(): { host: string; port: number; local: Endpoint } {
    return { host: hostForUri(this.self.address), port: this.self.port, local: this.self };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.net.remove(this);
  }
}
