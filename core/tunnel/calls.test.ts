/**
 * The incoming call through the tunnel, on loopback UDP: the provider and the phones are peers
 * on our own stack (fixtures/e2e/peer.ts); registrar, push client and store are the fakes of
 * testing/fakes.ts. End-to-end proofs with Kamailio, sipp, the bridge and the mediator are in
 * fixtures/e2e/.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import pino from 'pino';
import { SDP } from '../../fixtures/e2e/peer.js';
import { CALL_ID_HEADER, PUSH_STATUS_HEADER, REASON_HEADER } from './index.js';
import { startHarness, type Harness } from './testing/harness.js';

const SDP_A = SDP('192.0.2.10');
const SDP_B = SDP('192.0.2.20');

const waitFor = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** The provider calls the registered phone (registered first unless `register` is false), the phone answers 200; not ACKed yet. */
async function answeredCall(h: Harness, register = true) {
  const phone = h.phones[0]!;
  if (register) await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const pi = await phone.request('INVITE');
  phone.answer(pi, 200, { body: SDP_B });
  await inv.response(200);
  return { phone, inv, pi };
}

/**
 * The registered phone rings (its 180 relayed), then the caller cancels, with `Reason:
 * SIP;cause=200` when `elsewhere`; resolves once our CANCEL reached the phone, which answers its
 * INVITE 487 unless `phoneTakesCancel` is false.
 */
async function cancelWhileRinging(h: Harness, elsewhere: boolean, phoneTakesCancel = true) {
  const phone = h.phones[0]!;
  phone.autoCancel = phoneTakesCancel;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const pi = await phone.request('INVITE');
  phone.answer(pi, 180);
  await inv.response(180);
  inv.cancel(elsewhere ? 'SIP;cause=200;text="Call completed elsewhere"' : undefined);
  const { cancel } = await phone.cancels.next();
  return { phone, inv, pi, cancel };
}

/** answeredCall, ACKed end to end: the call is up; with the phone's side of the dialog. */
async function confirmedCall(h: Harness) {
  const call = await answeredCall(h);
  await call.inv.ack();
  await call.phone.acks.next();
  return { ...call, phoneDialog: call.phone.dialogOf(call.pi.req)! };
}

test('reachable phone: INVITE at once (headers, fresh Call-ID/tag, SDP byte for byte), 180/200/ACK relayed, provider hangs up', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  t.is((await phone.register(h.sipis, 'alice', { instance: 'i1' })).status, 200);
  const inv = h.provider.invite(h.accountUri, {
    target: h.sipis,
    body: SDP_A,
    from: '"Bob Caller" <sip:bob@provider.test>',
    to: '<sip:alice@sipis.test>',
    headers: [
      ['P-Asserted-Identity', '"Bob" <sip:bob@provider.test>'],
      ['Alert-Info', '<http://provider.test/ring.wav>'],
      ['Supported', 'timer'],
      ['Session-Expires', '1800'],
      ['Allow', 'INVITE, ACK, BYE, CANCEL'],
    ],
  });
  await inv.response(100);
  const pi = await phone.request('INVITE');
  const r = pi.req;
  t.true(r.body.equals(Buffer.from(SDP_A)), 'SDP unchanged');
  t.is(r.header('Content-Type'), 'application/sdp');
  t.is(r.from.displayName, 'Bob Caller');
  t.is(r.from.uri.raw, 'sip:bob@provider.test');
  t.not(r.from.tag, inv.invite.from.tag);
  t.not(r.callId, inv.invite.callId);
  t.is(r.to.uri.raw, 'sip:alice@sipis.test');
  t.is(r.requestUri.user, 'alice');
  t.is(r.header('P-Asserted-Identity'), '"Bob" <sip:bob@provider.test>');
  t.is(r.header('Alert-Info'), '<http://provider.test/ring.wav>');
  t.is(r.header('Session-Expires'), '1800');
  t.truthy(r.header(CALL_ID_HEADER));
  t.is(r.via.length, 1, 'only our Via');
  t.true(r.contact[0]!.uri.raw.startsWith('sip:acc-1@'));
  phone.answer(pi, 180);
  const ringing = await inv.response(180);
  t.falsy(ringing.header(PUSH_STATUS_HEADER));
  phone.answer(pi, 200, { body: SDP_B });
  const ok = await inv.response(200);
  t.true(ok.body.equals(Buffer.from(SDP_B)), 'answer SDP unchanged');
  t.true(ok.contact[0]!.uri.raw.startsWith('sip:acc-1@'));
  await inv.ack();
  const ack = await phone.acks.next();
  t.is(ack.callId, r.callId);
  const bye = h.provider.inDialog(inv.dialog!, 'BYE');
  const pb = await phone.request('BYE');
  t.is(pb.req.callId, r.callId);
  phone.answer(pb, 200);
  t.is((await bye).status, 200);
  t.is(h.push.sent.length, 0, 'no push for an awake phone');
  await waitFor(() => h.store.finished.length === 1);
  t.deepEqual(h.store.finished[0]!.outcome, 'answered');
  t.deepEqual(h.tunnel.size, { incoming: 0, outgoing: 0, dialogs: 0 });
  t.is(h.tunnel.counters.callsAnswered, 1);
  t.is(h.tunnel.setupTime.count, 1);
  t.is(h.tunnel.setupTime.buckets.at(-1), 1);
});

