import test from 'ava';
import { silentTcpServer } from '../fixtures/net.js';
import { pino } from 'pino';
import { PUSH_VERBS } from '../core/push/protocol.js';
import { requestFor } from '../fixtures/push/requests.js';
import { APNS_CERT_APP, APNS_TOKEN_APP, apnsApp, apnsToken, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { ApnsAdapter } from './apns.js';
import { ProviderTokenSigners } from './apns-auth.js';
import { MediatorMetrics } from './metrics.js';

const log = pino({ level: 'silent' });
let env: PushEnv;

test.before(async () => {
  env = await makePushEnv();
});
test.after.always(async () => {
  await env?.cleanup();
});

const fast = { baseDelayMs: 5, maxDelayMs: 50, retryLaterMs: 3000 };

test.serial('every verb is delivered with the right topic, push type, priority and expiration (token auth)', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    for (const verb of PUSH_VERBS) {
      const tok = apnsToken();
      const r = requestFor(verb, APNS_TOKEN_APP, tok);
      const res = await a.send(r, Date.now() + 5000);
      t.deepEqual(res, { outcome: 'delivered', pushId: r.requestId }, verb);
      const got = env.apns.received.find((x) => x.token === tok);
      t.truthy(got, verb);
      if (!got) continue;
      t.is(got.auth, 'token');
      t.is(got.apnsId, r.requestId);
      const sipis = got.payload.sipis as Record<string, unknown>;
      t.is(sipis.verb, verb);
      t.is(sipis.selector, 'alice@example.com');
      const now = Date.now() / 1000;
      if (verb === 'NotifyIncomingCall') {
        t.is(got.topic, `${APNS_TOKEN_APP}.voip`);
        t.is(got.pushType, 'voip');
        t.is(got.priority, '10');
        t.true(Number(got.expiration) > now && Number(got.expiration) <= now + 31);
        t.is(sipis.callerName, 'Bob');
        t.is(got.collapseId, 'c1@x');
      } else if (verb === 'NotifyIncomingCallAnsweredElsewhere' || verb === 'NotifyReprovision') {
        t.is(got.topic, APNS_TOKEN_APP);
        t.is(got.pushType, 'background');
        t.is(got.priority, '5');
      } else {
        t.is(got.topic, APNS_TOKEN_APP);
        t.is(got.pushType, 'alert');
        t.is(got.priority, '10');
        t.true(Number(got.expiration) > now + 3600, `${verb} lives longer than a call`);
      }
    }
  } finally {
    await a.close();
  }
});

test.serial('certificate auth from a .p12 file', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_CERT_APP), log, retry: fast });
  try {
    const tok = apnsToken();
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_CERT_APP, tok), Date.now() + 5000);
    t.is(res.outcome, 'delivered');
    const got = env.apns.received.find((x) => x.token === tok);
    t.is(got?.auth, 'certificate');
    t.is(got?.topic, `${APNS_CERT_APP}.voip`);
  } finally {
    await a.close();
  }
});

test.serial('a VoIP token cannot carry a text message', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    const res = await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken(), 'voip'), Date.now() + 5000);
    t.is(res.outcome, 'rejected');
    t.is(res.outcome === 'rejected' ? res.field : '', 'tokenKind');
    // A remote-notification token for a call is a plain alert on the bundle topic.
    const tok = apnsToken();
    const r2 = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, tok, 'remote'), Date.now() + 5000);
    t.is(r2.outcome, 'delivered');
    t.is(env.apns.received.find((x) => x.token === tok)?.pushType, 'alert');
  } finally {
    await a.close();
  }
});

