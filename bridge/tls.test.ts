/**
 * TLS specifics: TLS 1.2 minimum, SIGHUP-style reload of certificate and key without dropping
 * established connections, and the optional client-certificate check.
 */
import test, { type ExecutionContext } from 'ava';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { generateTestCerts, writeTestCerts } from '../fixtures/tls/certs.js';
import type { RunningBridge } from './bridge.js';
import { bridgeWithPeers, udpPeer } from './testing/harness.js';
import { MiniUa } from './testing/sipua.js';
import { tlsWire } from './testing/wires.js';
import type { TLSSocket } from 'node:tls';

const files = writeTestCerts();
test.after.always(() => files.remove());

type TestBridgeConfig = Parameters<NonNullable<Parameters<typeof bridgeWithPeers>[1]>>[0];

/** A bridge with only a TLS listener, in front of one UDP peer; both closed when the test ends. */
async function tlsBridge(t: ExecutionContext, tls: TestBridgeConfig['tls'], tune?: (c: TestBridgeConfig) => void): Promise<RunningBridge> {
  const peer = await udpPeer();
  const bridge = await bridgeWithPeers([peer], (c) => {
    c.listen = { tls: { host: '127.0.0.1', port: 0 } };
    c.tls = tls;
    tune?.(c);
  });
  t.teardown(async () => {
    peer.wire.close();
    await bridge.close();
  });
  return bridge;
}

