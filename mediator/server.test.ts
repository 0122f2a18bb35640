import test from 'ava';
import { silentTcpServer } from '../fixtures/net.js';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { PUSH_VERBS, type PushResponse } from '../core/push/protocol.js';
import { API_KEY, APNS_TOKEN_APP, FCM_APP, apnsToken, fcmToken, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { requestFor } from '../fixtures/push/requests.js';
import { DEFAULTS, type MediatorConfig } from './config.js';
import { startMediator, type Mediator } from './mediator.js';
import { ApiKeys } from './server.js';

const log = pino({ level: 'silent' });
let env: PushEnv;
let med: Mediator;
let base: string;

function config(over: Partial<MediatorConfig> = {}): MediatorConfig {
  return { ...DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent', ...over };
}

test.before(async () => {
  env = await makePushEnv();
  med = await startMediator(config({ deadlineMs: 1500 }), log);
  base = `http://127.0.0.1:${med.port}`;
});
test.after.always(async () => {
  await med?.shutdown(100);
  await env?.cleanup();
});

async function post(body: unknown, headers: Record<string, string> = {}, path = '/v1/push') {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as PushResponse & { field?: string } };
}

test('bearer keys: any configured key, scheme in any case, blanks around the key; nothing else', (t) => {
  const k1 = 'k'.repeat(16);
  const k2 = 'another-key-0123456789';
  const keys = new ApiKeys([k1, k2]);
  for (const ok of [`Bearer ${k1}`, `bearer ${k2}`, `BEARER ${k1}`, `Bearer   ${k1} \t`]) t.true(keys.check(ok), ok);
  for (const bad of ['', 'Bearer', 'Bearer ', `Basic ${k1}`, `Bearer ${k1.slice(1)}`, `Bearer ${k1}k`, `Bearer ${'j'.repeat(16)}`, `Bearer ${k1} ${k2}`, `Bearer${k1}`, `Bearer ${k2.toUpperCase()}`]) {
    t.false(keys.check(bad), bad);
  }
  t.false(new ApiKeys([]).check(`Bearer ${k1}`));
});

test.serial('every verb through HTTP to APNs and to FCM is delivered', async (t) => {
  for (const verb of PUSH_VERBS) {
    for (const [appId, tok] of [
      [APNS_TOKEN_APP, apnsToken()],
      [FCM_APP, fcmToken()],
    ] as const) {
      const r = requestFor(verb, appId, tok);
      const res = await post(r);
      t.is(res.status, 200, `${verb} ${appId}: ${JSON.stringify(res.json)}`);
      t.is(res.json.outcome, 'delivered');
      t.is(res.json.requestId, r.requestId);
      if (res.json.outcome === 'delivered') t.is(res.json.platform, appId === FCM_APP ? 'fcm' : 'apns');
    }
  }
});

test.serial('the edge refuses bad requests with a reason naming the field', async (t) => {
  const good = requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken());
  let r = await post(good, { authorization: 'Bearer wrong-key-wrong-key' });
  t.is(r.status, 401);
  r = await post(good, { authorization: '' });
  t.is(r.status, 401);
  r = await post('{"verb":', {});
  t.is(r.status, 400);
  t.is(r.json.field, '(body)');
  r = await post('', {});
  t.is(r.status, 400);
  t.is(r.json.field, '(body)');
  r = await post('[1,2]', {});
  t.is(r.status, 400);
  t.is(r.json.field, '(body)');
  r = await post({ ...good, verb: 'NotifyPizza' });
  t.is(r.status, 400);
  t.is(r.json.field, 'verb');
  t.regex(r.json.outcome === 'rejected' ? r.json.reason : '', /unknown verb/);
  r = await post({ ...good, appId: 'com.unknown.app' });
  t.is(r.status, 400);
  t.is(r.json.field, 'appId');
  r = await post({ ...good, payload: { callId: 'x' } });
  t.is(r.status, 400);
  t.is(r.json.field, 'payload.callerUri');
  r = await post({ ...good, payload: { ...good.payload, callerName: 'x'.repeat(10_000) } });
  t.is(r.status, 413);
  r = await post(good, { 'content-type': 'text/plain' });
  t.is(r.status, 415);
  r = await post(good, {}, '/v2/push');
  t.is(r.status, 400, 'a wrong path is not 404: 404 means token dead');
  // A payload field too big for APNs (under the body limit) is a rejection naming the payload.
  const big = requestFor('NotifyGenericTextMessage', APNS_TOKEN_APP, apnsToken());
  (big.payload as { text: string }).text = 'é'.repeat(2000);
  r = await post(big);
  t.is(r.status, 422);
  t.is(r.json.field, 'payload');
});