test.serial('410 Unregistered and 400 BadDeviceToken mean token dead', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    const dead = apnsToken();
    env.apns.deadTokens.add(dead);
    const r1 = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, dead), Date.now() + 5000);
    t.deepEqual(r1, { outcome: 'token-dead', reason: 'apns: Unregistered' });
    const bad = apnsToken();
    env.apns.badTokens.add(bad);
    const r2 = await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, bad), Date.now() + 5000);
    t.deepEqual(r2, { outcome: 'token-dead', reason: 'apns: BadDeviceToken' });
    // DeviceTokenNotForTopic (e.g. a sandbox token sent to production).
    env.apns.failNext(1, { status: 400, body: { reason: 'DeviceTokenNotForTopic' } });
    const r3 = await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000);
    t.deepEqual(r3, { outcome: 'token-dead', reason: 'apns: DeviceTokenNotForTopic' });
  } finally {
    await a.close();
  }
});

/** A provider-token clock the test moves (the adapter's deadlines stay on Date.now). */
function tokenClock(): { now: () => number; advance(ms: number): void } {
  let skew = 0;
  return { now: () => Date.now() + skew, advance: (ms) => void (skew += ms) };
}

test.serial('403 ExpiredProviderToken for a token 20 minutes or older: one new JWT and one retry', async (t) => {
  const metrics = new MediatorMetrics();
  const clock = tokenClock();
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast, metrics, tokenClock: clock.now });
  try {
    t.is((await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 1);
    clock.advance(25 * 60_000);
    env.apns.expireProviderTokens();
    const res = await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000);
    t.is(res.outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 2);
    t.is(metrics.upstreamAttempts.get({ platform: 'apns', status: '403' }), 1);
    // If the new token is refused as well, no retry loop: retry-later, token kept.
    clock.advance(25 * 60_000);
    env.apns.failNext(2, { status: 403, body: { reason: 'ExpiredProviderToken' } });
    const res2 = await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000);
    t.is(res2.outcome, 'retry-later');
    t.regex(res2.outcome === 'retry-later' ? res2.reason : '', /credentials refused/);
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 3);
  } finally {
    await a.close();
  }
});

test.serial('403 ExpiredProviderToken for a token younger than 20 minutes: no new JWT, retry-later until Apple allows one', async (t) => {
  const metrics = new MediatorMetrics();
  const clock = tokenClock();
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast, metrics, tokenClock: clock.now });
  try {
    t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 1);
    env.apns.expireProviderTokens();
    const floor = 20 * 60_000;
    let age = 0;
    // The audit's case: four ExpiredProviderToken answers 200 ms apart (on the token's clock).
    for (let i = 1; i <= 4; i++) {
      clock.advance(200);
      age += 200;
      const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000);
      t.is(res.outcome, 'retry-later', `push ${i}`);
      if (res.outcome !== 'retry-later') continue;
      t.regex(res.reason, /ExpiredProviderToken/);
      // Until the token may be replaced (less the real milliseconds the pushes took).
      t.true(res.retryAfterMs <= floor - age && res.retryAfterMs > floor - age - 1000, String(res.retryAfterMs));
    }
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 1, 'no token minted inside 20 minutes');
    t.is(metrics.upstreamAttempts.get({ platform: 'apns', status: '403' }), 4, 'one attempt per push, no retry with the same token');
    // At 20 minutes the refused token is replaced and the push goes through.
    clock.advance(floor - age);
    t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 2);
    // The regular refresh still runs: none at 39 minutes, a new token at 40, without a 403.
    clock.advance(39 * 60_000);
    t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 2);
    clock.advance(60_000);
    t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 3);
    t.is(metrics.upstreamAttempts.get({ platform: 'apns', status: '403' }), 5);
  } finally {
    await a.close();
  }
});

test.serial('apps that sign with one APNs key share one provider token, and a registry reload keeps it (no update more often than Apple allows)', async (t) => {
  const metrics = new MediatorMetrics();
  const signers = new ProviderTokenSigners();
  const app = apnsApp(env, APNS_TOKEN_APP);
  // a second app of the same team and key (another app id; the mock knows one bundle), and the
  // first app again as a registry reload makes it
  const other = { ...app, appId: `${app.appId}.other` };
  const adapters = [app, other, app].map((x) => new ApnsAdapter({ app: x, log, retry: fast, metrics, signers }));
  try {
    for (const a of adapters) t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 1, 'one token minted for all three');
  } finally {
    for (const a of adapters) await a.close();
  }
});