test('asleep phone: 180 Alerting-Device, push, Push-Notification-Sent; REGISTER → Device-Making-Progress and INVITE paired with the push; 486 relayed', async (t) => {
  const h = await startHarness({ config: { reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'aa11' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A, from: '"Bob" <sip:bob@provider.test>' });
  await inv.response(100);
  const alerting = await inv.response(180);
  t.is(alerting.header(PUSH_STATUS_HEADER), 'Alerting-Device');
  const push = await h.push.next('NotifyIncomingCall');
  t.is(push.accountId, '1');
  t.is(push.payload.callerUri, 'sip:bob@provider.test');
  t.is(push.payload.callerName, 'Bob');
  const sent = await inv.response((s) => s === 180);
  t.is(sent.header(PUSH_STATUS_HEADER), 'Push-Notification-Sent');
  t.is(phone.requests.pending.length, 0, 'no INVITE before the phone is ready');
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'aa11' });
  const progress = await inv.response(180);
  t.is(progress.header(PUSH_STATUS_HEADER), 'Device-Making-Progress');
  const pi = await phone.request('INVITE');
  t.is(pi.req.header(CALL_ID_HEADER), push.payload.callId as string);
  phone.answer(pi, 486, { reason: 'Busy Here' });
  const busy = await inv.response(486);
  t.is(busy.reason, 'Busy Here');
  await waitFor(() => h.store.finished.length === 1);
  t.is(h.store.finished[0]!.outcome, 'answered', 'a declined call is not a missed call');
});

test('a caller that requires 100rel gets none of our own unreliable 180s (RFC 3262 §3): the push still goes, the phone\'s reliable 183 is relayed', async (t) => {
  const h = await startHarness({ config: { reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'aa11' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A, headers: [['Require', '100rel'], ['Supported', '100rel']] });
  await inv.response(100);
  await h.push.next('NotifyIncomingCall');
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'aa11' });
  const pi = await phone.request('INVITE');
  t.deepEqual(pi.req.require, ['100rel'], 'the Require reaches the phone');
  phone.answer(pi, 183, { headers: [['Require', '100rel'], ['RSeq', '1']], body: SDP_B });
  const early = await inv.response(183);
  t.truthy(early.header('RSeq'));
  t.deepEqual(
    inv.responses.pending.filter((r) => r.status > 100 && r.status < 200 && r.status !== 183).map((r) => `${r.status} ${r.header(PUSH_STATUS_HEADER)}`),
    [],
    'no 180 of our own before or after the push',
  );
  phone.answer(pi, 486);
  await inv.response(486);
});

