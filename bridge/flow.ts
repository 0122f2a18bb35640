/**
 * Flows (RFC 5626 §3.2): one phone connection, named by a flow token the bridge hands to
 * sipis in Path / Record-Route URIs and in its own Via branches. The token is
 * `<counter base36>x<process epoch>`: unique for the life of this bridge process, never
 * reused, and meaningless to any other bridge process (a token from before a bridge restart
 * finds no flow and gets 430 Flow Failed, RFC 5626 §5.3). sipis stores tokens opaquely,
 * so a sipis restart changes nothing here.
 */
import { randomBytes } from 'node:crypto';

export type StreamTransport = 'tcp' | 'tls' | 'ws' | 'wss';

/** What the relay needs to know about the listener a flow came in on. */
export interface ListenerInfo {
  readonly transport: StreamTransport;
  /** Via transport token (RFC 3261 §20.42, RFC 7118 §5.2): TCP, TLS, WS, WSS. */
  readonly viaTransport: 'TCP' | 'TLS' | 'WS' | 'WSS';
  /** host:port phones reach this listener at (IPv6 in brackets). */
  readonly advertise: string;
}

export interface PhoneFlow {
  readonly id: string;
  readonly listener: ListenerInfo;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** writes one whole message (the parts in order); false when the flow is gone or choked. */
  send(parts: Buffer[]): boolean;
  close(reason: string): void;
}

export class FlowTable {
  readonly #flows = new Map<string, PhoneFlow>();
  readonly #epoch = parseInt(randomBytes(4).toString('hex'), 16).toString(36);
  #next = 0;

  /**
   * A flow token: unique (a counter, and this process's epoch), and not guessable (48 random
   * bits). A phone sees only its own tokens; one that put another flow's token into the
   * Record-Route of its 2xx would have sipis send that dialog's requests down the other phone's
   * connection, and a lookup by exact token is the whole check (RFC 5626 §5.2 wants tokens a
   * UA cannot forge; an HMAC would serve too, random bits need no key).
   */
  newId(): string {
    return `${(++this.#next).toString(36)}x${this.#epoch}${randomBytes(6).readUIntBE(0, 6).toString(36).padStart(10, '0')}`;
  }

  add(flow: PhoneFlow): void {
    this.#flows.set(flow.id, flow);
  }

  delete(flow: PhoneFlow): void {
    if (this.#flows.get(flow.id) === flow) this.#flows.delete(flow.id);
  }

  get(id: string): PhoneFlow | undefined {
    return this.#flows.get(id);
  }

  get size(): number {
    return this.#flows.size;
  }

  values(): IterableIterator<PhoneFlow> {
    return this.#flows.values();
  }
}
