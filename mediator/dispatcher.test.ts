import test from 'ava';
import { pino } from 'pino';
import { requestFor } from '../fixtures/push/requests.js';
import type { Platform, PushAdapter, PushResult, PushSink } from './adapter.js';
import { Dispatcher, type DispatchSink } from './dispatcher.js';
import { MediatorMetrics } from './metrics.js';
import type { AppConfig, Registry } from './registry.js';

const log = pino({ level: 'silent' });
const APP = 'com.example.phone';
const TOKEN = 'ab'.repeat(32);

/** The one field the dispatcher reads of an app besides its id: the rest never leaves the fake adapter. */
function registry(platform: Platform = 'apns'): Registry {
  const app = { appId: APP, platform, fingerprint: 'x' } as unknown as AppConfig;
  return { file: 'apps.json', apps: new Map([[APP, app]]) };
}

class Collect implements DispatchSink {
  readonly got: Array<{ result: PushResult; platform: Platform | undefined }> = [];
  settle(result: PushResult, platform: Platform | undefined): void {
    this.got.push({ result, platform });
  }
}

function dispatcher(adapter: PushAdapter, maxInFlight = 10): Dispatcher {
  return new Dispatcher({ log, metrics: new MediatorMetrics(), maxInFlight, deadlineMs: 1000, attemptTimeoutMs: 500, adapterFactory: () => adapter }, registry());
}

const base = { platform: 'apns' as const, pending: 0, close: () => Promise.resolve() };

test('the callback form: one answer with the platform, in-flight back to 0, a second settle ignored', (t) => {
  const sinks: PushSink[] = [];
  const d = dispatcher({ ...base, send: () => Promise.reject(new Error('not used')), start: (_r, _d, s) => void sinks.push(s) });
  const c = new Collect();
  d.dispatch(requestFor('NotifyIncomingCall', APP, TOKEN), c);
  t.is(d.inFlight, 1);
  t.is(c.got.length, 0);
  sinks[0]!.settle({ outcome: 'delivered', pushId: 'p1' });
  sinks[0]!.settle({ outcome: 'delivered', pushId: 'p2' });
  t.deepEqual(c.got, [{ result: { outcome: 'delivered', pushId: 'p1' }, platform: 'apns' }]);
  t.is(d.inFlight, 0);
});

test('an adapter that throws from start still gives one retry-later answer', (t) => {
  const d = dispatcher({
    ...base,
    send: () => Promise.reject(new Error('not used')),
    start: () => {
      throw new Error('boom');
    },
  });
  const c = new Collect();
  d.dispatch(requestFor('NotifyIncomingCall', APP, TOKEN), c);
  t.is(c.got.length, 1);
  t.like(c.got[0]!.result, { outcome: 'retry-later', reason: 'internal error' });
  t.is(d.inFlight, 0);
});

test('the promise form is still served: a rejecting adapter gives retry-later', async (t) => {
  const d = dispatcher({ ...base, send: () => Promise.reject(new Error('boom')) });
  const c = new Collect();
  d.dispatch(requestFor('NotifyIncomingCall', APP, TOKEN), c);
  await new Promise((r) => setImmediate(r));
  t.is(c.got.length, 1);
  t.like(c.got[0]!.result, { outcome: 'retry-later', reason: 'internal error' });
  t.is(d.inFlight, 0);
});

test('beyond maxInFlight the answer is retry-later at once; unknown apps are rejected', (t) => {
  const d = dispatcher({ ...base, send: () => new Promise<PushResult>(() => {}), start: () => {} }, 2);
  const c = new Collect();
  for (let i = 0; i < 3; i++) d.dispatch(requestFor('NotifyIncomingCall', APP, TOKEN), c);
  t.is(d.inFlight, 2);
  t.deepEqual(c.got, [{ result: { outcome: 'retry-later', reason: 'mediator busy', retryAfterMs: 1000 }, platform: 'apns' }]);
  d.dispatch(requestFor('NotifyIncomingCall', 'com.example.other', TOKEN), c);
  t.like(c.got[1]!.result, { outcome: 'rejected', field: 'appId' });
});
