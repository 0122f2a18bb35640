import test from 'ava';
import { pino } from 'pino';
import { PUSH_VERBS } from '../core/push/protocol.js';
import { FCM_APP, FCM_PROJECT, fcmToken, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { fcmError } from '../fixtures/push/mock-fcm.js';
import { requestFor } from '../fixtures/push/requests.js';
import { FcmAdapter } from './fcm.js';
import { MediatorMetrics } from './metrics.js';
import { loadRegistry, type FcmApp } from './registry.js';

const log = pino({ level: 'silent' });
const fast = { baseDelayMs: 5, maxDelayMs: 50, retryLaterMs: 3000 };
let env: PushEnv;

test.before(async () => {
  env = await makePushEnv();
});
test.after.always(async () => {
  await env?.cleanup();
});

function app(): FcmApp {
  return loadRegistry(env.appsFile).apps.get(FCM_APP) as FcmApp;
}

test.serial('every verb: calls as high-priority data messages with a short ttl, texts as notifications', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast });
  try {
    for (const verb of PUSH_VERBS) {
      const tok = fcmToken();
      const r = requestFor(verb, FCM_APP, tok);
      const res = await a.send(r, Date.now() + 5000);
      t.is(res.outcome, 'delivered', verb);
      t.regex(res.outcome === 'delivered' ? res.pushId : '', new RegExp(`^projects/${FCM_PROJECT}/messages/`));
      const got = env.fcm.received.find((x) => x.message.token === tok);
      t.truthy(got, verb);
      if (!got) continue;
      t.is(got.projectId, FCM_PROJECT);
      t.is(got.message.data?.verb, verb);
      t.is(got.message.data?.requestId, r.requestId);
      if (verb === 'NotifyIncomingCall') {
        t.is(got.message.android?.priority, 'high');
        t.is(got.message.android?.ttl, '30s');
        t.is(got.message.notification, undefined, 'a call is a data message');
        t.is(got.message.data?.callerName, 'Bob');
      }
      if (verb === 'NotifyTextMessage') {
        t.deepEqual(got.message.notification, { title: 'sip:bob@example.com', body: 'hi there' });
        t.is(got.message.data?.badge, '1', 'data values are strings');
      }
    }
    // One access token for all of them.
    t.is(env.fcm.tokenRequests, 1);
  } finally {
    await a.close();
  }
});

test.serial('access token: single-flight refresh for a burst, refreshed after expiry', async (t) => {
  const short = await makePushEnv({ fcmTokenTtlSec: 300 }); // already inside the 5-minute refresh margin
  const metrics = new MediatorMetrics();
  const a = new FcmAdapter({ app: loadRegistry(short.appsFile).apps.get(FCM_APP) as FcmApp, log, retry: fast, metrics });
  try {
    const results = await Promise.all(Array.from({ length: 50 }, () => a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 5000)));
    t.true(results.every((r) => r.outcome === 'delivered'));
    t.is(short.fcm.tokenRequests, 1, 'fifty concurrent pushes share one token request');
    // The token is within the refresh margin at once: the next push fetches a new one.
    await a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 5000);
    t.is(short.fcm.tokenRequests, 2);
    t.is(metrics.authRefreshes.get({ platform: 'fcm' }), 2);
  } finally {
    await a.close();
    await short.cleanup();
  }
});

