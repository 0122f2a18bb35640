import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { UpstreamError } from './errors.js';
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

test.serial('a peer that accepts TCP but never completes TLS: connect timeout, queued requests fail', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const pool = new H2Pool({ origin: `https://127.0.0.1:${port}`, tls: { ca: env.pki.ca.certPem }, connectTimeoutMs: 200, log });
  try {
    const err = await t.throwsAsync(pool.request(headers, '{}', 5000), { instanceOf: UpstreamError });
    t.is(err?.code, 'ERR_UPSTREAM_CONNECT');
  } finally {
    await pool.close();
    for (const s of sockets) s.destroy();
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
