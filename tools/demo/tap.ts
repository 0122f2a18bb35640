/**
 * A tap on sipis's UDP transport for the demo's ladder: every datagram sipis receives and sends,
 * parsed, with the peer's address and the time. Received messages still go to the transaction
 * layer (`layer.receive`, its public entry point from the transport); sent ones are parsed from
 * the bytes that go to the socket, so the ladder shows what really crossed the wire, not what
 * the demo expected to happen. Only for the demo: it costs a parse per sent datagram.
 */
import { parseMessage, type SipMessage } from '../../core/sip/index.js';
import type { TransactionLayer } from '../../core/transaction/index.js';
import type { Endpoint, UdpTransport } from '../../core/transport/index.js';

export interface TapEvent {
  /** ms since epoch. */
  at: number;
  /** 'in': sipis received it; 'out': sipis sent it. */
  dir: 'in' | 'out';
  remote: Endpoint;
  msg: SipMessage;
}

export interface Tap {
  readonly events: TapEvent[];
  /** called for each event as it happens. */
  onEvent: ((ev: TapEvent) => void) | undefined;
  close(): void;
}

export function tapSipis(transport: UdpTransport, layer: TransactionLayer): Tap {
  const tap: Tap = {
    events: [],
    onEvent: undefined,
    close() {
      closed = true;
      transport.onMessage((msg, remote, local) => layer.receive(msg, remote, local));
      // the instance's own `send` shadows the prototype's; removing it restores the original
      delete (transport as { send?: unknown }).send;
    },
  };
  let closed = false;
  const record = (dir: 'in' | 'out', msg: SipMessage, remote: Endpoint): void => {
    if (closed) return;
    const ev: TapEvent = { at: Date.now(), dir, remote: { address: remote.address, port: remote.port }, msg };
    tap.events.push(ev);
    tap.onEvent?.(ev);
  };
  transport.onMessage((msg, remote, local) => {
    record('in', msg, remote);
    layer.receive(msg, remote, local);
  });
  const send = transport.send.bind(transport);
  transport.send = (data, remote, local, cb) => {
    let msg: SipMessage | undefined;
    try {
      // a copy: the sender may reuse its buffer once the datagram is handed to the kernel
      msg = parseMessage(Buffer.from(data));
    } catch {
      // not a SIP message (a keep-alive): not part of the ladder
    }
    if (msg) record('out', msg, remote);
    send(data, remote, local, cb);
  };
  return tap;
}
