import test from 'ava';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { AuthGuard } from './auth-guard.js';
import type { Binding, RemovalReason } from './types.js';
import { ALICE, DOMAIN, makeRig, type Rig } from './testing/harness.js';

let pg: PostgresCluster;
test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

const VOIP = 'a1'.repeat(32);
const REMOTE = 'b2'.repeat(32);
const inst = (n: number) => `"<urn:uuid:00000000-0000-4000-8000-00000000000${n}>"`;

async function withRig(t: { teardown(fn: () => Promise<void>): void }, over = {}): Promise<Rig> {
  const rig = await makeRig(pg, over);
  t.teardown(() => rig.close());
  return rig;
}

function events(rig: Rig) {
  const registered: Array<[Binding, boolean]> = [];
  const removed: Array<[Binding, RemovalReason]> = [];
  rig.registrar.on('registered', (b, i) => registered.push([b, i.refresh]));
  rig.registrar.on('removed', (b, r) => removed.push([b, r]));
  return { registered, removed };
}

test('401 offers MD5 then SHA-256 for the sipis realm; both algorithms authenticate', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  const c401 = await phone.send({ contacts: ['<sip:alice@10.0.0.1:5062>'] });
  t.is(c401.status, 401);
  const ch = c401.wwwAuthenticate;
  t.deepEqual(ch.map((c) => c.params.get('algorithm')), ['MD5', 'SHA-256']);
  t.true(ch.every((c) => c.params.get('realm') === DOMAIN && c.params.get('qop') === 'auth'));
  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    const ok = await phone.register({ contacts: ['<sip:alice@10.0.0.1:5062>'], auth: { ...ALICE, algorithm } });
    t.is(ok.status, 200, algorithm);
    t.is(ok.contact.length, 1);
    t.is(ok.contact[0]!.expires, 3600);
    t.is(ok.header('Feature-Caps'), '*;+sip.pns="apns,fcm"');
  }
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 1);
});

test('wrong password → 403; unknown account → 403; foreign nonce → 401; expired nonce with the right password → 401 stale=true', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: { username: 'alice', password: 'nope' } })).status, 403);
  const stranger = rig.phone('127.0.0.1', 'sip:carol@provider.test');
  t.is((await stranger.register({ contacts: ['<sip:carol@10.0.0.1>'], auth: { username: 'carol', password: 'x' } })).status, 403);
  // a username that is not the account's
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: { username: 'bob', password: 'bob-secret' } })).status, 403);
  // a nonce we never minted
  const forged = `Digest username="alice", realm="${DOMAIN}", nonce="${'A'.repeat(70)}", uri="sip:${DOMAIN}", response="${'0'.repeat(32)}", qop=auth, nc=00000001, cnonce="abc"`;
  t.is((await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] }, forged)).status, 401);
  // credentials computed for another Request-URI
  const chal = await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] });
  const other = phone.authorize(chal, ALICE).replace(`uri="sip:${DOMAIN}"`, 'uri="sip:elsewhere.test"');
  const mism = await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] }, other);
  t.is(mism.status, 400);
  // stale: the nonce is older than its TTL (300 s)
  const c401 = await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] });
  const auth = phone.authorize(c401, ALICE);
  rig.clock.now += 301_000;
  const stale = await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] }, auth);
  t.is(stale.status, 401);
  t.is(stale.wwwAuthenticate[0]!.params.get('stale'), 'true');
  t.is(rig.registrar.counters.forbidden, 3);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
});