test('reloading the certificate keeps established TLS connections; new ones get the new certificate', async (t) => {
  const dir = writeTestCerts(); // a private copy we can overwrite
  t.teardown(() => dir.remove());
  const bridge = await tlsBridge(t, { certFile: dir.cert, keyFile: dir.key, verifyClient: false });
  const port = bridge.addresses.tls!.port;
  const oldCa = generateTestCerts().caPem;
  const wire = await tlsWire(port, { ca: oldCa, servername: 'localhost' });
  const phone = new MiniUa({ wire, transport: 'TLS', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);

  const next = generateTestCerts({ fresh: true });
  writeFileSync(dir.cert, next.certPem);
  writeFileSync(dir.key, next.keyPem);
  bridge.reloadTls();

  t.is((await phone.register()).status, 200, 'the established connection still works');
  await t.throwsAsync(tlsWire(port, { ca: oldCa, servername: 'localhost' }), undefined, 'the old CA no longer verifies the served certificate');
  const fresh = await tlsWire(port, { ca: next.caPem, servername: 'localhost' });
  fresh.close();
  t.is(bridge.metrics.connections.get('tls'), 1);
  // a broken key file on reload is an error and the old context stays
  copyFileSync(dir.ca, dir.key);
  t.throws(() => bridge.reloadTls());
  const again = await tlsWire(port, { ca: next.caPem, servername: 'localhost' });
  again.close();
});

test('TLS below 1.2 is refused', async (t) => {
  const bridge = await tlsBridge(t, { certFile: files.cert, keyFile: files.key, verifyClient: false });
  await t.throwsAsync(tlsWire(bridge.addresses.tls!.port, { ca: generateTestCerts().caPem, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
});

test('cipher policy: AEAD with ECDHE only, ChaCha20-Poly1305 preferred over the client\'s AES-GCM', async (t) => {
  const bridge = await tlsBridge(t, { certFile: files.cert, keyFile: files.key, verifyClient: false });
  const port = bridge.addresses.tls!.port;
  const base = { ca: generateTestCerts().caPem, servername: 'localhost' };
  const name = async (opts: object) => {
    const w = await tlsWire(port, { ...base, ...opts });
    const cipher = (w.socket as TLSSocket).getCipher().name;
    w.close();
    return cipher;
  };
  // Node's client lists AES-256-GCM first; the server's order wins (honorCipherOrder)
  t.is(await name({}), 'TLS_CHACHA20_POLY1305_SHA256');
  t.is(await name({ maxVersion: 'TLSv1.2' }), 'ECDHE-RSA-CHACHA20-POLY1305');
  // a client without ChaCha20 still gets an AEAD suite (the server's order: AES-128 first)
  t.is(await name({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256' }), 'ECDHE-RSA-AES128-GCM-SHA256');
  t.is(await name({ maxVersion: 'TLSv1.3' }), 'TLS_CHACHA20_POLY1305_SHA256');
  // CBC, static-RSA key exchange and finite-field DHE are refused
  for (const ciphers of ['ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA', 'AES128-GCM-SHA256:AES256-SHA256', 'DHE-RSA-AES128-GCM-SHA256']) {
    await t.throwsAsync(tlsWire(port, { ...base, maxVersion: 'TLSv1.2', ciphers }), undefined, ciphers);
  }
});

test('with client verification, only phones with a certificate from the CA get through', async (t) => {
  const bridge = await tlsBridge(t, { certFile: files.cert, keyFile: files.key, caFile: files.ca, verifyClient: true });
  const port = bridge.addresses.tls!.port;
  const c = generateTestCerts();
  const wire = await tlsWire(port, { ca: c.caPem, servername: 'localhost', cert: c.clientCertPem, key: c.clientKeyPem });
  const phone = new MiniUa({ wire, transport: 'TLS', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
  // without a client certificate: the handshake fails (TLS 1.3 reports it after connect)
  const anon = await tlsWire(port, { ca: c.caPem, servername: 'localhost' }).catch((err: Error) => err);
  if (anon instanceof Error) t.pass();
  else {
    const closed = await Promise.race([anon.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    t.true(closed);
  }
  t.true(bridge.metrics.connectionsRejected.get('tls-handshake') >= 1);
});

test('a TLS client that sends nothing, or stops mid-ClientHello, is closed at the header timeout', async (t) => {
  const { connect } = await import('node:net');
  const bridge = await tlsBridge(t, { certFile: files.cert, keyFile: files.key, verifyClient: false }, (c) => {
    c.limits.headerTimeoutMs = 500;
    c.limits.idleTimeoutMs = 60_000;
  });
  const port = bridge.addresses.tls!.port;
  const open = (first: Buffer | undefined) =>
    new Promise<boolean>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        if (first) s.write(first);
      });
      s.on('error', () => undefined);
      s.once('close', () => resolve(true));
      setTimeout(() => {
        s.destroy();
        reject(new Error('still open after 20 s'));
      }, 20_000).unref(); // a bound, not a timing assert: other tests in this file block the loop with RSA key generation
    });
  // a TLS record header announcing 512 bytes of handshake, then only the first few of them
  const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const [silent, partial] = await Promise.all([open(undefined), open(partialHello)]);
  t.true(silent, 'silent client closed');
  t.true(partial, 'partial ClientHello closed');
  await new Promise((r) => setTimeout(r, 200)); // tlsClientError is reported after the close
  t.true(bridge.metrics.connectionsRejected.get('tls-handshake') >= 2, String(bridge.metrics.connectionsRejected.get('tls-handshake')));
});

test('the per-address limit counts TLS connections from their TCP accept, not from the end of their handshake; a closed one frees its place', async (t) => {
  const { connect } = await import('node:net');
  const bridge = await tlsBridge(t, { certFile: files.cert, keyFile: files.key, verifyClient: false }, (c) => {
    c.limits.maxConnectionsPerAddress = 3;
    c.limits.headerTimeoutMs = 60_000;
  });
  const port = bridge.addresses.tls!.port;
  // TCP connections that never say a word: each is a place taken
  const open = () =>
    new Promise<{ closed: Promise<void>; socket: import('node:net').Socket }>((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve({ socket: s, closed }));
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.on('error', () => undefined);
    });
  const held = [await open(), await open(), await open()];
  t.teardown(() => held.forEach((h) => h.socket.destroy()));
  const fourth = await open();
  await fourth.closed; // refused at once (a bound: the test would time out otherwise)
  t.is(bridge.metrics.connectionsRejected.get('per-address-limit'), 1);
  // a place freed by a client that gave up lets a real phone in
  held[0]!.socket.destroy();
  await held[0]!.closed;
  await new Promise((r) => setTimeout(r, 50));
  const wire = await tlsWire(port, { ca: readFileSync(files.ca), servername: 'localhost' });
  const phone = new MiniUa({ wire, transport: 'TLS', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
});

test('--tls-max-version 1.2: TLS 1.3 clients are answered in TLS 1.2, with an ECDHE AEAD suite', async (t) => {
  const bridge = await tlsBridge(t, { certFile: files.cert, keyFile: files.key, verifyClient: false, maxVersion: 'TLSv1.2' });
  const wire = await tlsWire(bridge.addresses.tls!.port, { ca: generateTestCerts().caPem, servername: 'localhost' });
  const s = wire.socket as TLSSocket;
  t.is(s.getProtocol(), 'TLSv1.2');
  t.is(s.getCipher().name, 'ECDHE-RSA-CHACHA20-POLY1305');
  const phone = new MiniUa({ wire, transport: 'TLS', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
});
