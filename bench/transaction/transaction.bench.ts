/**
 * In-process transaction layer costs over the MemoryTransport (no sockets), each row one
 * transaction from its first datagram (already parsed) to its final response:
 * - NIST OPTIONS → 200, and a retransmission matched and answered from the transaction;
 * - IST INVITE → 180 → 200 plus the ACK for 2xx, and INVITE → 486 plus its ACK;
 * - the parse of the same OPTIONS datagram as the baseline the ratios are taken against.
 * Then the timer wheel against native setTimeout for 100k timers (schedule + cancel), and the
 * heap cost of one live server transaction (100k live NISTs in Completed, waiting for Timer J).
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { parseMessage, type SipMessage } from '../../core/sip/index.js';
import { MemoryNetwork } from '../../core/transport/index.js';
import { TimerWheel, TransactionLayer } from '../../core/transaction/index.js';
import { rawRequest } from '../../core/transaction/testing/messages.js';
import { runMicro, withRatios, type BenchOptions, type BenchRow, type BenchSuite } from '../lib.js';

const REMOTE = { address: '127.0.0.1', port: 5999 };
const LOCAL = { address: '127.0.0.1', port: 5060 };
const POOL = 4096;
const DRAIN_EVERY = 1024;

function setup(): { layer: TransactionLayer; wheel: TimerWheel } {
  const net = new MemoryNetwork(0); // keeps no log; answers go to an endpoint nobody holds
  net.sync = true;
  const wheel = new TimerWheel({ clock: 'manual' });
  const layer = new TransactionLayer(net.transport('127.0.0.1', 5060), { wheel });
  return { layer, wheel };
}

function pool(method: string, tag: string): SipMessage[] {
  const out: SipMessage[] = [];
  for (let i = 0; i < POOL; i++) out.push(parseMessage(Buffer.from(rawRequest(method, `SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK${tag}${i}`, '', 1, `${tag}${i}@bench`))));
  return out;
}

/** Cycles through a pool; every DRAIN_EVERY transactions the wheel runs out so keys are free again. */
function cycler(msgs: SipMessage[], wheel: TimerWheel, each: (m: SipMessage, i: number) => void): () => void {
  let i = 0;
  return () => {
    each(msgs[i % POOL]!, i % POOL);
    if (++i % DRAIN_EVERY === 0) wheel.drain();
  };
}