test.serial('401: the access token is refreshed once and the push retried', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast });
  try {
    t.is((await a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'delivered');
    const before = env.fcm.tokenRequests;
    env.fcm.revokeAccessTokens();
    t.is((await a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(env.fcm.tokenRequests, before + 1);
  } finally {
    await a.close();
  }
});

test.serial('404 UNREGISTERED, 400 INVALID_ARGUMENT about the token and SENDER_ID_MISMATCH mean token dead', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast });
  try {
    const dead = fcmToken();
    env.fcm.deadTokens.add(dead);
    const r1 = await a.send(requestFor('NotifyIncomingCall', FCM_APP, dead), Date.now() + 5000);
    t.is(r1.outcome, 'token-dead');
    t.regex(r1.outcome === 'token-dead' ? r1.reason : '', /UNREGISTERED/);
    const invalid = fcmToken();
    env.fcm.invalidTokens.add(invalid);
    const r2 = await a.send(requestFor('NotifyTextMessage', FCM_APP, invalid), Date.now() + 5000);
    t.is(r2.outcome, 'token-dead');
    env.fcm.failNext(1, fcmError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH'));
    t.is((await a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'token-dead');
    // INVALID_ARGUMENT about something else is a rejection, the token stays.
    env.fcm.failNext(1, fcmError(400, 'INVALID_ARGUMENT', 'Invalid value at message.android.ttl', 'INVALID_ARGUMENT'));
    t.is((await a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'rejected');
  } finally {
    await a.close();
  }
});

test.serial('429 and 503 honour Retry-After; 500 backs off; past the deadline retry-later', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast });
  try {
    t.is((await a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'delivered'); // token cached
    env.fcm.failNext(1, { ...fcmError(429, 'RESOURCE_EXHAUSTED', 'quota', 'QUOTA_EXCEEDED'), headers: { 'retry-after': '1' } });
    env.fcm.failNext(1, fcmError(500, 'INTERNAL', 'oops', 'INTERNAL'));
    let streams = env.fcm.stats.streams;
    t.is((await a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'delivered');
    t.is(env.fcm.stats.streams - streams, 3);
    // Retry-After longer than the deadline allows: no second attempt, the delay is passed on.
    env.fcm.failNext(1, { ...fcmError(503, 'UNAVAILABLE', 'busy', 'UNAVAILABLE'), headers: { 'retry-after': '30' } });
    streams = env.fcm.stats.streams;
    const res = await a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 2000);
    t.deepEqual(res, { outcome: 'retry-later', reason: 'fcm: UNAVAILABLE (busy)', retryAfterMs: 30_000 });
    t.is(env.fcm.stats.streams - streams, 1);
  } finally {
    await a.close();
  }
});

test.serial('a slow FCM: attempts time out, the answer is retry-later by the deadline', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast, attemptTimeoutMs: 100 });
  try {
    t.is((await a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)).outcome, 'delivered'); // token cached
    env.fcm.delayMs = 400;
    const res = await a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 300);
    t.is(res.outcome, 'retry-later');
    t.regex(res.outcome === 'retry-later' ? res.reason : '', /ERR_UPSTREAM_TIMEOUT/);
  } finally {
    env.fcm.delayMs = 0;
    await a.close();
  }
});

test.serial('GOAWAY and a dropped connection toward FCM lose no request', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast });
  try {
    env.fcm.delayMs = 5;
    env.fcm.goawayAfter(40);
    const r1 = await Promise.all(Array.from({ length: 200 }, () => a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 5000)));
    t.is(r1.filter((r) => r.outcome === 'delivered').length, 200);
    env.fcm.dropAfter(60);
    const r2 = await Promise.all(Array.from({ length: 200 }, () => a.send(requestFor('NotifyTextMessage', FCM_APP, fcmToken()), Date.now() + 5000)));
    t.is(r2.filter((r) => r.outcome === 'delivered').length, 200);
    t.true(env.fcm.stats.goaways >= 1 && env.fcm.stats.dropped >= 1);
  } finally {
    env.fcm.delayMs = 0;
    await a.close();
  }
});

test.serial('a token endpoint that refuses the assertion ends in retry-later, not token-dead', async (t) => {
  const a0 = app();
  const wrong = await makePushEnv(); // a service account the mock FCM of `env` does not know
  const other = loadRegistry(wrong.appsFile).apps.get(FCM_APP) as FcmApp;
  const mixed: FcmApp = { ...a0, serviceAccount: { ...other.serviceAccount, tokenUri: a0.serviceAccount.tokenUri } };
  const a = new FcmAdapter({ app: mixed, log, retry: fast });
  try {
    const res = await a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), Date.now() + 300);
    t.is(res.outcome, 'retry-later');
  } finally {
    await a.close();
    await wrong.cleanup();
  }
});

test.serial('an OAuth2 token endpoint that is slow to answer: the push is answered by its deadline all the same', async (t) => {
  const a = new FcmAdapter({ app: app(), log, retry: fast }); // a new adapter: no access token yet
  env.fcm.delayMs = 2000;
  try {
    const started = Date.now();
    const res = await a.send(requestFor('NotifyIncomingCall', FCM_APP, fcmToken()), started + 500);
    const took = Date.now() - started;
    t.is(res.outcome, 'retry-later');
    t.regex(res.outcome === 'retry-later' ? res.reason : '', /access token/);
    t.true(took < 500 + 100, `answered after ${took} ms`);
  } finally {
    env.fcm.delayMs = 0;
    await a.close();
  }
});