test('no readiness within the timeout → 480 X-Sipis-Reason: No-Response-From-Device, missed-call push and record', async (t) => {
  const h = await startHarness({ config: { readinessTimeoutMs: 300, reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  await h.phones[0]!.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'ee55' }); // then asleep for good
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  await inv.response(180);
  const res = await inv.response(480);
  t.is(res.header(REASON_HEADER), 'No-Response-From-Device');
  const missed = await h.push.next('NotifyIncomingCallMissed');
  t.is(missed.payload.callId, (await h.push.next('NotifyIncomingCall')).payload.callId);
  await waitFor(() => h.store.finished.length === 1);
  t.is(h.store.finished[0]!.outcome, 'no-response');
  t.is(h.store.pending.size, 0);
});

for (const elsewhere of [false, true]) {
  test(`caller CANCEL while the phone rings → CANCEL to the phone, 487, ${elsewhere ? 'answered-elsewhere' : 'missed-call'} push`, async (t) => {
    const h = await startHarness();
    t.teardown(() => h.close());
    const { inv, pi, cancel } = await cancelWhileRinging(h, elsewhere);
    t.is(cancel.callId, pi.req.callId);
    if (elsewhere) t.regex(cancel.header('Reason') ?? '', /cause=200/);
    else t.falsy(cancel.header('Reason'));
    await inv.response(487);
    const verb = elsewhere ? 'NotifyIncomingCallAnsweredElsewhere' : 'NotifyIncomingCallMissed';
    await h.push.next(verb);
    await waitFor(() => h.store.finished.length === 1);
    t.is(h.store.finished[0]!.outcome, elsewhere ? 'answered-elsewhere' : 'missed');
    await waitFor(() => h.tunnel.size.incoming === 0 && h.tunnel.size.dialogs === 0);
    t.pass();
  });
}

test('two devices ring: the first 2xx wins, the other gets CANCEL with Reason cause=200; the phone hangs up', async (t) => {
  const h = await startHarness({ phones: 2 });
  t.teardown(() => h.close());
  const [p1, p2] = h.phones as [NonNullable<(typeof h.phones)[0]>, NonNullable<(typeof h.phones)[0]>];
  await p1.register(h.sipis, 'alice', { instance: 'i1' });
  await p2.register(h.sipis, 'alice', { instance: 'i2' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const i1 = await p1.request('INVITE');
  const i2 = await p2.request('INVITE');
  t.not(i1.req.callId, i2.req.callId);
  t.is(i1.req.header(CALL_ID_HEADER), i2.req.header(CALL_ID_HEADER));
  p1.answer(i1, 180);
  p2.answer(i2, 180);
  p2.answer(i2, 200, { body: SDP_B });
  const ok = await inv.response(200);
  t.true(ok.body.equals(Buffer.from(SDP_B)));
  const c = await p1.cancels.next();
  t.regex(c.cancel.header('Reason') ?? '', /^SIP;cause=200;text="Call completed elsewhere"$/);
  await inv.ack();
  await p2.acks.next();
  const bye = p2.inDialog(p2.dialogOf(i2.req)!, 'BYE');
  const pb = await h.provider.request('BYE');
  t.is(pb.req.callId, inv.invite.callId);
  h.provider.answer(pb, 200);
  t.is((await bye).status, 200);
  await waitFor(() => h.tunnel.size.dialogs === 0);
  t.pass();
});

test('re-INVITE (hold) both ways, UPDATE and INFO relayed with their bodies; ACK end to end', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const { phone, inv, phoneDialog } = await confirmedCall(h);
  // the phone puts the call on hold
  const hold = SDP('192.0.2.20', 2, 'sendonly');
  const reinv = phone.inDialog(phoneDialog, 'INVITE', { body: hold });
  const ri = await h.provider.request('INVITE');
  t.true(ri.req.body.equals(Buffer.from(hold)));
  t.is(ri.req.callId, inv.invite.callId);
  const held = SDP('192.0.2.10', 2, 'recvonly');
  h.provider.answer(ri, 200, { body: held });
  const r = await reinv;
  t.is(r.status, 200);
  t.true(r.body.equals(Buffer.from(held)));
  const ack = await h.provider.acks.next();
  t.is(ack.callId, inv.invite.callId);
  // the provider resumes with a re-INVITE, then INFO and UPDATE
  const resume = h.provider.inDialog(inv.dialog!, 'INVITE', { body: SDP_A });
  const ri2 = await phone.request('INVITE');
  t.true(ri2.req.body.equals(Buffer.from(SDP_A)));
  phone.answer(ri2, 200, { body: SDP_B });
  t.is((await resume).status, 200);
  await phone.acks.next();
  const info = h.provider.inDialog(inv.dialog!, 'INFO', { body: 'Signal=5\r\nDuration=160\r\n', contentType: 'application/dtmf-relay' });
  const ii = await phone.request('INFO');
  t.is(ii.req.header('Content-Type'), 'application/dtmf-relay');
  t.is(ii.req.body.toString(), 'Signal=5\r\nDuration=160\r\n');
  phone.answer(ii, 200);
  t.is((await info).status, 200);
  const upd = phone.inDialog(phoneDialog, 'UPDATE', { body: SDP_B });
  const ui = await h.provider.request('UPDATE');
  h.provider.answer(ui, 488, { reason: 'Not Acceptable Here' });
  const ur = await upd;
  t.is(ur.status, 488);
  t.is(ur.reason, 'Not Acceptable Here');
  const msg = phone.inDialog(phoneDialog, 'MESSAGE', { body: 'hi', contentType: 'text/plain' });
  const mi = await h.provider.request('MESSAGE');
  t.is(mi.req.body.toString(), 'hi');
  h.provider.answer(mi, 200);
  t.is((await msg).status, 200);
  const bye = phone.inDialog(phoneDialog, 'BYE');
  const pb = await h.provider.request('BYE');
  h.provider.answer(pb, 200);
  t.is((await bye).status, 200);
});

test('overlapping re-INVITEs (RFC 3261 §14.2): the caller\'s second one before the first is answered gets 500 with Retry-After, the phone\'s meanwhile (glare) 491; one re-INVITE at a time reaches each side', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const { phone, inv, phoneDialog } = await confirmedCall(h);
  const first = h.provider.inDialog(inv.dialog!, 'INVITE', { body: SDP('192.0.2.10', 2, 'sendonly') });
  const ri = await phone.request('INVITE');
  const second = await h.provider.inDialog(inv.dialog!, 'INVITE', { body: SDP('192.0.2.10', 3, 'sendonly') });
  t.is(second.status, 500);
  const retryAfter = Number(second.header('Retry-After'));
  t.true(Number.isInteger(retryAfter) && retryAfter >= 0 && retryAfter <= 10, `Retry-After ${retryAfter}`);
  const glare = await phone.inDialog(phoneDialog, 'INVITE', { body: SDP('192.0.2.20', 2) });
  t.is(glare.status, 491);
  t.is(phone.requests.pending.filter((i) => i.req.method === 'INVITE').length, 0, 'the phone got the first re-INVITE only');
  t.is(h.provider.requests.pending.filter((i) => i.req.method === 'INVITE').length, 0, 'the glare INVITE did not reach the caller');
  phone.answer(ri, 200, { body: SDP('192.0.2.20', 3, 'recvonly') });
  t.is((await first).status, 200);
  await phone.acks.next();
  // answered and ACKed: the next re-INVITE, from either side, goes through
  const third = phone.inDialog(phoneDialog, 'INVITE', { body: SDP('192.0.2.20', 4) });
  const ri3 = await h.provider.request('INVITE');
  h.provider.answer(ri3, 200, { body: SDP_A });
  t.is((await third).status, 200);
});

test('a re-INVITE that overtook the ACK of the 2xx (two proxy workers): the phone gets the ACK first, then the re-INVITE', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const { phone, inv, pi } = await answeredCall(h);
  // the provider's re-INVITE reaches sipis before its ACK (RFC 5407 §3.1.4)
  const hold = SDP('192.0.2.10', 2, 'sendonly');
  const reinv = h.provider.inDialog(inv.dialog!, 'INVITE', { body: hold, target: h.sipis });
  await new Promise((r) => setTimeout(r, 50));
  t.is(phone.requests.pending.length, 0, 'nothing reaches the phone before the ACK');
  await inv.ack();
  await phone.acks.next();
  const ri = await phone.request('INVITE');
  t.true(ri.req.body.equals(Buffer.from(hold)));
  phone.answer(ri, 200, { body: SDP_B });
  t.is((await reinv).status, 200);
  await phone.acks.next();
});

