/**
 * Three sipis backends behind one bridge: accounts spread by the shared consistent hash; one
 * backend killed mid-test goes out after the missed OPTIONS probes, only its accounts move,
 * the others keep working; when it comes back, its accounts return. The admin port answers
 * the same lookups.
 */
import test from 'ava';
import { ShardRing } from '../core/shard/index.js';
import { bridgeWithPeers, udpPeer } from './testing/harness.js';
import { MiniUa } from './testing/sipua.js';
import { tcpWire } from './testing/wires.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from our own admin port, checked field by field
async function getJson(port: number, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

test('three backends, one killed mid-test: only its accounts move, then they return', async (t) => {
  const peers = await Promise.all([udpPeer(), udpPeer(), udpPeer()]);
  const bridge = await bridgeWithPeers(peers, (c) => (c.probe = { intervalMs: 150, failures: 2, successes: 1 }));
  t.teardown(async () => {
    for (const p of peers) p.wire.close();
    await bridge.close();
  });
  const admin = bridge.addresses.admin!.port;
  const wire = await tcpWire(bridge.addresses.tcp!.port);
  const phone = new MiniUa({ wire, transport: 'TCP', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'x@example.com' });
  t.teardown(() => phone.close());
  const ownerOf = (user: string) => {
    const i = peers.findIndex((p) => p.ua.received.some((m) => m.method === 'REGISTER' && m.text.includes(`To: <sip:${user}@example.com>`)));
    return i;
  };
  const registerAll = async (users: string[]) => {
    for (const u of users) {
      const r = phone.request('REGISTER', 'sip:example.com', { to: `<sip:${u}@example.com>` });
      const ok = await phone.final(r.callId, 'REGISTER');
      t.is(ok.status, 200, u);
    }
  };
  const users = Array.from({ length: 60 }, (_, i) => `u${i}`);
  await registerAll(users);
  const before = users.map(ownerOf);
  t.true(before.every((i) => i >= 0));
  // the bridge agrees with a ring built from the same backend list (sipis-ctl's view)
  const ring = new ShardRing(peers.map((p) => ({ host: '127.0.0.1', port: p.port })));
  users.forEach((u, k) => t.is(ring.lookup(`${u}@example.com`)!.port, peers[before[k]!]!.port));
  for (let i = 0; i < 3; i++) t.true(before.includes(i), `backend ${i} got accounts`);
  const look = await getJson(admin, `/shard?key=${encodeURIComponent('u0@example.com')}`);
  t.is(look.body.backend.port, peers[before[0]!]!.port);
  // a URI with parameters, an escaped user, an upper-case host: the same account, the same owner
  for (const form of ['sip:u0@example.com;transport=tcp', '<sip:%750@EXAMPLE.com>']) {
    const same = await getJson(admin, `/shard?key=${encodeURIComponent(form)}`);
    t.is(same.body.key, 'u0@example.com', form);
    t.is(same.body.backend.port, peers[before[0]!]!.port, form);
  }

  // kill backend 1: it stops answering (socket closed), probes fail, it goes out
  const victim = 1;
  peers[victim]!.wire.close();
  t.true(await until(() => !bridge.ring.backends[victim]!.up), 'backend marked down');
  t.true((await getJson(admin, '/metrics')).body.includes(`sipis_bridge_backend_up{backend="127.0.0.1:${peers[victim]!.port}"} 0`));
  for (const p of peers) p.ua.received.length = 0;
  await registerAll(users);
  const during = users.map(ownerOf);
  users.forEach((u, k) => {
    if (before[k] === victim) t.not(during[k], victim, `${u} moved off the dead backend`);
    else t.is(during[k], before[k], `${u} stayed where it was`);
    t.true(during[k]! >= 0);
  });
  const moved = (await getJson(admin, `/shard?key=${encodeURIComponent(`${users[before.indexOf(victim)]}@example.com`)}`)).body;
  t.false(moved.home.up);
  t.not(moved.backend.port, peers[victim]!.port);

  // bring it back on the same port: probes succeed, its accounts return
  peers[victim] = await udpPeer('sipis@127.0.0.1', peers[victim]!.port, { host: '127.0.0.1', port: bridge.addresses.udp!.port });
  t.true(await until(() => bridge.ring.backends[victim]!.up), 'backend back in service');
  for (const p of peers) p.ua.received.length = 0;
  await registerAll(users);
  t.deepEqual(users.map(ownerOf), before);
  t.is(bridge.metrics.backendChanges.get(`127.0.0.1:${peers[victim]!.port}`), 2);
  const health = await getJson(admin, '/healthz');
  t.is(health.status, 200);
  t.is(health.body.backendsUp, 3);
});

test('no backend up: requests get 503 with Retry-After, /healthz says 503', async (t) => {
  const peer = await udpPeer();
  const bridge = await bridgeWithPeers([peer], (c) => (c.probe = { intervalMs: 100, failures: 1, successes: 1 }));
  t.teardown(() => bridge.close());
  peer.wire.close();
  t.true(await until(() => !bridge.ring.backends[0]!.up));
  const wire = await tcpWire(bridge.addresses.tcp!.port);
  const phone = new MiniUa({ wire, transport: 'TCP', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.teardown(() => phone.close());
  const res = await phone.register();
  t.is(res.status, 503);
  t.regex(res.text, /Retry-After: 5/);
  t.is((await getJson(bridge.addresses.admin!.port, '/healthz')).status, 503);
  t.is((await getJson(bridge.addresses.admin!.port, '/shard')).status, 400);
  t.is((await getJson(bridge.addresses.admin!.port, '/nope')).status, 404);
  const post = await fetch(`http://127.0.0.1:${bridge.addresses.admin!.port}/healthz`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD', 'RFC 9110 §15.5.6');
});

test('a backend given by name is resolved once; its datagrams are trusted by address; others are not', async (t) => {
  const peer = await udpPeer();
  const bridge = await bridgeWithPeers([peer], (c) => (c.backends = [{ host: 'localhost', port: peer.port }]));
  t.teardown(async () => {
    peer.wire.close();
    await bridge.close();
  });
  const wire = await tcpWire(bridge.addresses.tcp!.port);
  const phone = new MiniUa({ wire, transport: 'TCP', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
  t.true(await until(() => bridge.ring.backends[0]!.up));
  t.is(bridge.metrics.dropped.get('untrusted-source'), 0);
  // a request from 127.0.0.2 (not a backend) trying to reach the phone's flow is dropped
  const path = peer.ua.received.find((m) => m.method === 'REGISTER')!.values(11 /* H.PATH */)[0]!;
  const { createSocket } = await import('node:dgram');
  const rogue = createSocket('udp4');
  await new Promise<void>((r) => rogue.bind(0, '127.0.0.2', r));
  t.teardown(() => rogue.close());
  rogue.send(
    `MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:9;branch=z9hG4bKrogue\r\nRoute: ${path}\r\nFrom: <sip:x@evil>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: rogue\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n`,
    bridge.addresses.udp!.port,
    '127.0.0.1',
  );
  t.true(await until(() => bridge.metrics.dropped.get('untrusted-source') === 1));
  t.false(phone.received.some((m) => m.method === 'MESSAGE'));
});
