/**
 * Two transaction layers on one MemoryNetwork and one manual-clock wheel: a UAC at
 * 127.0.0.1:5070 and a UAS at 127.0.0.1:5060. `settle()` lets queued datagrams arrive;
 * `advance(ms)` moves the shared clock (and settles after).
 */
import { MemoryNetwork, type MemoryTransport } from '../../transport/index.js';
import { TransactionLayer } from '../layer.js';
import { TimerWheel } from '../wheel.js';

export interface Pair {
  net: MemoryNetwork;
  wheel: TimerWheel;
  uac: TransactionLayer;
  uas: TransactionLayer;
  uacTransport: MemoryTransport;
  uasTransport: MemoryTransport;
  settle(rounds?: number): Promise<void>;
  advance(ms: number): Promise<void>;
}

export function layerPair(): Pair {
  const net = new MemoryNetwork();
  const wheel = new TimerWheel({ clock: 'manual' });
  const uacTransport = net.transport('127.0.0.1', 5070);
  const uasTransport = net.transport('127.0.0.1', 5060);
  const uac = new TransactionLayer(uacTransport, { wheel });
  const uas = new TransactionLayer(uasTransport, { wheel });
  const settle = async (rounds = 6): Promise<void> => {
    for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
  };
  return {
    net,
    wheel,
    uac,
    uas,
    uacTransport,
    uasTransport,
    settle,
    async advance(ms) {
      // step tick by tick so retransmissions and their answers interleave as on a real clock
      const step = wheel.tickMs;
      for (let t = 0; t < ms; t += step) {
        wheel.advance(Math.min(step, ms - t));
        if (net.log.length) await settle(2);
      }
      await settle();
    },
  };
}