test('RFC 8599 params: binding with its push target, stored with the token; Feature-Caps names the provider', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  const phone = rig.phone();
  const res = await phone.register({
    contacts: [`<sip:alice@10.0.0.1:5062;pn-provider=apns;pn-prid=${VOIP};pn-param=ABCD123456.com.example.phone.voip>;+sip.instance=${inst(1)}`],
    headers: ['User-Agent: TestPhone/1.0'],
    auth: ALICE,
  });
  t.is(res.status, 200);
  t.is(res.header('Feature-Caps'), '*;+sip.pns="apns"');
  t.regex(res.header('Contact')!, /pn-prid=a1a1.*;expires=3600;\+sip\.instance="<urn:uuid:/);
  const [b] = rig.registrar.bindingsOf(rig.accountId);
  t.like(b, { instanceId: 'urn:uuid:00000000-0000-4000-8000-000000000001', userAgent: 'TestPhone/1.0', path: [], flow: { transport: 'udp', viaBridge: false, source: `127.0.0.1:${phone.local.port}` } });
  t.deepEqual(b!.pushTargets, [{ provider: 'apns', kind: 'voip', appId: 'com.example.phone', token: VOIP, param: 'ABCD123456.com.example.phone.voip' }]);
  const [d] = await rig.store.devices.listBindings(Number(rig.accountId));
  t.like(d!.pushTokens[0], { kind: 'voip', provider: 'apns', appId: 'com.example.phone', token: VOIP, deadAt: null });
  t.deepEqual(ev.registered.map(([x, refresh]) => [x.id, refresh]), [[b!.id, false]]);
  // a refresh is a 'registered' event with refresh = true
  await phone.register({ contacts: [`<sip:alice@10.0.0.1:5062;pn-provider=apns;pn-prid=${VOIP};pn-param=ABCD123456.com.example.phone.voip>;+sip.instance=${inst(1)}`], auth: ALICE });
  t.deepEqual(ev.registered.map(([, refresh]) => refresh), [false, true]);
});

test('legacy pn-type/app-id/pn-tok and the iOS two-token form; tokens a REGISTER no longer names are dropped', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  t.is((await phone.register({ contacts: [`<sip:alice@10.0.0.1;pn-type=apple;app-id=com.x.app.voip;pn-tok=${VOIP}>;+sip.instance=${inst(1)}`], auth: ALICE })).status, 200);
  t.like(rig.registrar.bindingsOf(rig.accountId)[0]!.pushTargets[0], { provider: 'apns', kind: 'voip', appId: 'com.x.app' });
  const two = `<sip:alice@10.0.0.1;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:remote;pn-param=ABCD123456.com.x.app.voip&remote>;+sip.instance=${inst(1)}`;
  t.is((await phone.register({ contacts: [two], auth: ALICE })).status, 200);
  const b = rig.registrar.bindingsOf(rig.accountId)[0]!;
  t.deepEqual(b.pushTargets.map((x) => [x.kind, x.token]), [['voip', VOIP], ['remote', REMOTE]]);
  let [d] = await rig.store.devices.listBindings(Number(rig.accountId));
  t.deepEqual(d!.pushTokens.map((x) => x.kind), ['remote', 'voip']);
  // the phone drops its remote token: the row goes too
  t.is((await phone.register({ contacts: [`<sip:alice@10.0.0.1;pn-type=apple;app-id=com.x.app.voip;pn-tok=${VOIP}>;+sip.instance=${inst(1)}`], auth: ALICE })).status, 200);
  [d] = await rig.store.devices.listBindings(Number(rig.accountId));
  t.deepEqual(d!.pushTokens.map((x) => x.kind), ['voip']);
});

test('an unknown push provider gets 555 with Feature-Caps; a bad token 400; nothing is bound', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  const r = await phone.register({ contacts: ['<sip:alice@10.0.0.1;pn-provider=webpush;pn-prid=abc;pn-param=x>'], auth: ALICE });
  t.is(r.status, 555);
  t.is(r.reason, 'Push Notification Service Not Supported');
  t.is(r.header('Feature-Caps'), '*;+sip.pns="apns,fcm"');
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1;pn-provider=apns;pn-prid=a%2Fb;pn-param=ABCD123456.x>'], auth: ALICE })).status, 400);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
  t.is(rig.registrar.counters.unsupportedPush, 1);
  t.is(rig.registrar.metricFamilies().find((f) => f.name === 'sipis_device_register_unsupported_push_total')!.samples[0]!.value, 1);
});