test.serial('the clean-up verbs: NotifyExpiryWarning is an alert with its text and expiresAt, NotifyInstanceOff an alert with its text and reason, on APNs and FCM', async (t) => {
  const expiresAt = '2030-01-01T12:00:00.000Z';
  const apnsTok = apnsToken();
  let r = await post({ ...requestFor('NotifyExpiryWarning', APNS_TOKEN_APP, apnsTok), payload: { expiresAt, text: 'calls stop soon' } });
  t.is(r.status, 200, JSON.stringify(r.json));
  const got = env.apns.received.find((x) => x.token === apnsTok);
  t.like(got?.payload.sipis as Record<string, unknown>, { verb: 'NotifyExpiryWarning', expiresAt });
  t.deepEqual((got?.payload.aps as { alert?: unknown }).alert, { body: 'calls stop soon' });
  t.is(got?.pushType, 'alert');
  const fcmTok = fcmToken();
  r = await post({ ...requestFor('NotifyInstanceOff', FCM_APP, fcmTok), payload: { reason: 'unseen', text: 'calls are off' } });
  t.is(r.status, 200, JSON.stringify(r.json));
  const msg = env.fcm.received.find((x) => x.message.token === fcmTok)?.message;
  t.like(msg?.data, { verb: 'NotifyInstanceOff', reason: 'unseen' });
  t.like(msg?.notification as object, { body: 'calls are off' });
});

test.serial('a VoIP token with a verb it may not carry is refused at the edge: 400 tokenKind, nothing sent; FCM ignores tokenKind', async (t) => {
  const before = env.apns.stats.streams;
  const edge = med.metrics.edgeRejects.get({ reason: 'validation' });
  const refused = med.metrics.pushes.get({ verb: 'NotifyTextMessage', platform: 'apns', outcome: 'rejected' });
  const text = requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken(), 'voip');
  const r = await post(text);
  t.is(r.status, 400, 'refused by the mediator itself, not by APNs: 400 like every edge refusal (422 is for the push service)');
  t.is(r.json.outcome, 'rejected');
  t.is(r.json.field, 'tokenKind');
  t.regex(r.json.outcome === 'rejected' ? r.json.reason : '', /VoIP token/);
  t.is(env.apns.stats.streams, before, 'nothing reached APNs');
  t.is(med.metrics.edgeRejects.get({ reason: 'validation' }), edge + 1);
  t.is(med.metrics.pushes.get({ verb: 'NotifyTextMessage', platform: 'apns', outcome: 'rejected' }), refused + 1);
  // The verbs a VoIP token may carry still go out.
  t.is((await post(requestFor('NotifyIncomingCallMissed', APNS_TOKEN_APP, apnsToken(), 'voip'))).status, 200);
  t.is((await post(requestFor('NotifyTextMessage', FCM_APP, fcmToken(), 'voip'))).status, 200);
});

test.serial('with the default deadline, a push to an APNs that never completes TLS is answered retry-later within the deadline', async (t) => {
  const silent = await silentTcpServer();
  const appsFile = join(env.dir, 'apps-silent.json');
  const silentApp = { ...env.apps.apps[APNS_TOKEN_APP], endpoint: `https://127.0.0.1:${silent.port}` };
  writeFileSync(appsFile, JSON.stringify({ apps: { [APNS_TOKEN_APP]: silentApp } }));
  const m = await startMediator(config({ appsFile }), log);
  try {
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${m.port}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken())),
    });
    const took = performance.now() - started;
    const json = (await res.json()) as PushResponse;
    t.is(res.status, 503);
    t.is(json.outcome, 'retry-later');
    t.truthy(res.headers.get('retry-after'));
    t.true(took < DEFAULTS.deadlineMs + 150, `answered after ${Math.round(took)} ms; deadline ${DEFAULTS.deadlineMs} ms`);
    t.true(silent.accepted.size >= 1, 'the connection was accepted and left silent');
  } finally {
    await m.shutdown(100);
    silent.close();
  }
});

test.serial('token dead is HTTP 404 with outcome token-dead; retry later is 503 with Retry-After', async (t) => {
  const dead = apnsToken();
  env.apns.deadTokens.add(dead);
  let r = await post(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, dead));
  t.is(r.status, 404);
  t.is(r.json.outcome, 'token-dead');
  const deadF = fcmToken();
  env.fcm.deadTokens.add(deadF);
  r = await post(requestFor('NotifyTextMessage', FCM_APP, deadF));
  t.is(r.status, 404);
  env.apns.failNext(1000, { status: 503, headers: { 'retry-after': '4' }, body: { reason: 'ServiceUnavailable' } });
  r = await post(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()));
  env.apns.scripted.length = 0;
  t.is(r.status, 503);
  t.is(r.headers.get('retry-after'), '4');
  t.deepEqual({ ...r.json, requestId: undefined }, { outcome: 'retry-later', requestId: undefined, reason: 'apns: ServiceUnavailable', retryAfterMs: 4000 });
});