test('a BYE that overtook the ACK of the 2xx: sipis ACKs the phone itself, then relays the BYE; the late ACK goes nowhere', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const { phone, inv, pi } = await answeredCall(h);
  const bye = h.provider.inDialog(inv.dialog!, 'BYE', { target: h.sipis });
  const ack = await phone.acks.next();
  t.is(ack.cseq.seq, pi.req.cseq.seq);
  t.is(ack.body.length, 0);
  const pb = await phone.request('BYE');
  // the provider's ACK arrives while the BYE is still unanswered: nothing more reaches the phone
  await inv.ack();
  await new Promise((r) => setTimeout(r, 100));
  t.is(phone.acks.pending.length, 0, 'the provider\'s late ACK is not relayed');
  phone.answer(pb, 200);
  t.is((await bye).status, 200);
});

test('a re-INVITE waiting for an ACK that never comes: 500 with Retry-After after 64*T1; or 481 at once when the call ends meanwhile', async (t) => {
  const h = await startHarness({ T1: 20 });
  t.teardown(() => h.close());
  const first = await answeredCall(h);
  const phone = first.phone;
  const r1 = await h.provider.inDialog(first.inv.dialog!, 'INVITE', { body: SDP_A, target: h.sipis });
  t.is(r1.status, 500);
  t.regex(r1.header('Retry-After') ?? '', /^\d+$/);
  t.is(phone.requests.pending.filter((i) => i.req.method === 'INVITE').length, 0);
  // the second call: the phone hangs up while the re-INVITE waits
  const second = await answeredCall(h, false);
  const held = h.provider.inDialog(second.inv.dialog!, 'INVITE', { body: SDP_A, target: h.sipis });
  await new Promise((r) => setTimeout(r, 30));
  const bye = phone.inDialog(phone.dialogOf(second.pi.req)!, 'BYE');
  const pb = await h.provider.request('BYE');
  h.provider.answer(pb, 200);
  t.is((await bye).status, 200);
  t.is((await held).status, 481);
});

