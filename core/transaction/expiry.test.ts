/**
 * ExpiryQueue (per-tick batches instead of a timer per item), ChurnMap (a Map whose hash table is
 * renewed), and what a terminated transaction still answers.
 */
import test from 'ava';
import { ChurnMap } from './churn-map.js';
import { ExpiryQueue } from './expiry.js';
import { TransactionError } from './errors.js';
import { layerPair } from './testing/harness.js';
import { testRequest } from './testing/messages.js';
import { TimerWheel } from './wheel.js';

test('ExpiryQueue: an item comes due exactly when a wheel timer of the same delay fires, one wheel timer per tick', (t) => {
  const wheel = new TimerWheel({ clock: 'manual' });
  const seen: string[] = [];
  const q = new ExpiryQueue<string>(wheel, (s) => seen.push(`${s}@${wheel.now()}`));
  const timerFired: number[] = [];
  wheel.schedule(95, () => timerFired.push(wheel.now()));
  q.add('a', 95);
  q.add('b', 100); // same tick as a (10 ms ticks, rounded up)
  q.add('c', 200);
  t.is(q.size, 3);
  t.is(wheel.size, 3, 'the timer above, and one per tick for a+b and for c');
  wheel.advance(90);
  t.deepEqual(seen, []);
  wheel.advance(10);
  t.deepEqual(timerFired, [100]);
  t.deepEqual(seen, ['a@100', 'b@100']);
  wheel.advance(100);
  t.deepEqual(seen, ['a@100', 'b@100', 'c@200']);
  t.is(q.size, 0);
  t.is(wheel.size, 0);
});

test('ExpiryQueue with slack: items share one batch per slack window, never early, at most the slack late', (t) => {
  const wheel = new TimerWheel({ clock: 'manual' });
  const due = new Map<string, number>();
  const q = new ExpiryQueue<string>(wheel, (s) => due.set(s, wheel.now()));
  wheel.advance(30);
  // added at 30 ms with 1 s of slack: 1030 and 1500 share the batch at 2000, 2030 goes to 3000
  q.add('a', 1000, 1000);
  q.add('b', 1470, 1000);
  q.add('c', 2000, 1000);
  q.add('exact', 1000);
  t.is(wheel.size, 3, 'one wheel timer per slack window, one for the exact item');
  for (let i = 0; i < 500; i++) wheel.advance(10);
  t.deepEqual(Object.fromEntries(due), { exact: 1030, a: 2000, b: 2000, c: 3000 });
  for (const [name, delay] of [['a', 1000], ['b', 1470], ['c', 2000]] as const) {
    t.true(due.get(name)! >= 30 + delay, `${name} not early`);
    t.true(due.get(name)! <= 30 + delay + 1000, `${name} at most the slack late`);
  }
});

test('ExpiryQueue: a throwing item does not stop the others of its tick; clear() drops everything', (t) => {
  const wheel = new TimerWheel({ clock: 'manual' });
  const seen: number[] = [];
  const errors: unknown[] = [];
  const q = new ExpiryQueue<number>(
    wheel,
    (n) => {
      if (n === 1) throw new Error('boom');
      seen.push(n);
    },
    (err) => errors.push(err),
  );
  q.add(1, 10);
  q.add(2, 10);
  wheel.advance(10);
  t.deepEqual(seen, [2]);
  t.is((errors[0] as Error).message, 'boom');
  q.add(3, 50);
  q.clear();
  wheel.advance(100);
  t.deepEqual(seen, [2]);
  t.is(q.size, 0);
});

test('ChurnMap: a Map through many renewals (entries, order, iteration and deletes stay right)', (t) => {
  const m = new ChurnMap<number, string>();
  const ref = new Map<number, string>();
  for (let i = 0; i < 10_000; i++) {
    m.set(i, `v${i}`);
    ref.set(i, `v${i}`);
    if (i >= 20) {
      t.true(m.delete(i - 20));
      ref.delete(i - 20);
    }
  }
  t.false(m.delete(-1), 'deleting a missing key');
  t.is(m.size, 20);
  t.deepEqual([...m], [...ref]);
  t.deepEqual([...m.keys()], [...ref.keys()]);
  t.deepEqual([...m.values()], [...ref.values()]);
  t.is(m.get(9_999), 'v9999');
  t.true(m.has(9_980));
  t.false(m.has(9_979));
  const seen: number[] = [];
  m.forEach((_v, k, map) => {
    seen.push(k);
    t.is(map, m);
  });
  t.is(seen.length, 20);
  t.is(String(m), '[object ChurnMap]');
  m.clear();
  t.is(m.size, 0);
});

test('a terminated transaction lets go of its kept bytes: its request is a typed ERR_TX_STATE', async (t) => {
  const p = layerPair();
  let stx: import('./server.js').ServerTransaction | undefined;
  p.uas.onRequest((tx) => {
    stx = tx;
    tx.reply(200);
  });
  const ctx = p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: () => undefined }, { target: { address: '127.0.0.1', port: 5060 } });
  await p.settle();
  t.is(stx!.request.method, 'OPTIONS', 'lingering (Timer J): re-parsed from its bytes');
  t.is(ctx.request.method, 'OPTIONS', 'lingering (Timer K)');
  await p.advance(p.uas.timers.J + 20);
  t.is(stx!.state, 'Terminated');
  t.is(ctx.state, 'Terminated');
  const e1 = t.throws(() => stx!.request);
  t.true(e1 instanceof TransactionError);
  t.is((e1 as TransactionError).code, 'ERR_TX_STATE');
  t.is((t.throws(() => ctx.request) as TransactionError).code, 'ERR_TX_STATE');
});
