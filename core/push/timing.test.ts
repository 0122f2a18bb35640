/**
 * sipis's push client and the mediator, as shipped: the client must wait for the mediator's
 * answer. The mediator answers every push within its deadline (retry-later with a Retry-After
 * when APNs/FCM fail); a client attempt that gives up sooner hears none of that and sends the
 * same push again while the mediator still works on the first.
 */
import test from 'ava';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import pino from 'pino';
import { DEFAULTS as MEDIATOR_DEFAULTS } from '../../mediator/config.js';
import { startMediator } from '../../mediator/mediator.js';
import { API_KEY, APNS_TOKEN_APP, apnsToken, makePushEnv } from '../../fixtures/push/env.js';
import { defaultConfig } from '../server/config.js';
import { PUSH_CLIENT_DEFAULTS, PushClient } from './client.js';

const log = pino({ level: 'silent' });
/** The answer's trip over HTTP and an event loop late on a loaded host. */
const MARGIN_MS = 500;

test('defaults: the mediator answers within its deadline, well before sipis gives up an attempt', (t) => {
  const deadline = MEDIATOR_DEFAULTS.deadlineMs;
  t.true(deadline + MARGIN_MS <= PUSH_CLIENT_DEFAULTS.attemptTimeoutMs, `mediator deadlineMs ${deadline} vs push client attemptTimeoutMs ${PUSH_CLIENT_DEFAULTS.attemptTimeoutMs}`);
  const sipis = defaultConfig().push;
  t.true(deadline + MARGIN_MS <= sipis.attemptTimeoutS * 1000, `mediator deadlineMs ${deadline} vs sipis push.attemptTimeoutS ${sipis.attemptTimeoutS}`);
  t.true(MEDIATOR_DEFAULTS.attemptTimeoutMs < deadline, 'an APNs/FCM attempt leaves room for another inside the deadline');
});

test('defaults: during an APNs outage the client hears the mediator retry-later on its first attempt and sends the push once', async (t) => {
  const env = await makePushEnv();
  const sockets = new Set<Socket>();
  // APNs accepting TCP and never answering TLS: the slowest way for it to fail.
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  env.apps.apps[APNS_TOKEN_APP]!.endpoint = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  env.writeApps();
  const med = await startMediator({ ...MEDIATOR_DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent' }, log);
  const push = new PushClient({ url: `http://127.0.0.1:${med.port}`, apiKey: API_KEY, log });
  t.teardown(async () => {
    push.close();
    await med.shutdown(100);
    for (const s of sockets) s.destroy();
    silent.close();
    await env.cleanup();
  });
  // A deadline too short for a second attempt after the mediator's Retry-After (5 s).
  const r = await push.send('NotifyIncomingCall', { provider: 'apns', kind: 'voip', appId: APNS_TOKEN_APP, token: apnsToken() }, { callId: 'c', callerUri: 'sip:b@x' }, { deadlineMs: 6000 });
  t.is(r.outcome, 'retry-later', r.reason);
  t.is(r.attempts, 1);
  t.is(med.metrics.pushes.get({ verb: 'NotifyIncomingCall', platform: 'apns', outcome: 'retry-later' }), 1, 'the mediator worked on the push once');
});