test('100rel end to end: the phone\'s RSeq is mapped, the PRACK\'s RAck mapped back', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A, headers: [['Supported', '100rel']] });
  const pi = await phone.request('INVITE');
  t.deepEqual(pi.req.supported, ['100rel']);
  phone.answer(pi, 183, { body: SDP_B, headers: [['Require', '100rel'], ['RSeq', '7']] });
  const early = await inv.response(183);
  t.deepEqual(early.require, ['100rel']);
  t.true(early.body.equals(Buffer.from(SDP_B)));
  const rseq = early.header('RSeq')!;
  t.regex(rseq, /^\d+$/);
  const d = h.provider.dialogs.matchResponse(early)!;
  const prack = h.provider.inDialog(d, 'PRACK', { headers: [['RAck', `${rseq} ${inv.invite.cseq.seq} INVITE`]] });
  const pp = await phone.request('PRACK');
  t.is(pp.req.header('RAck'), `7 ${pi.req.cseq.seq} INVITE`);
  phone.answer(pp, 200);
  t.is((await prack).status, 200);
  phone.answer(pi, 200, { body: SDP_B });
  await inv.response(200);
  await inv.ack();
  await phone.acks.next();
  const bye = h.provider.inDialog(inv.dialog!, 'BYE');
  phone.answer(await phone.request('BYE'), 200);
  t.is((await bye).status, 200);
});

test('a "reachable" binding answering 430 Flow Failed: binding dropped, push sent, the re-registered phone gets the call', async (t) => {
  const h = await startHarness({ phones: 2 });
  t.teardown(() => h.close());
  const [stale, phone] = h.phones as [NonNullable<(typeof h.phones)[0]>, NonNullable<(typeof h.phones)[0]>];
  await stale.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'cc33' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const si = await stale.request('INVITE');
  stale.answer(si, 430, { reason: 'Flow Failed' });
  await inv.response((s) => s === 180);
  const push = await h.push.next('NotifyIncomingCall');
  t.is(push.instanceId, 'urn:uuid:i1', 'the device behind the failed flow is pushed, with the tokens of the dropped binding');
  t.deepEqual(h.registrar.removed, [{ id: '1', reason: 'flow-failed' }]);
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'cc33' });
  const pi = await phone.request('INVITE');
  phone.answer(pi, 200, { body: SDP_B });
  await inv.response(200);
  await inv.ack();
  await phone.acks.next();
  t.pass();
});

