import test from 'ava';
import { NonceCounts } from './nonce-counts.js';

test('per nonce and user the count must grow; another nonce or user counts on its own; no qop means once', (t) => {
  const n = new NonceCounts(300_000);
  t.true(n.fresh('u', 'a', 1, 0, 10));
  t.false(n.fresh('u', 'a', 1, 0, 11), 'the same nc again');
  t.true(n.fresh('u', 'a', 2, 0, 12));
  t.false(n.fresh('u', 'a', 2, 0, 13));
  t.true(n.fresh('u', 'a', 7, 0, 14), 'gaps are fine (a client may skip counts)');
  t.false(n.fresh('u', 'a', 3, 0, 15), 'but never back');
  t.true(n.fresh('u', 'b', 1, 0, 16));
  t.true(n.fresh('v', 'a', 1, 0, 16), 'another user answering with the same nonce (lines of one device)');
  t.true(n.fresh('u', 'c', undefined, 0, 17));
  t.false(n.fresh('u', 'c', undefined, 0, 18));
});

test('bounded: expired nonces go, and at the limit the oldest goes first', (t) => {
  const n = new NonceCounts(1000, 50);
  for (let i = 0; i < 50; i++) n.fresh('u', `old${i}`, 1, 0, 0);
  t.is(n.size, 50);
  // all 50 have expired (issued at 0, TTL 1 s) when the next one comes
  n.fresh('u', 'new', 1, 5000, 5000);
  t.is(n.size, 1);
  for (let i = 0; i < 200; i++) n.fresh('u', `x${i}`, 1, 5000, 5000);
  t.is(n.size, 50);
  t.true(n.fresh('u', 'x0', 1, 5000, 5000), 'the oldest was forgotten');
});
