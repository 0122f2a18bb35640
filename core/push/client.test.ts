import test from 'ava';
import pino from 'pino';
import { startMediator, type Mediator } from '../../mediator/mediator.js';
import { DEFAULTS } from '../../mediator/config.js';
import { freeTcpPort } from '../../fixtures/net.js';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { API_KEY, APNS_TOKEN_APP, FCM_APP, TEAM_ID, apnsToken, fcmToken, makePushEnv, type PushEnv } from '../../fixtures/push/env.js';
import { ALICE, makeRig, type Rig } from '../registrar/testing/harness.js';
import { PushClient, type PushClientOptions } from './client.js';

const log = pino({ level: 'silent' });
let pg: PostgresCluster;
let env: PushEnv;
let med: Mediator;
let url: string;

test.before(async () => {
  [pg, env] = await Promise.all([startPostgres(), makePushEnv()]);
  med = await startMediator({ ...DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent', deadlineMs: 1500 }, log);
  url = `http://127.0.0.1:${med.port}`;
});
test.after.always(async () => {
  await med?.shutdown(100);
  await env?.cleanup();
  await pg?.stop();
});

async function rigWithClient(t: { teardown(fn: () => void | Promise<void>): void }, over: Partial<PushClientOptions> = {}): Promise<{ rig: Rig; push: PushClient }> {
  const rig = await makeRig(pg);
  const push = new PushClient({ url, apiKey: API_KEY, registrar: rig.registrar, log, ...over });
  t.teardown(async () => {
    push.close();
    await rig.close();
  });
  return { rig, push };
}

const iosContact = (voip: string, remote: string, n = 1) =>
  `<sip:alice@10.0.0.${n};pn-provider=apns;pn-prid=${voip}:voip&${remote}:remote;pn-param=${TEAM_ID}.${APNS_TOKEN_APP}.voip&remote>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-00000000000${n}>"`;
const fcmContact = (tok: string) => `<sip:alice@10.0.0.9;pn-provider=fcm;pn-prid=${tok};pn-param=${FCM_APP}>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-000000000009>"`;

test.serial('sendToAccount: the VoIP token for a call on iOS, the remote one for a text, the FCM token for both; all delivered', async (t) => {
  const { rig, push } = await rigWithClient(t);
  const [voip, remote, fcm] = [apnsToken(), apnsToken(), fcmToken()];
  t.is((await rig.phone().register({ contacts: [iosContact(voip, remote)], auth: ALICE })).status, 200);
  t.is((await rig.phone().register({ contacts: [fcmContact(fcm)], auth: ALICE })).status, 200);
  const sentBefore = env.apns.received.length;
  const calls = await push.sendToAccount('NotifyIncomingCall', rig.accountId, { callId: 'c1@x', callerUri: 'sip:bob@provider.test', callerName: 'Bob' });
  t.deepEqual(calls.map((c) => c.result.outcome), ['delivered', 'delivered']);
  t.true(calls.every((c) => typeof c.result.pushId === 'string' && c.result.attempts === 1));
  const apnsCall = env.apns.received.slice(sentBefore);
  t.deepEqual(apnsCall.map((r) => [r.token, r.topic, r.pushType]), [[voip, `${APNS_TOKEN_APP}.voip`, 'voip']]);
  t.true(env.fcm.received.some((r) => JSON.stringify(r).includes(fcm)));
  const texts = await push.sendToAccount('NotifyTextMessage', rig.accountId, { senderUri: 'sip:bob@provider.test', preview: 'hi' });
  t.deepEqual(texts.map((c) => c.result.outcome), ['delivered', 'delivered']);
  t.is(env.apns.received.at(-1)!.token, remote);
  t.is(push.metrics.count('NotifyIncomingCall', 'delivered'), 2);
  t.is(push.metrics.latencyCount, 4);
  const fam = push.metricFamilies();
  const pushes = fam.find((f) => f.name === 'sipis_pushes_total');
  t.deepEqual(pushes?.type === 'counter' ? pushes.samples.find((s) => s.labels?.verb === 'NotifyIncomingCall') : undefined, { labels: { verb: 'NotifyIncomingCall', outcome: 'delivered' }, value: 2 });
  const latency = fam.find((f) => f.name === 'sipis_push_duration_seconds');
  t.is(latency?.type === 'histogram' ? latency.cumulative.at(-1) : undefined, 4);
});

test.serial('token dead (mediator 404): the token is dropped, then the binding once it has none left', async (t) => {
  const { rig, push } = await rigWithClient(t);
  const [voip, remote] = [apnsToken(), apnsToken()];
  await rig.phone().register({ contacts: [iosContact(voip, remote)], auth: ALICE });
  env.apns.deadTokens.add(voip);
  const r1 = await push.sendToAccount('NotifyIncomingCall', rig.accountId, { callId: 'c2@x', callerUri: 'sip:bob@provider.test' });
  t.is(r1[0]!.result.outcome, 'token-dead');
  const b = rig.registrar.bindingsOf(rig.accountId);
  t.deepEqual(b[0]!.pushTargets.map((x) => x.token), [remote], 'VoIP token dropped, remote kept');
  // the next call push falls back to the remote token (an alert push)
  env.apns.deadTokens.add(remote);
  const r2 = await push.sendToAccount('NotifyIncomingCall', rig.accountId, { callId: 'c3@x', callerUri: 'sip:bob@provider.test' });
  t.is(r2[0]!.result.outcome, 'token-dead');
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
  t.is((await rig.store.devices.listBindings(Number(rig.accountId))).length, 0);
});

test.serial('mediator down: bounded retries with backoff, then failed within the deadline', async (t) => {
  const port = await freeTcpPort();
  const push = new PushClient({ url: `http://127.0.0.1:${port}`, apiKey: API_KEY, backoffBaseMs: 20, backoffMaxMs: 100, maxAttempts: 4, deadlineMs: 3000 });
  t.teardown(() => push.close());
  const r = await push.send('NotifyIncomingCall', { provider: 'apns', kind: 'voip', appId: APNS_TOKEN_APP, token: apnsToken() }, { callId: 'c', callerUri: 'sip:b@x' });
  t.is(r.outcome, 'failed');
  t.is(r.attempts, 4);
  t.regex(r.reason!, /unreachable/);
  t.is(push.metrics.retries, 3);
  // a short deadline ends it sooner, with fewer attempts
  const short = await push.send('NotifyIncomingCall', { provider: 'apns', kind: 'voip', appId: APNS_TOKEN_APP, token: apnsToken() }, { callId: 'c', callerUri: 'sip:b@x' }, { deadlineMs: 30 });
  t.is(short.outcome, 'failed');
  t.true(short.attempts >= 1 && short.attempts < 4);
});

test.serial('retry-later from a busy mediator is retried after its Retry-After, then delivered', async (t) => {
  const small = await startMediator({ ...DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent', maxInFlight: 1 }, log);
  const push = new PushClient({ url: `http://127.0.0.1:${small.port}`, apiKey: API_KEY, deadlineMs: 8000 });
  // long enough that the second push surely arrives while the first holds the only slot
  env.apns.delayMs = 1500;
  t.teardown(async () => {
    env.apns.delayMs = 0;
    push.close();
    await small.shutdown(100);
  });
  const target = () => ({ provider: 'apns', kind: 'voip' as const, appId: APNS_TOKEN_APP, token: apnsToken() });
  const rs = await Promise.all([0, 1].map(() => push.send('NotifyIncomingCall', target(), { callId: 'c', callerUri: 'sip:b@x' })));
  t.deepEqual(rs.map((r) => r.outcome), ['delivered', 'delivered']);
  const [a, b] = rs.map((r) => r.attempts).sort((x, y) => x - y);
  t.is(a, 1);
  t.true(b! >= 2, 'the push that met a full mediator was retried');
  t.true(push.metrics.retries >= 1);
});

test.serial('a hanging mediator (APNs does not answer): attempts time out, the queue is bounded (full = failed at once), and REGISTERs are still answered', async (t) => {
  const { rig, push } = await rigWithClient(t, { maxQueue: 2, attemptTimeoutMs: 200, deadlineMs: 3000, backoffBaseMs: 50, maxAttempts: 20 });
  env.apns.delayMs = 3000;
  t.teardown(() => {
    env.apns.delayMs = 0;
  });
  await rig.phone().register({ contacts: [iosContact(apnsToken(), apnsToken())], auth: ALICE });
  await rig.phone().register({ contacts: [iosContact(apnsToken(), apnsToken(), 2)], auth: ALICE });
  const payload = { callId: 'c4@x', callerUri: 'sip:bob@provider.test' };
  const inFlight = push.sendToAccount('NotifyIncomingCall', rig.accountId, payload);
  t.is(push.size, 2);
  const full = await push.send('NotifyIncomingCall', rig.registrar.bindingsOf(rig.accountId)[0]!, payload);
  t.deepEqual([full.outcome, full.reason, full.attempts], ['failed', 'push queue full', 0]);
  // SIP goes on while the pushes hang
  const reg = await rig.phone().register({ contacts: ['<sip:alice@10.0.0.7>'], auth: ALICE });
  t.is(reg.status, 200);
  t.is(push.size, 2, 'the pushes are still pending when the REGISTER is answered');
  const done = await inFlight;
  t.deepEqual(done.map((d) => d.result.outcome), ['failed', 'failed']);
  t.true(done.every((d) => /no answer from the mediator within/.test(d.result.reason ?? '')), JSON.stringify(done.map((d) => d.result)));
  t.is(push.metrics.queueFull, 1);
});

test('bad options are typed errors; a device without a fitting token is rejected without a request', async (t) => {
  t.throws(() => new PushClient({ url: 'ftp://x', apiKey: 'k' }), { code: 'ERR_PUSH_CONFIG' });
  t.throws(() => new PushClient({ url: 'not a url', apiKey: 'k' }), { code: 'ERR_PUSH_CONFIG' });
  t.throws(() => new PushClient({ url: 'http://127.0.0.1:1', apiKey: '' }), { code: 'ERR_PUSH_CONFIG' });
  t.throws(() => new PushClient({ url: 'http://127.0.0.1:1', apiKey: 'k', concurrency: 0 }), { code: 'ERR_PUSH_CONFIG' });
  const push = new PushClient({ url: 'http://127.0.0.1:1', apiKey: 'k' });
  t.teardown(() => push.close());
  const binding = {
    id: '1',
    accountId: '1',
    instanceId: 'i',
    contact: 'sip:a@b',
    path: [],
    flow: { transport: 'udp', source: '1.2.3.4:5', viaBridge: false, via: '1.2.3.4:5' },
    expiresAt: Date.now() + 1000,
    lastSeen: Date.now(),
    pushTargets: [{ provider: 'apns', kind: 'voip' as const, appId: 'a', token: 'abc' }],
  };
  // a text may not go to a PushKit token
  const r = await push.send('NotifyTextMessage', binding, { senderUri: 'sip:x@y' });
  t.is(r.outcome, 'rejected');
  t.is(r.attempts, 0);
});