test('several devices per account: the 200 lists every binding; Expires 0 removes one; Contact * removes all', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  const p1 = rig.phone();
  const p2 = rig.phone();
  t.is((await p1.register({ contacts: [`<sip:alice@10.0.0.1>;+sip.instance=${inst(1)}`], expires: 600, auth: ALICE })).status, 200);
  const r2 = await p2.register({ contacts: [`<sip:alice@10.0.0.2;pn-provider=fcm;pn-prid=tok:APA91b-x;pn-param=proj>;+sip.instance=${inst(2)}`], auth: ALICE });
  t.is(r2.status, 200);
  t.deepEqual(r2.contact.map((c) => [c.uri.host, c.expires]).sort(), [['10.0.0.1', 600], ['10.0.0.2', 3600]]);
  // a contact without +sip.instance is keyed by its URI
  t.is((await p2.register({ contacts: ['<sip:alice@10.0.0.3>'], auth: ALICE })).status, 200);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 3);
  t.true(rig.registrar.bindingsOf(rig.accountId).some((b) => b.instanceId === 'sip:alice@10.0.0.3'));
  // bob's bindings are his own
  const bob = rig.phone('127.0.0.1', 'sip:bob@provider.test');
  t.is((await bob.register({ contacts: ['<sip:bob@10.0.0.9>'], auth: { username: 'bob', password: 'bob-secret' } })).status, 200);

  const gone = await p1.register({ contacts: [`<sip:alice@10.0.0.1>;+sip.instance=${inst(1)};expires=0`], auth: ALICE });
  t.is(gone.status, 200);
  t.is(gone.contact.length, 2);
  t.deepEqual(ev.removed.map(([b, why]) => [b.contact, why]), [['sip:alice@10.0.0.1', 'unregistered']]);
  // '*' needs Expires 0
  t.is((await p1.register({ contacts: ['*'], expires: 60, auth: ALICE })).status, 400);
  const all = await p1.register({ contacts: ['*'], expires: 0, auth: ALICE });
  t.is(all.status, 200);
  t.is(all.contact.length, 0);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
  t.is((await rig.store.devices.listBindings(Number(rig.accountId))).length, 0);
  t.is(rig.registrar.bindingsOf(String(Number(rig.accountId) + 1)).length, 1, "bob's binding stays");
});

test('an account may hold maxBindingsPerAccount bindings; a REGISTER going past it gets 403 and changes nothing', async (t) => {
  const rig = await withRig(t, { maxBindingsPerAccount: 2 });
  const phone = rig.phone();
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>', '<sip:alice@10.0.0.2>'], auth: ALICE })).status, 200);
  const r = await phone.register({ contacts: ['<sip:alice@10.0.0.3>'], auth: ALICE });
  t.deepEqual([r.status, r.reason], [403, 'Too Many Bindings']);
  // replacing one within the limit is fine
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.2>;expires=0', '<sip:alice@10.0.0.3>'], auth: ALICE })).status, 200);
  t.deepEqual(rig.registrar.bindingsOf(rig.accountId).map((b) => b.contact).sort(), ['sip:alice@10.0.0.1', 'sip:alice@10.0.0.3']);
});

test('423 with Min-Expires below the minimum; longer than the maximum is cut; no Contact = query', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  const r = await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], expires: 30, auth: ALICE });
  t.is(r.status, 423);
  t.is(r.header('Min-Expires'), '60');
  const long = await phone.register({ contacts: ['<sip:alice@10.0.0.1>;expires=999999'], auth: ALICE });
  t.is(long.contact[0]!.expires, 86_400);
  const q = await phone.register({ auth: ALICE });
  t.is(q.status, 200);
  t.is(q.contact.length, 1);
});

test('§10.3 step 2: a REGISTER requiring an extension the registrar lacks gets 420 with Unsupported, before any challenge; path and outbound are fine', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  const r = await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], headers: ['Require: path, gruu'] });
  t.is(r.status, 420);
  t.is(r.header('Unsupported'), 'gruu');
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], headers: ['Require: path, outbound'], auth: ALICE })).status, 200);
});