for (const mode of ['throw', 'failed'] as const) {
  test(`no push can be delivered (push client ${mode === 'throw' ? 'broken' : 'reports a failure: mediator down, token dead'}): 480 X-Sipis-Reason: Push-Failed at once, not after the readiness timeout; no crash`, async (t) => {
    // a readiness timeout far beyond the test's 5 s wait for the 480
    const h = await startHarness({ config: { readinessTimeoutMs: 120_000, reachableWindowMs: 0 } });
    t.teardown(() => h.close());
    await h.phones[0]!.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'ff66' });
    h.push.mode = mode;
    const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
    const r = await inv.response(180);
    t.is(r.header(PUSH_STATUS_HEADER), 'Alerting-Device');
    const unavailable = await inv.response(480);
    t.is(unavailable.header(REASON_HEADER), 'Push-Failed');
    t.false(inv.responses.pending.some((x) => x.header(PUSH_STATUS_HEADER) === 'Push-Notification-Sent'));
    t.is(h.tunnel.counters.pushesConfirmed, 0);
    t.true(h.tunnel.counters.pushesFailed >= 1);
    await waitFor(() => h.store.finished.length === 1);
    t.is(h.store.finished[0]!.outcome, 'no-response');
  });
}

test('no device to alert (none registered, or the only one without a push target stopped answering): 480 X-Sipis-Reason: No-Device-To-Alert, no Alerting-Device 180', async (t) => {
  const h = await startHarness({ config: { readinessTimeoutMs: 120_000, reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  const none = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const r = await none.response(480);
  t.is(r.header(PUSH_STATUS_HEADER), undefined);
  t.is(r.header(REASON_HEADER), 'No-Device-To-Alert');
  t.deepEqual(none.responses.pending.filter((x) => x.status === 180), [], 'no 180: no push is under way');
  t.is(h.push.sent.length, 1, 'only the missed-call push');
  t.is(h.push.sent[0]!.verb, 'NotifyIncomingCallMissed');
  // a device without push parameters gets the INVITE at once; when it fails (408, 503, 430), nothing else can wake it
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const pi = await phone.request('INVITE');
  phone.answer(pi, 503);
  const gone = await inv.response(480);
  t.is(gone.header(REASON_HEADER), 'No-Device-To-Alert');
  t.deepEqual(inv.responses.pending.filter((x) => x.status === 180), []);
});

test('late offer: an INVITE without SDP reaches the phone without one, its 200 carries the offer, the caller\'s ACK the answer, relayed to the phone (RFC 3264 §5, RFC 3261 §13.2.1)', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis });
  const pi = await phone.request('INVITE');
  t.is(pi.req.body.length, 0, 'no offer towards the phone');
  phone.answer(pi, 200, { body: SDP_B });
  const ok = await inv.response(200);
  t.true(ok.body.equals(Buffer.from(SDP_B)), 'the phone\'s offer reaches the caller');
  await inv.ack(SDP_A);
  const ack = await phone.acks.next();
  t.true(ack.body.equals(Buffer.from(SDP_A)), 'the answer in the ACK reaches the phone');
  t.is(ack.header('Content-Type'), 'application/sdp');
  const bye = h.provider.inDialog(inv.dialog!, 'BYE');
  phone.answer(await phone.request('BYE'), 200);
  t.is((await bye).status, 200);
});

test('the same INVITE again over another path (new branch, same Call-ID, From tag and CSeq) gets 482 Loop Detected; the first call goes on (RFC 3261 §8.2.2.2)', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString('latin1')));
  const port = sock.address().port;
  const invite = (branch: string) =>
    `INVITE ${h.accountUri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}\r\nMax-Forwards: 70\r\n` +
    `From: <sip:bob@provider.test>;tag=merge1\r\nTo: <sip:alice@provider.test>\r\nCall-ID: merged-${port}\r\nCSeq: 7 INVITE\r\n` +
    `Contact: <sip:bob@127.0.0.1:${port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP_A.length}\r\n\r\n${SDP_A}`;
  const status = (branch: string, code: number) => got.some((m) => m.startsWith(`SIP/2.0 ${code} `) && m.includes(`branch=${branch}`));
  sock.send(invite('z9hG4bKpathA'), h.sipis.port, h.sipis.address);
  await phone.request('INVITE');
  sock.send(invite('z9hG4bKpathB'), h.sipis.port, h.sipis.address);
  await waitFor(() => status('z9hG4bKpathB', 482));
  t.false(status('z9hG4bKpathA', 482));
  // the phone got one INVITE: a second one would be waiting in its inbox now
  await new Promise((r) => setTimeout(r, 200));
  t.is(phone.requests.pending.filter((i) => i.req.method === 'INVITE').length, 0, 'the phone rang once');
});