test.serial('429 TooManyProviderTokenUpdates: no new JWT (that is what Apple objects to), backoff and retry', async (t) => {
  const metrics = new MediatorMetrics();
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast, metrics });
  try {
    env.apns.failNext(1, { status: 429, body: { reason: 'TooManyProviderTokenUpdates' } });
    t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 1);
    env.apns.failNext(1000, { status: 429, headers: { 'retry-after': '2' }, body: { reason: 'TooManyProviderTokenUpdates' } });
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 300);
    env.apns.scripted.length = 0;
    t.deepEqual(res, { outcome: 'retry-later', reason: 'apns: TooManyProviderTokenUpdates', retryAfterMs: 2000 });
    t.is(metrics.authRefreshes.get({ platform: 'apns' }), 1);
  } finally {
    await a.close();
  }
});

test.serial('a provider token signed with the wrong key is refused by the mock and reported as rejected', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto');
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const a0 = apnsApp(env, APNS_TOKEN_APP);
  if (a0.auth.type !== 'token') throw new Error('token app expected');
  const a = new ApnsAdapter({ app: { ...a0, auth: { ...a0.auth, key: other } }, log, retry: fast });
  try {
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000);
    t.deepEqual(res, { outcome: 'rejected', reason: 'apns: InvalidProviderToken' });
  } finally {
    await a.close();
  }
});

test.serial('429/500/503 are retried with backoff; past the deadline the answer is retry-later', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    env.apns.failNext(1, { status: 429, body: { reason: 'TooManyRequests' } });
    env.apns.failNext(1, { status: 500, body: { reason: 'InternalServerError' } });
    env.apns.failNext(1, { status: 503, body: { reason: 'ServiceUnavailable' } });
    const tok = apnsToken();
    t.is((await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, tok), Date.now() + 5000)).outcome, 'delivered');
    t.is(env.apns.received.filter((x) => x.token === tok).length, 1);
    env.apns.failNext(1000, { status: 503, body: { reason: 'ServiceUnavailable' } });
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 300);
    env.apns.scripted.length = 0;
    t.is(res.outcome, 'retry-later');
    t.true(res.outcome === 'retry-later' && res.retryAfterMs > 0);
    // Retry-After from the service is passed on.
    env.apns.failNext(1000, { status: 429, headers: { 'retry-after': '7' }, body: { reason: 'TooManyRequests' } });
    const res2 = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 300);
    env.apns.scripted.length = 0;
    t.deepEqual(res2, { outcome: 'retry-later', reason: 'apns: TooManyRequests', retryAfterMs: 7000 });
  } finally {
    await a.close();
  }
});

test.serial('a slow APNs: attempts time out and the caller still gets an answer by the deadline', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast, attemptTimeoutMs: 100 });
  env.apns.delayMs = 400;
  try {
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 300);
    t.is(res.outcome, 'retry-later');
  } finally {
    env.apns.delayMs = 0;
    await a.close();
  }
});

test.serial('payload rules: oversized payload rejected before sending, bad request reasons are rejected', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    const r = requestFor('NotifyGenericTextMessage', APNS_TOKEN_APP, apnsToken());
    (r.payload as { text: string }).text = 'x'.repeat(5000);
    const res = await a.send(r, Date.now() + 5000);
    t.is(res.outcome, 'rejected');
    t.is(res.outcome === 'rejected' ? res.field : '', 'payload');
    env.apns.failNext(1, { status: 400, body: { reason: 'TopicDisallowed' } });
    t.deepEqual(await a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000), {
      outcome: 'rejected',
      reason: 'apns: TopicDisallowed',
    });
  } finally {
    await a.close();
  }
});