test('RFC 3261 §10.3 step 7: a CSeq not above the binding\'s last, same Call-ID, fails with 400 and changes nothing; a retransmission gets the 200 again; another Call-ID replaces the binding', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  const phone = rig.phone();
  const c = `<sip:alice@10.0.0.1>;+sip.instance=${inst(1)}`;
  t.is((await phone.register({ contacts: [c], expires: 600, cseq: 10, auth: ALICE })).status, 200); // CSeq 11 carries the credentials
  // the 200 was lost: the phone sends the same request again; the transaction layer answers it
  const again = await phone.retransmit();
  t.is(again.status, 200);
  t.is(again.cseq.seq, 11);
  t.is(rig.registrar.counters.registers, 2, 'the retransmission never reached the registrar');
  const before = rig.registrar.bindingsOf(rig.accountId)[0]!.expiresAt;
  rig.clock.now += 1000;
  // a delayed, older REGISTER (CSeq 5) asking for removal
  const old = await phone.register({ contacts: [c], expires: 0, cseq: 4, auth: ALICE });
  t.deepEqual([old.status, old.reason], [400, 'Out Of Order CSeq']);
  t.is(old.contact.length, 0);
  // the binding's own CSeq in a new transaction (another branch) fails too
  t.is((await phone.register({ contacts: [c], expires: 300, cseq: 10, auth: ALICE })).status, 400);
  // and so does Contact: * (§10.3 step 6 applies the same rule)
  t.is((await phone.register({ contacts: ['*'], expires: 0, cseq: 6, auth: ALICE })).status, 400);
  t.is(rig.registrar.bindingsOf(rig.accountId)[0]?.expiresAt, before);
  t.is((await rig.store.devices.listBindings(Number(rig.accountId)))[0]?.expiresAt.getTime(), before);
  t.is(rig.registrar.counters.staleCseq, 3);
  t.deepEqual(ev.removed, []);
  // the same CSeq from another Call-ID (the phone rebooted) is applied
  const other = await phone.register({ contacts: [c], expires: 0, cseq: 5, callId: 'other@phone', auth: ALICE });
  t.is(other.status, 200);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
  t.deepEqual(ev.removed.map(([, why]) => why), ['unregistered']);
});

test('RFC 3261 §10.3 step 7: a REGISTER with several Contacts of which one is out of order fails whole: no binding is added, refreshed or removed', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  const a = `<sip:alice@10.0.0.1>;+sip.instance=${inst(1)}`;
  const b = `<sip:alice@10.0.0.2>;+sip.instance=${inst(2)}`;
  const c = `<sip:alice@10.0.0.3>;+sip.instance=${inst(3)}`;
  t.is((await phone.register({ contacts: [a], expires: 600, cseq: 10, auth: ALICE })).status, 200); // a at CSeq 11
  t.is((await phone.register({ contacts: [b], expires: 600, cseq: 20, auth: ALICE })).status, 200); // b at CSeq 21
  const snapshot = async () => ({
    memory: rig.registrar.bindingsOf(rig.accountId).map((x) => [x.contact, x.expiresAt]).sort(),
    rows: (await rig.store.devices.listBindings(Number(rig.accountId))).map((x) => [x.contact, x.expiresAt.getTime()]).sort(),
  });
  const before = await snapshot();
  rig.clock.now += 5000;
  // CSeq 15: above a's 11, not above b's 21; c is new; b asks for removal
  const mixed = await phone.register({ contacts: [`${a};expires=900`, `${b};expires=0`, c], cseq: 14, auth: ALICE });
  t.deepEqual([mixed.status, mixed.reason], [400, 'Out Of Order CSeq']);
  t.deepEqual(await snapshot(), before);
  // above both: every Contact is applied
  const next = await phone.register({ contacts: [`${a};expires=900`, `${b};expires=0`, c], cseq: 30, auth: ALICE });
  t.is(next.status, 200);
  t.deepEqual(next.contact.map((x) => [x.uri.host, x.expires]).sort(), [['10.0.0.1', 900], ['10.0.0.3', 3600]]);
});

