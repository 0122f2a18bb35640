import test from 'ava';
import { AuthGuard, addressOf } from './auth-guard.js';

test('limit failures within the window block an address for blockS; then it is forgiven', (t) => {
  const g = new AuthGuard({ limit: 3, windowS: 10, blockS: 60 });
  t.false(g.failed('192.0.2.1', 0));
  t.false(g.failed('192.0.2.1', 1000));
  t.false(g.blocked('192.0.2.1', 1500));
  t.true(g.failed('192.0.2.1', 2000), 'the third failure starts the block');
  t.false(g.failed('192.0.2.1', 2500), 'a block starts once');
  t.true(g.blocked('192.0.2.1', 3000));
  t.false(g.blocked('192.0.2.2', 3000));
  t.is(g.blockedCount(3000), 1);
  t.true(g.blocked('192.0.2.1', 61_999));
  t.false(g.blocked('192.0.2.1', 62_000));
  t.deepEqual(g.counters, { blocksStarted: 1, refused: 2 });
});

test('failures further apart than the window do not add up; a success clears the count; limit 0 is off', (t) => {
  const g = new AuthGuard({ limit: 2, windowS: 10, blockS: 60 });
  t.false(g.failed('a', 0));
  t.false(g.failed('a', 10_001), 'the window had passed: counting starts again');
  g.succeeded('a');
  t.false(g.failed('a', 10_002));
  t.true(g.failed('a', 10_003));
  g.succeeded('a');
  t.true(g.blocked('a', 10_004), 'a success does not lift a block');
  const off = new AuthGuard({ limit: 0, windowS: 10, blockS: 60 });
  for (let i = 0; i < 100; i++) t.false(off.failed('a', i));
  t.false(off.blocked('a', 100));
});

test('memory is bounded: a flood of addresses keeps at most maxTracked, blocked ones outlive fresh failures', (t) => {
  const g = new AuthGuard({ limit: 1, windowS: 10, blockS: 60, maxTracked: 100 });
  for (let i = 0; i < 10_000; i++) g.failed(`10.0.${i >> 8}.${i & 255}`, 0);
  // every one of them was blocked at its first failure; the map holds the newest 100
  t.is(g.blockedCount(1), 100);
  t.true(g.blocked('10.0.39.15', 1), 'the last one');
  t.false(g.blocked('10.0.0.0', 1), 'the first ones made room');
});

test('addressOf: the address without the port, IPv6 without brackets', (t) => {
  t.is(addressOf('192.0.2.7:5060'), '192.0.2.7');
  t.is(addressOf('[2001:db8::7]:40000'), '2001:db8::7');
  t.is(addressOf('2001:db8::7'), '2001:db8::7');
  t.is(addressOf('192.0.2.7'), '192.0.2.7');
});
