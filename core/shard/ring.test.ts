import test from 'ava';
import { fnv1a32Bytes } from './hash.js';
import { ShardRing, parseBackendSpec, accountKeyFromHeader, accountKeyFromInput, accountKeyFromUri, keyHeaderFor, fnv1a32, ShardError, BackendProber, PROBE_BRANCH_PREFIX } from './index.js';

const keys = Array.from({ length: 30_000 }, (_, i) => `user${i}@example.com`);

function spread(ring: ShardRing): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) {
    const id = ring.lookup(k)!.id;
    m.set(id, (m.get(id) ?? 0) + 1);
  }
  return m;
}

test('hash is pinned: FNV-1a 32 test vectors (changing it would move every account)', (t) => {
  t.is(fnv1a32(''), 0x811c9dc5);
  t.is(fnv1a32('a'), 0xe40c292c);
  t.is(fnv1a32('foobar'), 0xbf9cf968);
  // non-ASCII keys hash their UTF-8 bytes
  t.is(fnv1a32('é'), fnv1a32Bytes(Buffer.from([0xc3, 0xa9])));
});

test('30k keys spread within ±10% of the weights (1:2:3)', (t) => {
  const ring = new ShardRing([
    { id: 'a', host: '127.0.0.1', port: 5061, weight: 1 },
    { id: 'b', host: '127.0.0.1', port: 5062, weight: 2 },
    { id: 'c', host: '127.0.0.1', port: 5063, weight: 3 },
  ]);
  const m = spread(ring);
  for (const [id, w] of [['a', 1], ['b', 2], ['c', 3]] as const) {
    const expected = (keys.length * w) / 6;
    const got = m.get(id) ?? 0;
    t.true(Math.abs(got - expected) / expected < 0.1, `${id}: ${got} vs ${expected}`);
  }
});

test('30k keys spread within ±10% over equal weights', (t) => {
  const ring = new ShardRing([1, 2, 3, 4, 5].map((i) => ({ host: '10.0.0.1', port: 5060 + i })));
  for (const [id, n] of spread(ring)) t.true(Math.abs(n - 6000) / 6000 < 0.1, `${id}: ${n}`);
});

test('removing one of three backends moves only its keys, and they return when it is back', (t) => {
  const ring = new ShardRing([
    { id: 'a', host: '127.0.0.1', port: 5061 },
    { id: 'b', host: '127.0.0.1', port: 5062 },
    { id: 'c', host: '127.0.0.1', port: 5063 },
  ]);
  const before = keys.map((k) => ring.lookup(k)!.id);
  t.true(ring.setUp('b', false));
  t.false(ring.setUp('b', false));
  let moved = 0;
  keys.forEach((k, i) => {
    const now = ring.lookup(k)!.id;
    if (before[i] === 'b') {
      t.not(now, 'b');
      moved++;
    } else if (now !== before[i]) t.fail(`key ${k} moved from ${before[i]} to ${now}`);
  });
  t.true(moved > 8000 && moved < 12000, `moved ${moved}`);
  ring.setUp('b', true);
  t.deepEqual(keys.map((k) => ring.lookup(k)!.id), before);
  t.is(ring.home('user1@example.com').id, before[1]);
});

test('lookup does not depend on the order backends are listed in', (t) => {
  const specs = [1, 2, 3, 4].map((i) => ({ host: '127.0.0.1', port: 6000 + i, weight: i }));
  const r1 = new ShardRing(specs);
  const r2 = new ShardRing([...specs].reverse());
  for (const k of keys.slice(0, 2000)) t.is(r1.lookup(k)!.id, r2.lookup(k)!.id);
});

test('no backend up: lookup is undefined', (t) => {
  const ring = new ShardRing([{ host: '127.0.0.1', port: 5060 }]);
  ring.setUp('127.0.0.1:5060', false);
  t.is(ring.lookup('x@y'), undefined);
});

test('bad backend lists are typed errors', (t) => {
  t.is(t.throws(() => new ShardRing([]), { instanceOf: ShardError })!.code, 'ERR_SHARD_NO_BACKENDS');
  t.is(t.throws(() => new ShardRing([{ host: 'h', port: 70000 }]), { instanceOf: ShardError })!.code, 'ERR_SHARD_BAD_BACKEND');
  t.is(t.throws(() => new ShardRing([{ host: 'h', port: 1, weight: 0 }]), { instanceOf: ShardError })!.code, 'ERR_SHARD_BAD_WEIGHT');
  t.is(t.throws(() => new ShardRing([{ host: 'h', port: 1 }, { host: 'h', port: 1 }]), { instanceOf: ShardError })!.code, 'ERR_SHARD_DUPLICATE_BACKEND');
  const ring = new ShardRing([{ host: 'h', port: 1 }]);
  t.is(t.throws(() => ring.setUp('nope', false), { instanceOf: ShardError })!.code, 'ERR_SHARD_UNKNOWN_BACKEND');
});