test('password guessing: after `limit` failed digests an address gets 403 unread for blockS, even with the right password; other addresses, and phones the bridge names apart, are not affected; a success clears the count', async (t) => {
  const rig = await withRig(t, { bridges: ['127.0.0.9'], guard: new AuthGuard({ limit: 3, windowS: 60, blockS: 120 }) });
  const contacts = ['<sip:alice@10.0.0.1>'];
  const wrong = { username: 'alice', password: 'guess' };
  const guesser = rig.phone('127.0.0.2');
  for (let i = 0; i < 3; i++) t.is((await guesser.register({ contacts, auth: wrong })).status, 403);
  const refused = await guesser.register({ contacts, auth: ALICE });
  t.is(refused.status, 403, 'the right password, from a blocked address');
  t.is(refused.reason, 'Too Many Failed Attempts');
  t.is((await guesser.send({ contacts })).status, 403, 'not even a challenge');
  t.is((await rig.phone('127.0.0.3').register({ contacts, auth: ALICE })).status, 200, 'another address');
  // through the bridge every phone has the bridge's source: the address it names is the key
  const bridge = rig.phone('127.0.0.9');
  const via = (src: string) => [`X-Sipis-Flow: id=1x${src.length};transport=tls;src=${src}:40000`];
  for (let i = 0; i < 3; i++) t.is((await bridge.register({ contacts, headers: via('192.0.2.7'), auth: wrong })).status, 403);
  t.is((await bridge.register({ contacts, headers: via('192.0.2.7'), auth: ALICE })).status, 403);
  t.is((await bridge.register({ contacts, headers: via('192.0.2.80'), auth: ALICE })).status, 200, 'another phone behind the same bridge');
  // a proven password clears the count (one misconfigured phone among working ones behind a NAT)
  const nat = rig.phone('127.0.0.4');
  for (const [auth, status] of [[wrong, 403], [wrong, 403], [ALICE, 200], [wrong, 403], [wrong, 403], [ALICE, 200]] as const) {
    t.is((await nat.register({ contacts, auth })).status, status);
  }
  const metric = (name: string) => rig.registrar.metricFamilies().find((f) => f.name === name)?.samples[0]?.value;
  t.is(metric('sipis_device_auth_blocks_total'), 2);
  t.is(metric('sipis_device_auth_blocked_requests_total'), 3);
  t.is(metric('sipis_device_auth_blocked_addresses'), 2);
  // the blocks end
  rig.clock.now += 121_000;
  t.is((await guesser.register({ contacts, auth: ALICE })).status, 200);
  t.is(metric('sipis_device_auth_blocked_addresses'), 0);
});

test('a replayed answer (same nonce, nc not above the last) gets 401 stale=true, whatever Contact it carries; the next nc of the nonce is accepted', async (t) => {
  const rig = await withRig(t);
  const phone = rig.phone();
  const chal = await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] });
  const first = phone.authorize(chal, ALICE);
  t.is((await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] }, first)).status, 200);
  // digest covers neither Contact nor any other header: the replay would move alice's calls
  const replay = await rig.phone('127.0.0.6').send({ contacts: ['<sip:alice@203.0.113.66>'] }, first);
  t.is(replay.status, 401);
  t.is(replay.wwwAuthenticate[0]!.params.get('stale'), 'true');
  t.deepEqual(rig.registrar.bindingsOf(rig.accountId).map((b) => b.contact), ['sip:alice@10.0.0.1']);
  // a refresh on the same nonce with the next count, as phones do
  t.is((await phone.send({ contacts: ['<sip:alice@10.0.0.1>'] }, phone.authorize(chal, ALICE, 2))).status, 200);
  t.is(rig.registrar.counters.replayed, 1);
});

test('X-Sipis-Flow and Path are trusted from a bridge address only', async (t) => {
  const rig = await withRig(t, { bridges: ['127.0.0.9'] });
  const flowHdr = 'X-Sipis-Flow: id=1x2;transport=tls;src=[2001:db8::7]:40000';
  const pathHdr = 'Path: <sip:1x2@127.0.0.9:5080;lr;ob>';
  const bridge = rig.phone('127.0.0.9');
  t.is((await bridge.register({ contacts: [`<sip:alice@192.168.1.5:5061;transport=tls>;+sip.instance=${inst(1)}`], headers: [flowHdr, pathHdr], auth: ALICE })).status, 200);
  const b = rig.registrar.bindingsOf(rig.accountId)[0]!;
  t.deepEqual(b.flow, { transport: 'tls', source: '[2001:db8::7]:40000', viaBridge: true, flowId: '1x2', via: `127.0.0.9:${bridge.local.port}` });
  t.deepEqual(b.path, ['<sip:1x2@127.0.0.9:5080;lr;ob>']);
  // the same headers from a phone: a plain UDP binding, no Path (no Supported: path either)
  const spoofer = rig.phone('127.0.0.1');
  t.is((await spoofer.register({ contacts: [`<sip:alice@192.168.1.6>;+sip.instance=${inst(2)}`], headers: [flowHdr, pathHdr], auth: ALICE })).status, 200);
  const s = rig.registrar.bindingsOf(rig.accountId).find((x) => x.contact === 'sip:alice@192.168.1.6')!;
  t.deepEqual(s.flow, { transport: 'udp', source: `127.0.0.1:${spoofer.local.port}`, viaBridge: false, via: `127.0.0.1:${spoofer.local.port}` });
  t.deepEqual(s.path, []);
  t.is(rig.registrar.counters.spoofedFlow, 1);
  // a phone that supports path keeps its own Path (RFC 3327), still without a flow; the 200 echoes it
  const withPath = await spoofer.register({ contacts: [`<sip:alice@192.168.1.6>;+sip.instance=${inst(2)}`], headers: ['Supported: path', 'Path: <sip:edge.example;lr>'], auth: ALICE });
  t.is(withPath.header('Path'), '<sip:edge.example;lr>');
  t.deepEqual(rig.registrar.bindingsOf(rig.accountId).find((x) => x.contact === 'sip:alice@192.168.1.6')!.path, ['<sip:edge.example;lr>']);
});

