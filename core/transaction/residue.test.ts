import test from 'ava';
import { parseMessage } from '../sip/index.js';
import { MemoryNetwork } from '../transport/index.js';
import { TransactionLayer } from './layer.js';
import { TimerWheel } from './wheel.js';
import { rawRequest, testRequest } from './testing/messages.js';

test('100k finished server transactions (and 20k client ones) leave no residue: maps and wheel empty', (t) => {
  const net = new MemoryNetwork(0);
  net.sync = true;
  const wheel = new TimerWheel({ clock: 'manual' });
  const uasT = net.transport('127.0.0.1', 5060);
  const uacT = net.transport('127.0.0.1', 5070);
  const uas = new TransactionLayer(uasT, { wheel });
  const uac = new TransactionLayer(uacT, { wheel });
  let n = 0;
  uas.onRequest((tx, req) => {
    n++;
    if (req.method === 'INVITE') tx.reply(n % 2 ? 486 : 200);
    else tx.reply(200);
  });
  const local = { address: '127.0.0.1', port: 5060 };
  const remote = { address: '127.0.0.1', port: 5999 }; // nobody there: answers are dropped
  for (let i = 0; i < 100_000; i++) {
    const via = `SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKr${i}`;
    const method = i % 4 === 0 ? 'INVITE' : 'OPTIONS';
    uas.receive(parseMessage(Buffer.from(rawRequest(method, via, '', 1, `c${i}`))), remote, local);
    if (method === 'INVITE' && i % 8 === 0) {
      // the odd ones got 486: ACK them (same branch); the 2xx ones get no ACK and sit in Accepted
      uas.receive(parseMessage(Buffer.from(rawRequest('ACK', via, '', 1, `c${i}`))), remote, local);
    }
  }
  t.is(uas.servers.size, 100_000);
  let answered = 0;
  for (let i = 0; i < 20_000; i++) {
    uac.sendRequest(testRequest({ method: i % 2 ? 'OPTIONS' : 'INVITE' }), { onResponse: (r) => r.status >= 200 && answered++ }, { target: local });
  }
  t.is(answered, 20_000);
  t.true(wheel.size > 0);
  wheel.drain();
  t.is(uas.servers.size, 0);
  t.is(uac.clients.size, 0);
  t.is(uas.servers.size + uac.clients.size, 0);
  t.is(wheel.size, 0);
  t.is(uas.counters.serverCreated, 120_000);
});

test('timer wheel: ordering, cancel, reschedule, idle gaps and a throwing callback', (t) => {
  const w = new TimerWheel({ clock: 'manual', tickMs: 10, slots: 8 });
  const fired: string[] = [];
  w.schedule(25, () => fired.push('a'));
  const b = w.schedule(100, () => fired.push('b'));
  w.schedule(1000, () => fired.push('c')); // several revolutions of an 8-slot wheel
  const d = w.schedule(50, () => fired.push('d'));
  w.cancel(d);
  w.advance(20);
  t.deepEqual(fired, []);
  w.advance(10);
  t.deepEqual(fired, ['a']);
  w.reschedule(b, 10);
  w.advance(10);
  t.deepEqual(fired, ['a', 'b']);
  w.advance(900);
  t.deepEqual(fired, ['a', 'b']);
  w.advance(100);
  t.deepEqual(fired, ['a', 'b', 'c']);
  t.is(w.size, 0);
  // after an idle hour a new timer fires on time
  w.advance(3_600_000);
  w.schedule(10, () => fired.push('e'));
  w.advance(10);
  t.deepEqual(fired.at(-1), 'e');
  t.throws(() => new TimerWheel().advance(1));
});
