import test from 'ava';
import { pino } from 'pino';
import { API_KEY, APNS_TOKEN_APP, FCM_APP, apnsToken, fcmToken, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { requestFor } from '../fixtures/push/requests.js';
import { BATCH_PATH, MAX_BATCH_REQUESTS } from './batch.js';
import { DEFAULTS, type MediatorConfig } from './config.js';
import { startMediator, type Mediator } from './mediator.js';

const log = pino({ level: 'silent' });
let env: PushEnv;
let med: Mediator;
let base: string;

test.before(async () => {
  env = await makePushEnv();
  const config: MediatorConfig = { ...DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent', deadlineMs: 1500 };
  med = await startMediator(config, log);
  base = `http://127.0.0.1:${med.port}`;
});
test.after.always(async () => {
  await med?.shutdown(100);
  await env?.cleanup();
});

interface Result {
  status: number;
  outcome: string;
  requestId?: string;
  pushId?: string;
  platform?: string;
  reason?: string;
  field?: string;
}

async function postBatch(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${BATCH_PATH}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as { results?: Result[]; outcome?: string; field?: string } };
}

test.serial('a batch: every request its own answer, in order, with the status /v1/push would have sent', async (t) => {
  const dead = apnsToken();
  env.apns.deadTokens.add(dead);
  const ok1 = requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken());
  const gone = requestFor('NotifyIncomingCall', APNS_TOKEN_APP, dead);
  const bad = { ...requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), payload: { callId: 'c1' } };
  const unknown = requestFor('NotifyIncomingCall', 'com.example.nobody', apnsToken());
  const ok2 = requestFor('NotifyTextMessage', FCM_APP, fcmToken());
  const voipText = requestFor('NotifyTextMessage', APNS_TOKEN_APP, apnsToken(), 'voip');
  const before = med.metrics.pushes.cell({ verb: 'NotifyIncomingCall', platform: 'apns', outcome: 'delivered' }).value;
  const res = await postBatch({ requests: [ok1, gone, bad, unknown, ok2, voipText] });
  t.is(res.status, 200);
  const r = res.json.results!;
  t.is(r.length, 6);
  t.deepEqual(r[0], { status: 200, outcome: 'delivered', requestId: ok1.requestId, pushId: ok1.requestId, platform: 'apns' });
  t.like(r[1], { status: 404, outcome: 'token-dead', requestId: gone.requestId, reason: 'apns: Unregistered' });
  t.like(r[2], { status: 400, outcome: 'rejected', field: 'payload.callerUri' });
  t.like(r[3], { status: 400, outcome: 'rejected', field: 'appId', requestId: unknown.requestId });
  t.like(r[4], { status: 200, outcome: 'delivered', requestId: ok2.requestId, platform: 'fcm' });
  t.like(r[5], { status: 400, outcome: 'rejected', field: 'tokenKind', requestId: voipText.requestId });
  t.is(med.metrics.pushes.cell({ verb: 'NotifyIncomingCall', platform: 'apns', outcome: 'delivered' }).value, before + 1, 'each request counted as a push');
  t.is(med.dispatcher.inFlight, 0);
});

test.serial('a bad batch is refused whole, with the field at fault; the single endpoint is unchanged', async (t) => {
  const one = requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken());
  const cases: Array<[unknown, number, string]> = [
    ['[1,2]', 400, '(body)'],
    ['{"requests":', 400, '(body)'],
    [{ requests: [] }, 400, 'requests'],
    [{ requests: one }, 400, 'requests'],
    [{ requests: [one], extra: 1 }, 400, 'extra'],
    [{ requests: Array.from({ length: MAX_BATCH_REQUESTS + 1 }, () => one) }, 400, 'requests'],
  ];
  for (const [body, status, field] of cases) {
    const res = await postBatch(body);
    t.is(res.status, status, JSON.stringify(body).slice(0, 60));
    t.is(res.json.outcome, 'rejected');
    t.is(res.json.field, field);
  }
  t.is((await postBatch({ requests: [one] }, { authorization: 'Bearer wrong-key-0123456789' })).status, 401);
  t.is((await postBatch({ requests: [one] }, { 'content-type': 'text/plain' })).status, 415);
  // Over 16 × maxBodyBytes (8 KiB): 413, as a single request over its limit.
  t.is((await postBatch({ requests: [{ ...one, selector: 'x'.repeat(140_000) }] })).status, 413);
  // A batch body on the single endpoint is a single request with unknown fields.
  const single = await fetch(`${base}/v1/push`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ requests: [one] }),
  });
  t.is(single.status, 400);
});

test.serial('a batch of 64 delivered pushes', async (t) => {
  const reqs = Array.from({ length: MAX_BATCH_REQUESTS }, () => requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()));
  const res = await postBatch({ requests: reqs });
  t.is(res.status, 200);
  t.deepEqual(
    res.json.results!.map((r) => [r.status, r.requestId]),
    reqs.map((r) => [200, r.requestId]),
  );
});

test.serial('shutdown past the grace period: a batch in flight is answered, each request retry-later', async (t) => {
  const config: MediatorConfig = { ...DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent', deadlineMs: 5000 };
  const m = await startMediator(config, log);
  env.apns.delayMs = 3000;
  try {
    const reqs = [requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken()), requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken())];
    const pending = fetch(`http://127.0.0.1:${m.port}${BATCH_PATH}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: reqs }),
    });
    while (m.dispatcher.inFlight < 2) await new Promise((r) => setTimeout(r, 10));
    await m.shutdown(100);
    const res = await pending;
    t.is(res.status, 200);
    const body = (await res.json()) as { results: Result[] };
    t.deepEqual(
      body.results.map((r) => [r.status, r.outcome, r.requestId]),
      reqs.map((r) => [503, 'retry-later', r.requestId]),
    );
  } finally {
    env.apns.delayMs = 0;
  }
});