async function fireAndCount(a: ApnsAdapter, n: number): Promise<Record<string, number>> {
  const results = await Promise.all(
    Array.from({ length: n }, () => a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)),
  );
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  return counts;
}

test.serial('GOAWAY mid-stream with 200 concurrent requests: every request gets an outcome, none is lost', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    const before = env.apns.stats.goaways;
    env.apns.delayMs = 5; // keep streams open so the GOAWAY catches some in flight
    env.apns.goawayAfter(50);
    const counts = await fireAndCount(a, 200);
    t.is(env.apns.stats.goaways, before + 1);
    t.is((counts.delivered ?? 0) + (counts['token-dead'] ?? 0) + (counts['retry-later'] ?? 0), 200);
    t.is(counts.delivered, 200, JSON.stringify(counts));
    t.true(env.apns.stats.refused > 0, 'some streams were refused by the GOAWAY and retried');
  } finally {
    env.apns.delayMs = 0;
    await a.close();
  }
});

test.serial('a dropped connection with 200 requests in flight: all retried on a new connection', async (t) => {
  const a = new ApnsAdapter({ app: apnsApp(env, APNS_TOKEN_APP), log, retry: fast });
  try {
    env.apns.delayMs = 5;
    const dropped = env.apns.stats.dropped;
    env.apns.dropAfter(80);
    const counts = await fireAndCount(a, 200);
    t.is(env.apns.stats.dropped, dropped + 1);
    t.is(counts.delivered, 200, JSON.stringify(counts));
  } finally {
    env.apns.delayMs = 0;
    await a.close();
  }
});

test.serial('SETTINGS_MAX_CONCURRENT_STREAMS is respected; the excess waits in the queue', async (t) => {
  const small = await makePushEnv({ apnsMaxConcurrentStreams: 5, connections: 1 });
  const a0 = apnsApp(small, APNS_TOKEN_APP);
  const a = new ApnsAdapter({ app: a0, log, retry: fast });
  let maxOpen = 0;
  let open = 0;
  small.apns.server.on('stream', (s) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    s.on('close', () => open--);
  });
  try {
    small.apns.delayMs = 5;
    const results = await Promise.all(
      Array.from({ length: 40 }, () => a.send(requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken()), Date.now() + 5000)),
    );
    t.true(results.every((r) => r.outcome === 'delivered'));
    t.true(maxOpen <= 5, `at most 5 streams open at once, saw ${maxOpen}`);
    t.is(small.apns.stats.refused, 0);
  } finally {
    await a.close();
    await small.cleanup();
  }
});

test.serial('APNs unreachable: retry-later by the deadline', async (t) => {
  const a0 = { ...apnsApp(env, APNS_TOKEN_APP), endpoint: 'https://127.0.0.1:1' };
  const a = new ApnsAdapter({ app: a0, log, retry: fast });
  try {
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), Date.now() + 300);
    t.is(res.outcome, 'retry-later');
  } finally {
    await a.close();
  }
});

test.serial('APNs accepts TCP but never completes TLS: retry-later by the deadline, not after the connect timeout', async (t) => {
  const silent = await silentTcpServer();
  const a0 = { ...apnsApp(env, APNS_TOKEN_APP), endpoint: `https://127.0.0.1:${silent.port}` };
  // The pool's connect timeout (5 s) is longer than this push's deadline; the push must not wait for it.
  const a = new ApnsAdapter({ app: a0, log, retry: fast, attemptTimeoutMs: 2000 });
  try {
    const started = Date.now();
    const res = await a.send(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), started + 800);
    const took = Date.now() - started;
    t.is(res.outcome, 'retry-later');
    t.regex(res.outcome === 'retry-later' ? res.reason : '', /ERR_UPSTREAM_TIMEOUT/);
    t.true(took < 800 + 100, `answered after ${took} ms`);
    t.true(silent.accepted.size >= 1, 'the connection was accepted and left silent');
  } finally {
    await a.close();
    silent.close();
  }
});