for (const elsewhere of [false, true]) {
  test(`caller CANCEL, the phone answers 200 anyway: ACK and BYE ${elsewhere ? 'with the CANCEL\'s cause=200' : 'without a Reason (the call is missed, not answered elsewhere)'} (RFC 3326)`, async (t) => {
    const h = await startHarness();
    t.teardown(() => h.close());
    const { phone, inv, pi } = await cancelWhileRinging(h, elsewhere, false);
    await inv.response(487);
    // the phone did not take the CANCEL in time: its 200 crosses it
    phone.answer(pi, 200, { body: SDP_B });
    await phone.acks.next();
    const bye = await phone.request('BYE');
    phone.answer(bye, 200);
    if (elsewhere) t.regex(bye.req.header('Reason') ?? '', /^SIP;cause=200;/);
    else t.is(bye.req.header('Reason'), undefined);
    await waitFor(() => h.tunnel.size.incoming === 0 && h.tunnel.size.dialogs === 0);
  });
}

test('unknown account → 404; in-dialog request for no dialog → 481; OPTIONS → 200', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const inv = h.provider.invite(`sip:acc-999@${h.sipisHostPort}`, { target: h.sipis, body: SDP_A });
  await inv.response(404);
  const r = await h.provider.send('BYE', h.accountUri, { target: h.sipis, to: '<sip:alice@sipis.test>;tag=nope' });
  t.is(r.status, 481);
  t.is((await h.provider.send('OPTIONS', h.accountUri, { target: h.sipis })).status, 200);
});

test('out of a dialog: an unknown method → 501, SUBSCRIBE and REFER → 405 whose Allow lists what the address takes, BYE/INFO/UPDATE/PRACK → 481 (RFC 3261 §8.2.1, §21.4.6, §15.1.2)', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const foo = await h.provider.send('FOO', h.accountUri, { target: h.sipis });
  t.is(foo.status, 501);
  for (const method of ['SUBSCRIBE', 'REFER', 'PUBLISH']) {
    const r = await h.provider.send(method, h.accountUri, { target: h.sipis, headers: [['Event', 'presence'], ['Refer-To', '<sip:x@provider.test>']] });
    t.is(r.status, 405, method);
    const allow = r.headerValues('Allow');
    t.false(allow.includes(method), `${method} is not in the 405's Allow`);
    t.true(allow.includes('INVITE') && allow.includes('MESSAGE'));
  }
  for (const method of ['BYE', 'INFO', 'UPDATE', 'PRACK']) t.is((await h.provider.send(method, h.accountUri, { target: h.sipis })).status, 481, method);
  // the OPTIONS answer still lists the methods relayed in a dialog
  t.true((await h.provider.send('OPTIONS', h.accountUri, { target: h.sipis })).headerValues('Allow').includes('REFER'));
});

