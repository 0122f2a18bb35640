import test from 'ava';
import { silentTcpServer } from '../fixtures/net.js';
import http2 from 'node:http2';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { pino } from 'pino';
import { makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { UpstreamError } from './errors.js';
import { H2Error } from './h2/errors.js';
import { encodeFrame, SETTINGS } from './h2/frames.js';
import { H2Pool } from './h2pool.js';

const log = pino({ level: 'silent' });
let env: PushEnv;
test.before(async () => {
  env = await makePushEnv({ apnsMaxConcurrentStreams: 2 });
});
test.after.always(async () => {
  await env?.cleanup();
});

const headers = { ':method': 'POST', ':path': '/3/device/00', 'apns-topic': 'x' };

test.serial('a full queue fails fast with ERR_UPSTREAM_QUEUE_FULL instead of growing', async (t) => {
  const pool = new H2Pool({ origin: env.apns.url, tls: { ca: env.pki.ca.certPem }, connections: 1, maxQueue: 3, log });
  try {
    t.is((await pool.request(headers, '{}', 5000)).status, 403); // connected, limit known
    env.apns.delayMs = 200;
    // 2 streams allowed by the server, 3 may wait: the 6th and later are refused at once.
    const all = Array.from({ length: 8 }, () =>
      pool.request(headers, '{}', 5000).then(
        (r) => String(r.status),
        (e: UpstreamError) => e.code,
      ),
    );
    const results = await Promise.all(all);
    t.is(results.filter((r) => r === 'ERR_UPSTREAM_QUEUE_FULL').length, 3, results.join(','));
    t.is(results.filter((r) => r === '403').length, 5, 'the others were answered (no provider token: 403)');
  } finally {
    env.apns.delayMs = 0;
    await pool.close();
  }
});

test.serial('a header value HTTP/2 cannot carry is refused before anything is sent; the connection goes on', async (t) => {
  const pool = new H2Pool({ origin: env.apns.url, tls: { ca: env.pki.ca.certPem }, connections: 1, log });
  try {
    t.is((await pool.request(headers, '{}', 5000)).status, 403);
    const seen = env.apns.stats.streams;
    for (const value of ['a\nb', 'a\rb', 'a\u0000b', 'ab\u010Acd', 'emoji😀']) {
      const err = await t.throwsAsync(pool.request({ ...headers, 'apns-collapse-id': value }, '{}', 5000), { instanceOf: UpstreamError });
      t.is(err?.code, 'ERR_UPSTREAM_BAD_HEADER', JSON.stringify(value));
      t.regex(err?.message ?? '', /apns-collapse-id/);
    }
    t.is(env.apns.stats.streams, seen, 'nothing reached the server');
    t.is((await pool.request({ ...headers, 'apns-collapse-id': 'caf\u00e9' }, '{}', 5000)).status, 403, 'latin1 obs-text is legal; the connection is fine');
    t.is(pool.connectionCount, 1);
  } finally {
    await pool.close();
  }
});

test.serial('a peer that accepts TCP but never completes TLS: connect timeout, queued requests fail', async (t) => {
  const silent = await silentTcpServer();
  const port = silent.port;
  const pool = new H2Pool({ origin: `https://127.0.0.1:${port}`, tls: { ca: env.pki.ca.certPem }, connectTimeoutMs: 200, log });
  try {
    const err = await t.throwsAsync(pool.request(headers, '{}', 5000), { instanceOf: UpstreamError });
    t.is(err?.code, 'ERR_UPSTREAM_CONNECT');
  } finally {
    await pool.close();
    silent.close();
  }
});

test.serial('a stream without an answer times out with ERR_UPSTREAM_TIMEOUT; the connection stays usable', async (t) => {
  const pool = new H2Pool({ origin: env.apns.url, tls: { ca: env.pki.ca.certPem }, connections: 1, log });
  try {
    env.apns.delayMs = 500;
    const err = await t.throwsAsync(pool.request(headers, '{}', 100), { instanceOf: UpstreamError });
    t.is(err?.code, 'ERR_UPSTREAM_TIMEOUT');
    env.apns.delayMs = 0;
    t.is((await pool.request(headers, '{}', 5000)).status, 403);
    t.is(pool.connectionCount, 1);
  } finally {
    env.apns.delayMs = 0;
    await pool.close();
  }
});

test.serial('after close, requests are refused with ERR_UPSTREAM_CLOSED', async (t) => {
  const pool = new H2Pool({ origin: env.apns.url, tls: { ca: env.pki.ca.certPem }, log });
  await pool.close();
  const err = await t.throwsAsync(pool.request(headers, '{}', 1000), { instanceOf: UpstreamError });
  t.is(err?.code, 'ERR_UPSTREAM_CLOSED');
});

/** A TLS server on loopback with the test PKI that does `onSecure` with each connection. */
async function tlsPeer(alpn: string[], onSecure: (s: import('node:tls').TLSSocket) => void) {
  const server = createTlsServer({ key: env.pki.server.keyPem, cert: env.pki.server.certPem, ...(alpn.length ? { ALPNProtocols: alpn } : {}) }, (s) => {
    s.on('error', () => {});
    onSecure(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `https://127.0.0.1:${(server.address() as { port: number }).port}` };
}

test.serial('a TLS peer that negotiates no ALPN protocol (not h2): ERR_UPSTREAM_CONNECT caused by ERR_H2_ALPN', async (t) => {
  const { server, url } = await tlsPeer([], () => {});
  const pool = new H2Pool({ origin: url, tls: { ca: env.pki.ca.certPem }, log });
  try {
    const err = await t.throwsAsync(pool.request(headers, '{}', 5000), { instanceOf: UpstreamError });
    t.is(err?.code, 'ERR_UPSTREAM_CONNECT');
    const cause = (err as Error & { cause?: unknown }).cause;
    t.true(cause instanceof H2Error && cause.code === 'ERR_H2_ALPN', String(cause));
  } finally {
    await pool.close();
    server.close();
  }
});

test.serial('a TLS peer that negotiates h2 then writes junk: typed errors, no crash, every request answered', async (t) => {
  const { server, url } = await tlsPeer(['h2'], (s) => s.write(Buffer.from('\x00\x00\x04\x01garbage garbage garbage', 'latin1')));
  const pool = new H2Pool({ origin: url, tls: { ca: env.pki.ca.certPem }, connections: 1, log });
  try {
    const all = await Promise.all(
      Array.from({ length: 4 }, () =>
        pool.request(headers, '{}', 5000).then(
          () => 'ok',
          (e: UpstreamError) => e.code,
        ),
      ),
    );
    t.deepEqual(all, Array(4).fill('ERR_UPSTREAM_CONNECT'));
  } finally {
    await pool.close();
    server.close();
  }
});

test.serial('idle connections are PINGed: a peer that answers keeps its connection, one that never does loses it', async (t) => {
  // nghttp2 answers PING by itself.
  const h2 = http2.createServer();
  h2.on('stream', (st) => {
    st.respond({ ':status': 204 });
    st.end();
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  // A raw peer that completes the handshake and then ignores everything.
  const sockets = new Set<Socket>();
  const mute = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('data', () => {});
    s.write(encodeFrame(SETTINGS, 0, 0));
  });
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  const good = new H2Pool({ origin: `http://127.0.0.1:${(h2.address() as { port: number }).port}`, pingIntervalMs: 40, log });
  const dead = new H2Pool({ origin: `http://127.0.0.1:${(mute.address() as { port: number }).port}`, pingIntervalMs: 40, log });
  try {
    t.is((await good.request(headers, '', 2000)).status, 204);
    const stuck = dead.request(headers, '', 60).catch((e: UpstreamError) => e.code);
    t.is(await stuck, 'ERR_UPSTREAM_TIMEOUT');
    t.is(dead.connectionCount, 1);
    // The unanswered PING times out after a second; wait for that (bounded), then compare.
    for (const end = Date.now() + 5000; dead.connectionCount > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    t.is(dead.connectionCount, 0, 'an unanswered PING drops it');
    t.is(good.connectionCount, 1, 'answered PINGs keep the connection');
    t.is((await good.request(headers, '', 2000)).status, 204);
  } finally {
    await good.close();
    await dead.close();
    for (const s of sockets) s.destroy();
    h2.close();
    mute.close();
  }
});

test.serial('answers in pieces: partial frames and multi-frame error bodies survive the reuse of the read buffer', async (t) => {
  // A raw h2c peer: SETTINGS, then for each request stream a 400 (HPACK static index 12) whose
  // HEADERS frame goes one octet per write and whose JSON body comes in two DATA frames, each
  // in one write: a complete frame sits in the read buffer and the next read overwrites it.
  const sockets = new Set<Socket>();
  const peer = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.setNoDelay(true);
    s.write(encodeFrame(SETTINGS, 0, 0));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    // One writer per connection: the pieces go out in order, 5 ms apart.
    const pieces: Buffer[] = [];
    let writing = false;
    const next = () => {
      const p = pieces.shift();
      if (p === undefined || s.destroyed) {
        writing = false;
        return;
      }
      s.write(p);
      setTimeout(next, 5);
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const [type, flags, sid] = [buf[3]!, buf[4]!, buf.readUInt32BE(5)];
        buf = buf.subarray(9 + len);
        if ((type === 0x1 || type === 0x0) && flags & 0x1) {
          const body = Buffer.from(JSON.stringify({ reason: `BadDeviceToken-${sid}`, pad: 'p'.repeat(100) }));
          const h = encodeFrame(0x1, 0x4, sid, Buffer.from([0x8c]));
          for (let i = 0; i < h.length; i++) pieces.push(h.subarray(i, i + 1));
          pieces.push(encodeFrame(0x0, 0x0, sid, body.subarray(0, 60)), encodeFrame(0x0, 0x1, sid, body.subarray(60)));
          if (!writing) {
            writing = true;
            next();
          }
        }
      }
    });
  });
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
  const pool = new H2Pool({ origin: `http://127.0.0.1:${(peer.address() as { port: number }).port}`, connections: 1, log });
  try {
    const [a, b] = await Promise.all([pool.request(headers, '{}', 5000), pool.request(headers, '{}', 5000)]);
    t.is(a.status, 400);
    t.is(b.status, 400);
    t.is(JSON.parse(a.body.toString()).reason, 'BadDeviceToken-1', 'the first body is intact after the second was read');
    t.is(JSON.parse(b.body.toString()).reason, 'BadDeviceToken-3');
  } finally {
    await pool.close();
    for (const s of sockets) s.destroy();
    peer.close();
  }
});