test.serial('200 concurrent HTTP requests while APNs sends GOAWAY: every one answered, all delivered', async (t) => {
  // Its own mediator with a deadline long enough for a loaded machine to reconnect.
  const m = await startMediator(config({ deadlineMs: 10_000 }), log);
  env.apns.delayMs = 5;
  try {
    env.apns.goawayAfter(70);
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        fetch(`http://127.0.0.1:${m.port}/v1/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken())),
        }).then(async (r) => ({ status: r.status, json: (await r.json()) as PushResponse })),
      ),
    );
    t.is(results.length, 200);
    t.is(results.filter((r) => r.status === 200).length, 200, JSON.stringify(results.find((r) => r.status !== 200)?.json));
    t.true(m.metrics.upstreamRetries.get({ platform: 'apns', reason: 'unprocessed' }) > 0, 'refused streams were retried');
  } finally {
    env.apns.delayMs = 0;
    await m.shutdown(1000);
  }
});

test.serial('/healthz and /metrics', async (t) => {
  const h = await fetch(`${base}/healthz`);
  t.is(h.status, 200);
  t.like((await h.json()) as object, { status: 'ok', apps: 3 });
  const m = await (await fetch(`${base}/metrics`)).text();
  t.regex(m, /sipis_mediator_pushes_total\{verb="NotifyIncomingCall",platform="apns",outcome="delivered"\} \d+/);
  t.regex(m, /sipis_mediator_pushes_total\{verb="NotifyTextMessage",platform="fcm",outcome="token-dead"\} 1/);
  t.regex(m, /sipis_mediator_push_duration_seconds_bucket\{platform="apns",outcome="delivered",le="\+Inf"\} \d+/);
  t.regex(m, /sipis_mediator_edge_rejects_total\{reason="auth"\} 2/);
  t.regex(m, /sipis_mediator_upstream_attempts_total\{platform="apns",status="200"\} \d+/);
  t.regex(m, /sipis_mediator_in_flight 0/);
});

test.serial('the admin pages answer HEAD as GET (load balancer checks) and other methods 405 with Allow', async (t) => {
  for (const path of ['/healthz', '/metrics']) {
    const head = await fetch(`${base}${path}`, { method: 'HEAD' });
    t.is(head.status, 200, path);
    t.is(await head.text(), '');
    const post = await fetch(`${base}${path}`, { method: 'POST', body: '{}' });
    t.is(post.status, 405, path);
    t.is(post.headers.get('allow'), 'GET, HEAD');
  }
});

test.serial('registry reload: a valid file is applied, an invalid one refused and the old one kept', async (t) => {
  const saved = JSON.parse(JSON.stringify(env.apps)) as typeof env.apps;
  try {
    const without = JSON.parse(JSON.stringify(env.apps)) as typeof env.apps;
    delete without.apps[FCM_APP];
    env.writeApps(without);
    const r1 = med.reload();
    t.like(r1, { ok: true, removed: [FCM_APP], added: [], changed: [] });
    t.is((await post(requestFor('NotifyTextMessage', FCM_APP, fcmToken()))).json.field, 'appId');
    env.writeApps('{"apps": {"x": {"platform": "apns"');
    const r2 = med.reload();
    t.false(r2.ok);
    t.is((await post(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()))).status, 200, 'old registry still serves');
  } finally {
    env.writeApps(saved);
    t.true(med.reload().ok);
  }
  t.is((await post(requestFor('NotifyTextMessage', FCM_APP, fcmToken()))).status, 200);
});

test.serial('a full mediator answers retry-later at once (bounded in-flight work)', async (t) => {
  const small = await startMediator(config({ maxInFlight: 2 }), log);
  env.apns.delayMs = 300;
  try {
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`http://127.0.0.1:${small.port}/v1/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken())),
        }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), json: (await r.json()) as PushResponse })),
      ),
    );
    t.is(results.filter((r) => r.status === 200).length, 2);
    const busy = results.filter((r) => r.status === 503);
    t.is(busy.length, 4);
    t.true(busy.every((r) => r.retryAfter === '1' && r.json.outcome === 'retry-later'));
  } finally {
    env.apns.delayMs = 0;
    await small.shutdown(1000);
  }
});

test.serial('shutdown: in-flight pushes finish and are answered, then the port is closed', async (t) => {
  const m2 = await startMediator(config(), log);
  env.apns.delayMs = 200;
  try {
    const inflight = Array.from({ length: 20 }, () =>
      fetch(`http://127.0.0.1:${m2.port}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken())),
      }).then((r) => r.status),
    );
    for (let i = 0; i < 200 && m2.dispatcher.inFlight < 20; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(m2.dispatcher.inFlight, 20);
    await m2.shutdown(5000);
    t.deepEqual(await Promise.all(inflight), new Array(20).fill(200));
    await t.throwsAsync(fetch(`http://127.0.0.1:${m2.port}/healthz`));
  } finally {
    env.apns.delayMs = 0;
  }
});

test.serial('shutdown past the grace period answers the rest retry-later (no request without an answer)', async (t) => {
  const m3 = await startMediator(config(), log);
  env.apns.delayMs = 2000;
  try {
    const inflight = Array.from({ length: 10 }, () =>
      fetch(`http://127.0.0.1:${m3.port}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), requestId: randomUUID() }),
      }).then((r) => r.status),
    );
    for (let i = 0; i < 200 && m3.dispatcher.inFlight < 10; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(m3.dispatcher.inFlight, 10);
    await m3.shutdown(100);
    t.deepEqual(await Promise.all(inflight), new Array(10).fill(503));
  } finally {
    env.apns.delayMs = 0;
  }
});