test('parseBackendSpec reads host:port;weight=N;id=X and IPv6', (t) => {
  t.deepEqual(parseBackendSpec('127.0.0.1:5060'), { host: '127.0.0.1', port: 5060 });
  t.deepEqual(parseBackendSpec('sipis1.example:5070;weight=2;id=s1'), { host: 'sipis1.example', port: 5070, weight: 2, id: 's1' });
  t.deepEqual(parseBackendSpec('[::1]:5060'), { host: '::1', port: 5060 });
  for (const bad of ['nohost', '127.0.0.1:0', 'h:x', 'h:5060;weight=-1', 'h:5060;color=red', '[::1]5060']) {
    t.throws(() => parseBackendSpec(bad), { instanceOf: ShardError }, bad);
  }
});

test('account keys: user@host from name-addr and addr-spec, host lowercased', (t) => {
  t.is(accountKeyFromHeader('"Alice" <sip:alice@Example.COM:5060;transport=tcp>;tag=1'), 'alice@example.com');
  t.is(accountKeyFromHeader('sip:bob@example.org;tag=x'), 'bob@example.org');
  t.is(accountKeyFromHeader('<sips:carol:secret@[2001:DB8::1]:5061>'), 'carol@[2001:db8::1]');
  t.is(accountKeyFromHeader('<sip:example.net>'), 'example.net');
  t.is(accountKeyFromUri('tel:+15551234;phone-context=x'), '+15551234');
  // RFC 3261 §19.1.4: an escaped unreserved character is that character; an escaped reserved one is not
  t.is(accountKeyFromHeader('<sip:%61lic%65@example.com>'), 'alice@example.com');
  t.is(accountKeyFromHeader('<sip:a%3bb%40c@example.com>'), 'a%3Bb%40c@example.com');
  // what an operator types: user@domain, a URI, a header value
  for (const input of ['alice@Example.com', 'sip:alice@example.com;transport=tcp', ' "A" <sips:%61lice@EXAMPLE.com:5061> ', 'alice@example.com:5060']) {
    t.is(accountKeyFromInput(input), 'alice@example.com', input);
  }
  t.is(keyHeaderFor('REGISTER', 'auto'), 'to');
  t.is(keyHeaderFor('INVITE', 'auto'), 'from');
  t.is(keyHeaderFor('REGISTER', 'from'), 'from');
  for (const bad of ['<sip:alice@x', 'garbage', '<sip:alice@>']) {
    t.is(t.throws(() => accountKeyFromHeader(bad), { instanceOf: ShardError })!.code, 'ERR_SHARD_BAD_KEY', bad);
  }
});

test('prober: missed probes take a backend out, an answer brings it back', (t) => {
  const ring = new ShardRing([{ id: 'a', host: '127.0.0.1', port: 1 }, { id: 'b', host: '127.0.0.1', port: 2 }]);
  const sent: Array<{ id: string; text: string }> = [];
  const prober = new BackendProber(ring, { intervalMs: 1000, failures: 2, successes: 1, localHostport: '127.0.0.1:9', send: (b, bytes) => sent.push({ id: b.id, text: bytes.toString() }) });
  const events: string[] = [];
  prober.on('down', (b) => events.push(`down ${b.id}`)).on('up', (b) => events.push(`up ${b.id}`));
  const branchOf = (text: string) => /branch=([^;\r]+)/.exec(text)![1]!;
  prober.tick();
  t.is(sent.length, 2);
  t.true(sent[0]!.text.startsWith('OPTIONS sip:127.0.0.1:1 SIP/2.0\r\n'));
  t.true(branchOf(sent[0]!.text).startsWith(PROBE_BRANCH_PREFIX));
  t.true(prober.handleResponse(branchOf(sent[0]!.text))); // a answers, b does not
  prober.tick();
  t.true(prober.handleResponse(branchOf(sent[2]!.text)));
  prober.tick(); // b missed two
  t.deepEqual(events, ['down b']);
  t.false(ring.get('b')!.up);
  t.true(prober.handleResponse(branchOf(sent[5]!.text)));
  t.deepEqual(events, ['down b', 'up b']);
  t.false(prober.handleResponse('z9hG4bKother'));
});