function gcFn(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

function heapPerLiveTransaction(n: number): number {
  const gc = gcFn();
  const { layer, wheel } = setup();
  layer.onRequest((tx) => tx.reply(200));
  const msgs: Buffer[] = [];
  for (let i = 0; i < n; i++) msgs.push(Buffer.from(rawRequest('OPTIONS', `SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKmem${i}`, '', 1, `m${i}@bench`)));
  gc?.();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  // parsed one by one: the request each transaction keeps is counted, the datagram array is not
  for (let i = 0; i < n; i++) layer.receive(parseMessage(msgs[i]!), REMOTE, LOCAL);
  gc?.();
  gc?.();
  const after = process.memoryUsage().heapUsed;
  if (layer.servers.size !== n) throw new Error('transactions missing');
  // what the messages alone cost (request + its serialized 200), to report the layer's own share
  const own = (after - before) / n;
  wheel.drain();
  return own;
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const batch = opts.quick ? 256 : 1024;
  const rows: BenchRow[] = [];

  // --- transactions ---
  const opt = setup();
  opt.layer.onRequest((tx) => tx.reply(200));
  const optMsgs = pool('OPTIONS', 'o');
  const optRaw = optMsgs[0]!.raw;

  const ret = setup();
  ret.layer.onRequest((tx) => tx.reply(200));
  const retMsg = parseMessage(Buffer.from(rawRequest('OPTIONS', 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKret', '', 1, 'ret@bench')));
  ret.layer.receive(retMsg, REMOTE, LOCAL);

  const inv = setup();
  inv.layer.onRequest((tx) => {
    tx.reply(180);
    tx.reply(200, 'OK', { headers: [['Contact', '<sip:b@127.0.0.1:5060>']] });
  });
  inv.layer.onAck(() => {});
  const invMsgs = pool('INVITE', 'i');
  const ackMsgs = invMsgs.map((m, i) => parseMessage(Buffer.from(rawRequest('ACK', `SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa${i}`, '', 1, m.callId, 'ft1', 'tt'))));

  const busy = setup();
  busy.layer.onRequest((tx) => tx.reply(486));
  const busyMsgs = pool('INVITE', 'b');
  const busyAcks = busyMsgs.map((m) => parseMessage(Buffer.from(rawRequest('ACK', m.via[0]!.raw, '', 1, m.callId))));

  rows.push(
    ...withRatios(
      await runMicro(
        'transaction',
        [
          { name: 'parse OPTIONS (baseline)', fn: () => parseMessage(optRaw), batch },
          { name: 'NIST OPTIONS→200', fn: cycler(optMsgs, opt.wheel, (m) => opt.layer.receive(m, REMOTE, LOCAL)), batch },
          { name: 'NIST retransmission matched', fn: () => ret.layer.receive(retMsg, REMOTE, LOCAL), batch },
          {
            name: 'IST INVITE→180→200 + ACK',
            fn: cycler(invMsgs, inv.wheel, (m, i) => {
              inv.layer.receive(m, REMOTE, LOCAL);
              inv.layer.receive(ackMsgs[i]!, REMOTE, LOCAL);
            }),
            batch,
          },
          {
            name: 'IST INVITE→486 + ACK',
            fn: cycler(busyMsgs, busy.wheel, (m, i) => {
              busy.layer.receive(m, REMOTE, LOCAL);
              busy.layer.receive(busyAcks[i]!, REMOTE, LOCAL);
            }),
            batch,
          },
        ],
        opts,
      ),
      'parse OPTIONS (baseline)',
    ),
  );

  // --- timers: 100k pending timers, schedule then cancel all ---
  // Timed by hand (median of a few rounds): one round takes tens of ms, and tinybench's
  // fixed warm-up iterations would make the quick mode take many seconds.
  const N = 100_000;
  const wheel = new TimerWheel();
  const handles = new Array<unknown>(N);
  const noop = (): void => {};
  const rounds = opts.quick ? 3 : 15;
  const timed = (name: string, fn: () => void): BenchRow => {
    fn(); // warm-up round
    const ns: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      fn();
      ns.push(Number(process.hrtime.bigint() - t0) / N);
    }
    ns.sort((x, y) => x - y);
    const medianNs = ns[Math.floor(ns.length / 2)]!;
    return { suite: 'transaction', name, medianNs, opsPerSec: 1e9 / medianNs, samples: rounds };
  };
  const timerRows = [
    timed('setTimeout+clearTimeout (100k pending)', () => {
      for (let i = 0; i < N; i++) handles[i] = setTimeout(noop, 32_000);
      for (let i = 0; i < N; i++) clearTimeout(handles[i] as NodeJS.Timeout);
    }),
    timed('wheel schedule+cancel (100k pending)', () => {
      for (let i = 0; i < N; i++) handles[i] = wheel.schedule(32_000, noop);
      for (let i = 0; i < N; i++) wheel.cancel(handles[i] as ReturnType<TimerWheel['schedule']>);
    }),
  ];
  rows.push(...withRatios(timerRows, 'setTimeout+clearTimeout (100k pending)'));

  const live = opts.quick ? 20_000 : 100_000;
  const perTx = heapPerLiveTransaction(live);
  rows.push({
    suite: 'transaction',
    name: `heap per live NIST (${live / 1000}k live)`,
    medianNs: 0,
    opsPerSec: 0,
    samples: 1,
    extra: { bytesPerTx: Math.round(perTx) },
  });
  return rows;
}

const suite: BenchSuite = { name: 'transaction', run };
export default suite;
