import test from 'ava';
import { parseUri } from '../sip/index.js';
import { featureCaps, hasPushParams, parsePushParams } from './pn-params.js';

const params = (uri: string) => parseUri(uri).params;
const VOIP = 'a'.repeat(64);
const REMOTE = 'b'.repeat(64);

test('RFC 8599 APNs: team id and .voip stripped from the bundle, the token is a voip one', (t) => {
  const r = parsePushParams(params(`sip:x@1.2.3.4;pn-provider=apns;pn-prid=${VOIP};pn-param=ABCD123456.com.example.phone.voip`));
  t.deepEqual(r, {
    ok: true,
    provider: 'apns',
    targets: [{ provider: 'apns', kind: 'voip', appId: 'com.example.phone', token: VOIP, param: 'ABCD123456.com.example.phone.voip' }],
  });
});

test('RFC 8599 APNs without .voip is a remote token; apns.dev is APNs', (t) => {
  const r = parsePushParams(params(`sip:x@h;pn-provider=apns.dev;pn-prid=${REMOTE};pn-param=ABCD123456.com.example.phone`));
  t.true(r.ok);
  if (r.ok) t.like(r.targets[0], { provider: 'apns', kind: 'remote', appId: 'com.example.phone' });
});

test('iOS 13 two tokens (Linphone form): VOIP:voip&REMOTE:remote with pn-param services', (t) => {
  const r = parsePushParams(params(`sip:x@h;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:remote;pn-param=ABCD123456.com.example.phone.voip&remote`));
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(
    r.targets.map((x) => [x.kind, x.token, x.appId]),
    [
      ['voip', VOIP, 'com.example.phone'],
      ['remote', REMOTE, 'com.example.phone'],
    ],
  );
  // without suffixes the pn-param services are taken in order
  const r2 = parsePushParams(params(`sip:x@h;pn-provider=apns;pn-prid=${VOIP}&${REMOTE};pn-param=ABCD123456.com.example.phone.voip&remote`));
  t.true(r2.ok && r2.targets[0]!.kind === 'voip' && r2.targets[1]!.kind === 'remote' && r2.targets[1]!.token === REMOTE);
  // two tokens of one kind, or more tokens than services, are refused
  t.like(parsePushParams(params(`sip:x@h;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:voip;pn-param=ABCD123456.b.voip`)), { ok: false, error: 'invalid' });
  t.like(parsePushParams(params(`sip:x@h;pn-provider=apns;pn-prid=${VOIP}&${REMOTE};pn-param=ABCD123456.b.voip`)), { ok: false, error: 'invalid' });
});

test('FCM: one remote token, app id from pn-param, mapped through appIds; ":" inside an FCM token is kept', (t) => {
  const tok = 'fXk1:APA91bHq-abc_def';
  const r = parsePushParams(params(`sip:x@h;pn-provider=fcm;pn-prid=${tok};pn-param=sipis-test`), { appIds: { 'sipis-test': 'com.example.android' } });
  t.deepEqual(r, { ok: true, provider: 'fcm', targets: [{ provider: 'fcm', kind: 'remote', appId: 'com.example.android', token: tok, param: 'sipis-test' }] });
});

test('legacy pn-type/app-id/pn-tok: apple with .voip, .prod suffix, firebase and google', (t) => {
  let r = parsePushParams(params(`sip:x@h;pn-type=apple;app-id=com.x.app.voip;pn-tok=${VOIP}`));
  t.true(r.ok && r.targets[0]!.kind === 'voip' && r.targets[0]!.appId === 'com.x.app' && r.targets[0]!.provider === 'apns');
  r = parsePushParams(params(`sip:x@h;pn-type=apple;app-id=com.x.app.voip.prod;pn-tok=${VOIP}`));
  t.true(r.ok && r.targets[0]!.kind === 'voip' && r.targets[0]!.appId === 'com.x.app');
  r = parsePushParams(params(`sip:x@h;pn-type=apple;app-id=com.x.app;pn-tok=${REMOTE}`));
  t.true(r.ok && r.targets[0]!.kind === 'remote');
  for (const type of ['firebase', 'google']) {
    r = parsePushParams(params(`sip:x@h;pn-type=${type};app-id=com.x.android;pn-tok=tok123`));
    t.true(r.ok && r.targets[0]!.provider === 'fcm' && r.targets[0]!.appId === 'com.x.android', type);
  }
});

test('unknown provider is unsupported; a bad token or missing pn-param is invalid; no params = no targets', (t) => {
  t.like(parsePushParams(params('sip:x@h;pn-provider=webpush;pn-prid=abc;pn-param=x')), { ok: false, error: 'unsupported', provider: 'webpush' });
  t.like(parsePushParams(params('sip:x@h;pn-type=blackberry;pn-tok=abc')), { ok: false, error: 'unsupported' });
  t.like(parsePushParams(params('sip:x@h;pn-provider=apns;pn-prid=a%20b;pn-param=ABCD123456.b')), { ok: false, error: 'invalid' });
  t.like(parsePushParams(params('sip:x@h;pn-provider=apns;pn-prid=abc')), { ok: false, error: 'invalid' });
  t.like(parsePushParams(params('sip:x@h;pn-prid=abc')), { ok: false, error: 'invalid' });
  t.deepEqual(parsePushParams(params('sip:x@h;pn-provider=fcm')), { ok: true, targets: [], provider: 'fcm' });
  t.deepEqual(parsePushParams(params('sip:x@h;transport=tcp')), { ok: true, targets: [] });
  t.false(hasPushParams(params('sip:x@h;transport=tcp')));
});

test('what a token is checked for (README "Push parameters"): alphabet and length only, not its form', (t) => {
  // neither 64 hex digits for APNs nor an FCM registration id is required: the provider judges
  t.like(parsePushParams(params('sip:x@h;pn-provider=apns;pn-prid=zz;pn-param=ABCD123456.b.voip')), { ok: true, targets: [{ token: 'zz' }] });
  t.like(parsePushParams(params(`sip:x@h;pn-provider=fcm;pn-prid=${'t'.repeat(512)};pn-param=p`)), { ok: true });
  t.like(parsePushParams(params(`sip:x@h;pn-provider=fcm;pn-prid=${'t'.repeat(513)};pn-param=p`)), { ok: false, error: 'invalid' });
  t.like(parsePushParams(params('sip:x@h;pn-provider=apns;pn-prid=a&b&c;pn-param=ABCD123456.b.voip&remote')), { ok: false, reason: 'more than two push tokens' });
  t.like(parsePushParams(params('sip:x@h;pn-provider=fcm;pn-prid=a&b;pn-param=p')), { ok: false, reason: 'FCM takes one token' });
  t.like(parsePushParams(params('sip:x@h;pn-provider=apns;pn-prid=a;pn-param=ABCD123456.b&video')), { ok: false, error: 'invalid' });
});

test('Feature-Caps value (RFC 8599 §12.1 with RFC 6809 syntax)', (t) => {
  t.is(featureCaps(['apns']), '*;+sip.pns="apns"');
  t.is(featureCaps(['apns', 'fcm']), '*;+sip.pns="apns,fcm"');
});