test('requests sipis answers itself that require an extension it lacks get 420 with Unsupported (RFC 3261 §8.2.2.3; RFC 4475 bext01)', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const options = await h.provider.send('OPTIONS', h.accountUri, { target: h.sipis, headers: [['Require', 'nothingSupportsThis, path, nothingSupportsThisEither']] });
  t.is(options.status, 420);
  t.deepEqual(options.headerValues('Unsupported'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
  const notify = await h.provider.send('NOTIFY', h.accountUri, { target: h.sipis, headers: [['Event', 'message-summary'], ['Require', 'foo']] });
  t.is(notify.status, 420);
  t.is(notify.header('Unsupported'), 'foo');
  // what sipis supports, in any case; Proxy-Require is for proxies, not for the UAS
  const ok = await h.provider.send('OPTIONS', h.accountUri, { target: h.sipis, headers: [['Require', 'Path, outbound, 100rel'], ['Proxy-Require', 'noProxiesSupportThis']] });
  t.is(ok.status, 200);
  t.deepEqual(ok.supported, ['100rel', 'path', 'outbound']);
});

test('a request for an account from a source that is not its provider gets 403 (when the server says who the provider is)', async (t) => {
  let providerPort = 0;
  const h = await startHarness({ isProviderSource: (src) => src.port === providerPort });
  t.teardown(() => h.close());
  providerPort = h.provider.endpoint.port;
  const stranger = h.phones[0]!;
  const spoof = stranger.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  await spoof.response(403);
  t.is(h.push.sent.length, 0, 'no push for a spoofed call');
  t.is((await stranger.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'spam' })).status, 403);
  t.is((await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'real' })).status, 200);
});

test('a "reachable" device with a push token that does not answer within the grace: pushed; its REGISTER on a new flow gets the INVITE there', async (t) => {
  const h = await startHarness({ phones: 2, config: { reachableGraceMs: 200 } });
  t.teardown(() => h.close());
  const [deadFlow, wokenFlow] = h.phones as [NonNullable<(typeof h.phones)[0]>, NonNullable<(typeof h.phones)[0]>];
  await deadFlow.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'dd44' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  await deadFlow.request('INVITE'); // never answered: the app is suspended, the flow stale
  const alerting = await inv.response((s) => s === 180);
  t.is(alerting.header(PUSH_STATUS_HEADER), 'Alerting-Device');
  await h.push.next('NotifyIncomingCall');
  await wokenFlow.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'dd44' });
  const pi = await wokenFlow.request('INVITE');
  wokenFlow.answer(pi, 200, { body: SDP_B });
  const ok = await inv.response(200);
  t.true(ok.body.equals(Buffer.from(SDP_B)));
  await inv.ack();
  await wokenFlow.acks.next();
  const c = await deadFlow.cancels.next();
  t.truthy(c.cancel, 'the INVITE on the stale flow was cancelled');
});

test('only the devices that cannot be reached are pushed: an awake one gets the INVITE, an asleep one the push', async (t) => {
  const h = await startHarness({ phones: 2 });
  t.teardown(() => h.close());
  const [awake, asleep] = h.phones as [NonNullable<(typeof h.phones)[0]>, NonNullable<(typeof h.phones)[0]>];
  await awake.register(h.sipis, 'alice', { instance: 'awake', pushToken: 'aa' });
  await asleep.register(h.sipis, 'alice', { instance: 'asleep', pushToken: 'bb' });
  const b = [...h.registrar.bindings.values()].find((x) => x.instanceId === 'urn:uuid:asleep')!;
  b.lastSeen = Date.now() - 60_000; // registered a minute ago: outside reachableWindowMs
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP_A });
  const pi = await awake.request('INVITE');
  const push = await h.push.next('NotifyIncomingCall');
  t.is(push.instanceId, 'urn:uuid:asleep');
  t.is(h.push.sent.filter((p) => p.verb === 'NotifyIncomingCall').length, 1, 'the awake device is not pushed');
  awake.answer(pi, 200, { body: SDP_B });
  await inv.response(200);
  await inv.ack();
  await awake.acks.next();
  t.pass();
});

test('an operator can follow a call in the info log: start (devices, push or not), answered (setup time), a missed one with its outcome', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const h = await startHarness({ logger: pino({ level: 'info' }, sink) });
  t.teardown(() => h.close());
  await confirmedCall(h);
  const { inv } = await cancelWhileRinging(h, false);
  await inv.response(487);
  const calls = lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('incoming call'));
  t.like(calls[0], { msg: 'incoming call', devices: 1, invited: 1, push: false });
  t.is(typeof calls[0]!.sipCallId, 'string');
  t.like(calls[1], { msg: 'incoming call answered', call: calls[0]!.call });
  t.is(typeof calls[1]!.setupMs, 'number');
  t.like(calls[2], { msg: 'incoming call' });
  t.like(calls[3], { msg: 'incoming call ended', call: calls[2]!.call, outcome: 'missed' });
});