test('RFC 5626 §6: through the bridge, a Contact with +sip.instance and reg-id from a UA that supports outbound gets Require: outbound (and Flow-Timer when set); otherwise not', async (t) => {
  const rig = await withRig(t, { bridges: ['127.0.0.9'], flowTimerS: 25 });
  const bridge = rig.phone('127.0.0.9');
  const via = ['X-Sipis-Flow: id=1x2;transport=tls;src=10.1.1.1:40000', 'Path: <sip:1x2@127.0.0.9:5080;lr;ob>'];
  const ob = `<sip:alice@192.168.1.5:5061;transport=tls>;+sip.instance=${inst(1)};reg-id=1`;
  const yes = await bridge.register({ contacts: [ob], headers: [...via, 'Supported: path, outbound'], auth: ALICE });
  t.is(yes.status, 200);
  t.is(yes.header('Require'), 'outbound');
  t.is(yes.header('Flow-Timer'), '25');
  // the binding comes back with its instance and reg-id (RFC 5626 §10 flows)
  const mine = yes.contact.find((c) => c.instance === inst(1).slice(2, -2))!;
  t.is(mine.params.get('reg-id'), '1');
  // no reg-id, no Supported: outbound, or straight to sipis over UDP: no outbound processing
  const noRegId = await bridge.register({ contacts: [`<sip:alice@192.168.1.5:5061;transport=tls>;+sip.instance=${inst(1)}`], headers: [...via, 'Supported: outbound'], auth: ALICE });
  const notSupported = await bridge.register({ contacts: [ob], headers: via, auth: ALICE });
  const direct = await rig.phone('127.0.0.1').register({ contacts: [`<sip:alice@192.168.1.6>;+sip.instance=${inst(2)};reg-id=1`], headers: ['Supported: outbound'], auth: ALICE });
  for (const r of [noRegId, notSupported, direct]) {
    t.is(r.status, 200);
    t.is(r.header('Require'), undefined);
    t.is(r.header('Flow-Timer'), undefined);
  }
});

test('bindings survive a restart: flow, Path, tokens and user agent are reloaded from the database', async (t) => {
  const rig = await withRig(t, { bridges: ['127.0.0.9'] });
  const bridge = rig.phone('127.0.0.9');
  await bridge.register({
    contacts: [`<sip:alice@192.168.1.5;transport=tcp;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:remote;pn-param=ABCD123456.com.x.app.voip&remote>;+sip.instance=${inst(1)}`],
    headers: ['X-Sipis-Flow: id=ab1x9;transport=tcp;src=10.1.1.1:5555', 'Path: <sip:ab1x9@127.0.0.9:5080;lr;ob>', 'User-Agent: Linphone/5'],
    auth: ALICE,
  });
  await rig.phone().register({ contacts: ['<sip:alice@10.0.0.2>'], auth: ALICE });
  const before = rig.registrar.bindingsOf(rig.accountId).sort((a, b) => a.id.localeCompare(b.id));
  t.is(before.length, 2);
  const again = await rig.restart();
  t.is(again.size, 2);
  const after = again.bindingsOf(rig.accountId).sort((a, b) => a.id.localeCompare(b.id));
  for (const b of [...before, ...after]) b.lastSeen = 0;
  // stored expiry has ms precision; the in-memory one too
  t.deepEqual(after, before);
});

