import test from 'ava';
import { PUSH_VERBS, tokenKindOf, validatePushRequest, type PushRequest } from './protocol.js';

const ok = {
  verb: 'NotifyIncomingCall',
  appId: 'com.example.phone',
  deviceToken: 'ab'.repeat(32),
  selector: 'alice@example.com',
  requestId: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
  payload: { callId: 'c1', callerUri: 'sip:bob@example.com', callerName: 'Bob' },
};

const field = (body: unknown) => {
  const r = validatePushRequest(body);
  return r.ok ? 'ok' : r.field;
};

test('a well-formed request passes and keeps its fields', (t) => {
  const r = validatePushRequest(ok);
  t.true(r.ok);
  if (r.ok) {
    t.is(r.request.verb, 'NotifyIncomingCall');
    t.is(tokenKindOf(r.request), 'voip');
  }
});

test('eight verbs, with the Acrobits names', (t) => {
  t.is(PUSH_VERBS.length, 8);
  t.true(PUSH_VERBS.includes('NotifyIncomingCallAnsweredElsewhere'));
  t.true(PUSH_VERBS.includes('NotifyInstanceOff'));
});

test('each rejection names the offending field', (t) => {
  t.is(field(null), '(body)');
  t.is(field([1]), '(body)');
  t.is(field({ ...ok, verb: 'NotifyNothing' }), 'verb');
  t.is(field({ ...ok, verb: undefined }), 'verb');
  t.is(field({ ...ok, appId: '' }), 'appId');
  t.is(field({ ...ok, deviceToken: 'a b' }), 'deviceToken');
  t.is(field({ ...ok, deviceToken: 'a'.repeat(513) }), 'deviceToken');
  t.is(field({ ...ok, tokenKind: 'pushkit' }), 'tokenKind');
  t.is(field({ ...ok, selector: 5 }), 'selector');
  t.is(field({ ...ok, requestId: 'not-a-uuid' }), 'requestId');
  // the UUID text form exactly: hex digits in 8-4-4-4-12, either case
  for (const bad of ['7d444840-9dc0-11d1-b245-5ffdce74fad', '7d444840-9dc0-11d1-b245-5ffdce74fad2a', '7d444840x9dc0-11d1-b245-5ffdce74fad2', '7d444840-9dc0-11d1-b245-5ffdce74fag2', '7d444840-9dc0-11d1-b245-5ffdce74fa:2']) {
    t.is(field({ ...ok, requestId: bad }), 'requestId', bad);
  }
  t.is(field({ ...ok, requestId: '7D444840-9DC0-11D1-B245-5FFDCE74FAD2' }), 'ok');
  for (const bad of ['tok/en', 'tök', 'tok\u0000', 'tok=']) t.is(field({ ...ok, deviceToken: bad }), 'deviceToken', bad);
  t.is(field({ ...ok, deviceToken: 'APA91b:abc_DEF-0.9' }), 'ok', 'FCM registration ids');
  t.is(field({ ...ok, payload: 'x' }), 'payload');
  t.is(field({ ...ok, payload: { callerUri: 'sip:b@x' } }), 'payload.callId');
  t.is(field({ ...ok, payload: { ...ok.payload, colour: 'red' } }), 'payload.colour');
  t.is(field({ ...ok, payload: { ...ok.payload, callerName: 'x'.repeat(3000) } }), 'payload.callerName');
  t.is(field({ ...ok, extra: 1 }), 'extra');
  t.is(field({ ...ok, verb: 'NotifyIncomingCallMissed', payload: { ...ok.payload, badge: -1 } }), 'payload.badge');
  t.is(field({ ...ok, verb: 'NotifyIncomingCallMissed', payload: { ...ok.payload, badge: 1.5 } }), 'payload.badge');
  t.is(field({ ...ok, verb: 'NotifyExpiryWarning', payload: { expiresAt: 'tomorrow' } }), 'payload.expiresAt');
  t.is(field({ ...ok, verb: 'NotifyGenericTextMessage', payload: { text: '' } }), 'payload.text');
});

test('verbs without required payload fields accept an absent payload', (t) => {
  const r = validatePushRequest({ ...ok, verb: 'NotifyReprovision', payload: undefined });
  t.true(r.ok);
  if (r.ok) {
    t.deepEqual(r.request.payload, {});
    t.is(tokenKindOf(r.request as PushRequest), 'remote');
  }
});