test.serial("a request waiting for a connection times out on its own timeout; the connection attempt keeps the pool's", async (t) => {
  const silent = await silentTcpServer();
  const port = silent.port;
  const pool = new H2Pool({ origin: `https://127.0.0.1:${port}`, tls: { ca: env.pki.ca.certPem }, connectTimeoutMs: 5000, log });
  try {
    const started = Date.now();
    const settled = (ms: number) =>
      pool.request(headers, '{}', ms).then(
        () => ({ code: 'answered', after: Date.now() - started }),
        (e: UpstreamError) => ({ code: e.code, after: Date.now() - started }),
      );
    // Queued in this order, expiring out of order: each one at its own time.
    const [long, short] = await Promise.all([settled(600), settled(200)]);
    t.is(short.code, 'ERR_UPSTREAM_TIMEOUT');
    t.is(long.code, 'ERR_UPSTREAM_TIMEOUT');
    t.true(short.after >= 190 && short.after < 300, `short after ${short.after} ms`);
    t.true(long.after >= 590 && long.after < 700, `long after ${long.after} ms`);
    t.is(pool.connectionCount, 1, 'the handshake goes on for the requests after them');
    t.is(pool.queued, 0);
  } finally {
    await pool.close();
    silent.close();
  }
});

test.serial('time spent waiting for a connection counts against the stream timeout', async (t) => {
  // The peer answers TLS only after 300 ms; a request with 400 ms has 100 ms left for its stream.
  const held: Array<() => void> = [];
  const proxy = createServer((client) => {
    client.pause();
    client.on('error', () => {});
    held.push(() => {
      const up = netConnect(env.apns.port, '127.0.0.1');
      up.on('error', () => client.destroy());
      client.pipe(up).pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as { port: number }).port;
  const pool = new H2Pool({ origin: `https://127.0.0.1:${port}`, tls: { ca: env.pki.ca.certPem }, log });
  env.apns.delayMs = 250;
  try {
    setTimeout(() => held.forEach((f) => f()), 300);
    const started = Date.now();
    const err = await t.throwsAsync(pool.request(headers, '{}', 400), { instanceOf: UpstreamError });
    const took = Date.now() - started;
    t.is(err?.code, 'ERR_UPSTREAM_TIMEOUT');
    t.true(took < 500, `gave up after ${took} ms, not 300 + 400`);
  } finally {
    env.apns.delayMs = 0;
    await pool.close();
    proxy.close();
  }
});