test('expired bindings are swept: removed event, row deleted; a binding refreshed meanwhile stays', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  await rig.phone().register({ contacts: ['<sip:alice@10.0.0.1>'], expires: 60, auth: ALICE });
  await rig.phone().register({ contacts: ['<sip:alice@10.0.0.2>'], expires: 120, auth: ALICE });
  rig.clock.now += 61_000;
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 1, 'an expired binding is not served even before the sweep');
  await rig.registrar.sweepNow();
  t.deepEqual(ev.removed.map(([b, why]) => [b.contact, why]), [['sip:alice@10.0.0.1', 'expired']]);
  const rows = await rig.store.pool.query<{ contact: string }>('SELECT contact FROM device');
  t.deepEqual(rows.map((r) => r.contact), ['sip:alice@10.0.0.2']);
  t.is(rig.registrar.counters.expired, 1);
});

test('a dead token is dropped; the binding goes when it has no token left (token-dead)', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  await rig.phone().register({
    contacts: [`<sip:alice@10.0.0.1;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:remote;pn-param=ABCD123456.com.x.app.voip&remote>;+sip.instance=${inst(1)}`],
    auth: ALICE,
  });
  await rig.registrar.tokenDead(REMOTE, 'apns');
  const [b] = rig.registrar.bindingsOf(rig.accountId);
  t.deepEqual(b!.pushTargets.map((x) => x.kind), ['voip']);
  let [d] = await rig.store.devices.listBindings(Number(rig.accountId));
  t.truthy(d!.pushTokens.find((x) => x.kind === 'remote')!.deadAt);
  // a refresh with the same (dead) token does not revive it
  await rig.phone().register({
    contacts: [`<sip:alice@10.0.0.1;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:remote;pn-param=ABCD123456.com.x.app.voip&remote>;+sip.instance=${inst(1)}`],
    auth: ALICE,
  });
  t.deepEqual(rig.registrar.bindingsOf(rig.accountId)[0]!.pushTargets.map((x) => x.kind), ['voip']);
  await rig.registrar.tokenDead(VOIP);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
  t.deepEqual(ev.removed.map(([, why]) => why), ['token-dead']);
  t.is((await rig.store.devices.listBindings(Number(rig.accountId))).length, 0);
  // removeBinding for a failed flow
  await rig.phone().register({ contacts: ['<sip:alice@10.0.0.5>'], auth: ALICE });
  await rig.registrar.removeBinding(rig.registrar.bindingsOf(rig.accountId)[0]!.id, 'flow-failed');
  t.deepEqual(ev.removed.map(([, why]) => why), ['token-dead', 'flow-failed']);
  t.is((await rig.store.devices.listBindings(Number(rig.accountId))).length, 0);
});

test('a failed flow (430) keeps a binding that can still be woken by push; its next REGISTER clears the mark', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  const contact = `<sip:alice@10.0.0.1;pn-provider=apns;pn-prid=${VOIP}:voip&${REMOTE}:remote;pn-param=ABCD123456.com.x.app.voip&remote>;+sip.instance=${inst(2)}`;
  await rig.phone().register({ contacts: [contact], auth: ALICE });
  const id = rig.registrar.bindingsOf(rig.accountId)[0]!.id;
  await rig.registrar.removeBinding(id, 'flow-failed');
  const [kept] = rig.registrar.bindingsOf(rig.accountId);
  t.is(kept?.id, id);
  t.true(kept!.flowFailed);
  t.deepEqual(kept!.pushTargets.map((x) => x.kind).sort(), ['remote', 'voip']);
  t.deepEqual(ev.removed, []);
  t.is((await rig.store.devices.listBindings(Number(rig.accountId))).length, 1);
  await rig.phone().register({ contacts: [contact], auth: ALICE });
  t.falsy(rig.registrar.bindingsOf(rig.accountId)[0]!.flowFailed);
});


test('account changes: a new password counts at once (cache dropped); a deleted account loses its bindings', async (t) => {
  const rig = await withRig(t);
  const ev = events(rig);
  const phone = rig.phone();
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: ALICE })).status, 200);
  await rig.store.accounts.update(Number(rig.accountId), { password: 'changed-secret' });
  rig.registrar.accountChanged(rig.accountId, false);
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: ALICE })).status, 403);
  t.is((await phone.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: { username: 'alice', password: 'changed-secret' } })).status, 200);
  await rig.store.accounts.remove(Number(rig.accountId));
  rig.registrar.accountChanged(rig.accountId, true);
  t.is(rig.registrar.bindingsOf(rig.accountId).length, 0);
  t.deepEqual(ev.removed.map(([, why]) => why), ['unregistered']);
});
