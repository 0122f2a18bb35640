/**
 * Text messages and the phone's own requests through the tunnel, on loopback UDP with the fakes
 * of testing/fakes.ts (the PostgreSQL-backed proof is in fixtures/e2e/).
 */
import test from 'ava';
import { Dialog } from '../dialog/index.js';
import { DigestServer } from '../sip/digest.js';
import { SDP } from '../../fixtures/e2e/peer.js';
import { createTunnel, MESSAGE_ID_HEADER, TunnelError } from './index.js';
import { startHarness } from './testing/harness.js';

const waitFor = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('MESSAGE while asleep: stored, 200, push with a preview; delivered on REGISTER with the original From, body and type; marked delivered after the 2xx', async (t) => {
  const h = await startHarness({ config: { reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'bb22' });
  const body = 'Héllo, are you there?';
  const r = await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body, contentType: 'text/plain;charset=UTF-8', from: '"Bob" <sip:bob@provider.test>', to: '<sip:alice@sipis.test>' });
  t.is(r.status, 200);
  t.is(h.store.messages.length, 1);
  const push = await h.push.next('NotifyTextMessage');
  t.is(push.payload.senderUri, 'sip:bob@provider.test');
  t.is(push.payload.senderName, 'Bob');
  t.is(push.payload.preview, body);
  t.is(push.payload.messageId, String(h.store.messages[0]!.id));
  t.is(phone.requests.pending.length, 0, 'not sent to a sleeping phone');
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'bb22' });
  const m = await phone.request('MESSAGE');
  t.is(m.req.body.toString('utf8'), body);
  t.is(m.req.header('Content-Type'), 'text/plain;charset=UTF-8');
  t.is(m.req.from.displayName, 'Bob');
  t.is(m.req.from.uri.raw, 'sip:bob@provider.test');
  t.is(m.req.to.uri.raw, 'sip:alice@sipis.test');
  t.is(m.req.header(MESSAGE_ID_HEADER), String(h.store.messages[0]!.id));
  t.false(m.req.hasHeader('Contact'), 'RFC 3428 §4: no Contact in a MESSAGE');
  t.is(h.store.messages[0]!.deliveredAt, null, 'not delivered before the 2xx');
  phone.answer(m, 200);
  await waitFor(() => h.store.messages[0]!.deliveredAt !== null);
  t.is(h.tunnel.counters.messagesDelivered, 1);
});

test('a failed delivery keeps the message (attempt counted, order kept); the next REGISTER delivers both in order', async (t) => {
  const h = await startHarness({ config: { reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  for (const text of ['one', 'two']) {
    t.is((await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: text })).status, 200);
  }
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'cc' });
  const first = await phone.request('MESSAGE');
  t.is(first.req.body.toString(), 'one');
  phone.answer(first, 480);
  await waitFor(() => h.store.messages[0]!.attempts === 1);
  t.is(phone.requests.pending.length, 0, 'the batch stops at the failure');
  await phone.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'cc' });
  for (const text of ['one', 'two']) {
    const m = await phone.request('MESSAGE');
    t.is(m.req.body.toString(), text);
    phone.answer(m, 202);
  }
  await waitFor(() => h.store.messages.every((m) => m.deliveredAt !== null));
  t.pass();
});

test('a device that registered while a delivery was running and is gone when it ends gets nothing; the next REGISTER does', async (t) => {
  const h = await startHarness({ phones: 2, config: { reachableWindowMs: 0 } });
  t.teardown(() => h.close());
  const [a, b] = h.phones as [NonNullable<(typeof h.phones)[0]>, NonNullable<(typeof h.phones)[0]>];
  t.is((await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'hello' })).status, 200);
  await a.register(h.sipis, 'alice', { instance: 'i1', pushToken: 'aa' });
  const toA = await a.request('MESSAGE');
  // while A holds the delivery, B registers (queued for the next run), then unregisters
  await b.register(h.sipis, 'alice', { instance: 'i2', pushToken: 'bb' });
  await b.register(h.sipis, 'alice', { instance: 'i2', pushToken: 'bb', expires: 0 });
  a.answer(toA, 480);
  await waitFor(() => h.store.messages[0]!.attempts === 1);
  await new Promise((r) => setTimeout(r, 300));
  t.is(b.requests.pending.filter((i) => i.req.method === 'MESSAGE').length, 0, 'nothing sent to the binding that is gone');
  await b.register(h.sipis, 'alice', { instance: 'i2', pushToken: 'bb' });
  const toB = await b.request('MESSAGE');
  t.is(toB.req.body.toString(), 'hello');
  b.answer(toB, 200);
  await waitFor(() => h.store.messages[0]!.deliveredAt !== null);
});

test('a retransmitted MESSAGE (same Call-ID and CSeq) is stored once', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  for (let i = 0; i < 2; i++) {
    const r = await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'once', callId: 'dup-1@provider', cseq: 7 });
    t.is(r.status, 200);
  }
  t.is(h.store.messages.length, 1);
  t.is(h.push.sent.filter((p) => p.verb === 'NotifyTextMessage').length, 1);
});

test('im-iscomposing is answered 200 and dropped; a body over the (lowered) limit gets 413; a store failure 503 with Retry-After', async (t) => {
  const h = await startHarness({ config: { maxMessageBytes: 16 } });
  t.teardown(() => h.close());
  const composing = '<?xml version="1.0"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active</state></isComposing>';
  const c = await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: composing, contentType: 'application/im-iscomposing+xml' });
  t.is(c.status, 200);
  t.is(h.store.messages.length, 0);
  t.is(h.push.sent.length, 0);
  t.is((await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'x'.repeat(16) })).status, 200);
  t.is((await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'x'.repeat(17) })).status, 413);
  h.store.failing = true;
  const r = await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'later' });
  t.is(r.status, 503);
  t.is(r.header('Retry-After'), '5');
  t.is(h.store.messages.length, 1);
});

test('configuration out of range is a typed error', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const err = t.throws(() => createTunnel({ layer: h.layer, registrar: h.registrar, push: h.push, accounts: { get: () => undefined, findByUser: () => undefined }, config: { readinessTimeoutMs: 0 } }));
  t.true(err instanceof TunnelError);
  t.is((err as TunnelError).code, 'ERR_TUNNEL_CONFIG');
});

test('the phone\'s outgoing INVITE: relayed to the provider as the account (From = AOR, Route = registrar), 407 answered with digest, 200/ACK/BYE paired', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const offer = SDP('192.0.2.30');
  const call = phone.invite(`sip:+15551234@sipis.test`, { target: h.sipis, body: offer, from: '"Alice Mobile" <sip:alice@sipis.test>' });
  const first = await h.provider.request('INVITE');
  t.is(first.req.uri, 'sip:+15551234@sipis.test');
  t.is(first.req.from.uri.raw, 'sip:alice@sipis.test');
  t.is(first.req.from.displayName, 'Alice Mobile');
  t.regex(first.req.header('Route') ?? '', new RegExp(`^<sip:${h.provider.hostPort};lr>$`));
  t.true(first.req.body.equals(Buffer.from(offer)));
  const digest = new DigestServer({ secret: 'a-test-secret-of-enough-length' });
  h.provider.answer(first, 407, { headers: [['Proxy-Authenticate', digest.buildChallenge({ realm: 'sipis.test' })]] });
  const second = await h.provider.request('INVITE');
  t.is(second.req.callId, first.req.callId);
  t.is(second.req.cseq.seq, first.req.cseq.seq + 1);
  const creds = second.req.proxyAuthorization[0]!;
  const v = digest.verifyCredentials({ credentials: creds, method: 'INVITE', realm: 'sipis.test', password: 'secret', requestUri: second.req.uri });
  t.true(v.ok, JSON.stringify(v));
  t.false((await call.responses.next(() => true, 300).catch(() => undefined))?.status === 407, 'the challenge never reaches the phone');
  h.provider.answer(second, 180);
  await call.response(180);
  const answer = SDP('192.0.2.40');
  h.provider.answer(second, 200, { body: answer });
  const ok = await call.response(200);
  t.true(ok.body.equals(Buffer.from(answer)));
  await call.ack();
  await h.provider.acks.next();
  const bye = phone.inDialog(call.dialog!, 'BYE');
  const pb = await h.provider.request('BYE');
  h.provider.answer(pb, 200);
  t.is((await bye).status, 200);
  t.is(h.tunnel.counters.callsOut, 1);
});

test('the phone\'s MESSAGE is relayed with 401 answered; a request from an unknown source gets 403', async (t) => {
  const h = await startHarness({ phones: 2 });
  t.teardown(() => h.close());
  const [phone, stranger] = h.phones as [NonNullable<(typeof h.phones)[0]>, NonNullable<(typeof h.phones)[0]>];
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const sent = phone.send('MESSAGE', 'sip:bob@sipis.test', { target: h.sipis, body: 'hi bob', from: '<sip:alice@sipis.test>' });
  const m1 = await h.provider.request('MESSAGE');
  t.false(m1.req.hasHeader('Contact'), 'RFC 3428 §4: no Contact in a MESSAGE');
  const digest = new DigestServer({ secret: 'a-test-secret-of-enough-length' });
  h.provider.answer(m1, 401, { headers: [['WWW-Authenticate', digest.buildChallenge({ realm: 'sipis.test' })]] });
  const m2 = await h.provider.request('MESSAGE');
  t.true(digest.verifyCredentials({ credentials: m2.req.authorization[0]!, method: 'MESSAGE', realm: 'sipis.test', password: 'secret', requestUri: m2.req.uri }).ok);
  t.is(m2.req.body.toString(), 'hi bob');
  h.provider.answer(m2, 202);
  t.is((await sent).status, 202);
  const r = await stranger.send('MESSAGE', 'sip:bob@sipis.test', { target: h.sipis, body: 'spoof', from: '<sip:alice@sipis.test>' });
  t.is(r.status, 403);
});

test('the phone\'s SUBSCRIBE: relayed with credentials; the NOTIFY of the subscription dialog comes back to the phone', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const sub = phone.invite('sip:alice@sipis.test', { target: h.sipis, method: 'SUBSCRIBE', from: '<sip:alice@sipis.test>', headers: [['Event', 'message-summary'], ['Expires', '600'], ['Accept', 'application/simple-message-summary']] });
  const s1 = await h.provider.request('SUBSCRIBE');
  t.is(s1.req.header('Event'), 'message-summary');
  const digest = new DigestServer({ secret: 'a-test-secret-of-enough-length' });
  h.provider.answer(s1, 407, { headers: [['Proxy-Authenticate', digest.buildChallenge({ realm: 'sipis.test' })]] });
  const s2 = await h.provider.request('SUBSCRIBE');
  t.truthy(s2.req.proxyAuthorization[0]);
  h.provider.answer(s2, 200, { headers: [['Expires', '600']] });
  const ok = await sub.response(200);
  t.is(ok.header('Expires'), '600');
  // the provider's NOTIFY inside its dialog with sipis reaches the phone inside the phone's dialog
  const providerDialog = h.provider.dialogOf(s2.req)!;
  const notify = h.provider.inDialog(providerDialog, 'NOTIFY', { body: 'Messages-Waiting: yes\r\n', contentType: 'application/simple-message-summary', headers: [['Event', 'message-summary'], ['Subscription-State', 'active;expires=600']] });
  const n = await phone.request('NOTIFY');
  t.is(n.req.callId, sub.invite.callId);
  t.is(n.req.body.toString(), 'Messages-Waiting: yes\r\n');
  t.is(n.req.header('Subscription-State'), 'active;expires=600');
  phone.answer(n, 200);
  t.is((await notify).status, 200);
});

test('a NOTIFY that overtakes the SUBSCRIBE\'s 2xx (RFC 6665 §4.1.2.4) is held, then relayed in the paired dialog; after a failed SUBSCRIBE it gets 481', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const subscribe = (): ReturnType<typeof phone.invite> =>
    phone.invite('sip:alice@sipis.test', { target: h.sipis, method: 'SUBSCRIBE', from: '<sip:alice@sipis.test>', headers: [['Event', 'message-summary'], ['Expires', '600']] });
  const notifyHeaders: Array<[string, string]> = [['Event', 'message-summary'], ['Subscription-State', 'active;expires=600']];

  const sub = subscribe();
  const s = await h.provider.request('SUBSCRIBE');
  // the provider's 2xx is built (its tag fixed) but not sent yet; its NOTIFY goes first
  const ok = s.tx.buildResponse(200, undefined, { headers: [['Contact', h.provider.contact()], ['Expires', '600']] });
  const providerDialog = h.provider.dialogs.add(Dialog.asUas(s.req, ok));
  const notify = h.provider.inDialog(providerDialog, 'NOTIFY', { body: 'Messages-Waiting: yes\r\n', contentType: 'application/simple-message-summary', headers: notifyHeaders });
  // sipis has the NOTIFY (the provider's transaction is open) before the 2xx leaves
  await new Promise((r) => setTimeout(r, 100));
  s.tx.respond(ok);
  t.is((await sub.response(200)).header('Expires'), '600');
  const n = await phone.request('NOTIFY');
  t.is(n.req.callId, sub.invite.callId, 'relayed inside the phone\'s subscription dialog');
  t.is(n.req.to.tag, sub.invite.from.tag);
  t.is(n.req.body.toString(), 'Messages-Waiting: yes\r\n');
  phone.answer(n, 200);
  t.is((await notify).status, 200);

  // the same race, but the SUBSCRIBE is refused: the held NOTIFY is answered 481, nothing reaches the phone
  const sub2 = subscribe();
  const s2 = await h.provider.request('SUBSCRIBE');
  const refused = s2.tx.buildResponse(200, undefined, { headers: [['Contact', h.provider.contact()]] });
  const lateDialog = h.provider.dialogs.add(Dialog.asUas(s2.req, refused));
  const orphan = h.provider.inDialog(lateDialog, 'NOTIFY', { headers: [['Event', 'message-summary'], ['Subscription-State', 'terminated;reason=rejected']] });
  await new Promise((r) => setTimeout(r, 100));
  h.provider.answer(s2, 403);
  await sub2.response(403);
  t.is((await orphan).status, 481);
  await t.throwsAsync(phone.request('NOTIFY', 300));
});

test('bad input from peers: PRACK with an unknown or malformed RAck → 481, INVITE with Max-Forwards 0 → 483; no crash', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: 'v=0\r\n' });
  const pi = await phone.request('INVITE');
  phone.answer(pi, 180);
  const ringing = await inv.response(180);
  const early = h.provider.dialogs.matchResponse(ringing)!;
  const prack = await h.provider.inDialog(early, 'PRACK', { headers: [['RAck', '999 1 INVITE']] });
  t.is(prack.status, 481);
  early.state = 'early'; // our peer ended its view of the dialog on the 481 (§12.2.1.2); try again
  const garbage = await h.provider.inDialog(early, 'PRACK', { headers: [['RAck', 'not a rack']] });
  t.is(garbage.status, 481);
  inv.cancel();
  await inv.response(487);
  const mf = await h.provider.send('MESSAGE', h.accountUri, { target: h.sipis, body: 'x', headers: [['Max-Forwards', '0']] });
  t.is(mf.status, 200, 'a MESSAGE is taken by sipis itself (stored), not forwarded: Max-Forwards 0 is fine');
  const inv0 = h.provider.invite(h.accountUri, { target: h.sipis, headers: [['Max-Forwards', '0']] });
  await inv0.response(483);
  t.is(h.layer.counters.tuErrors, 0);
});

test('the phone cancels its outgoing call: CANCEL to the provider, 487 to the phone', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const call = phone.invite('sip:bob@sipis.test', { target: h.sipis, body: SDP('192.0.2.30'), from: '<sip:alice@sipis.test>' });
  const pi = await h.provider.request('INVITE');
  h.provider.answer(pi, 180);
  await call.response(180);
  call.cancel();
  const c = await h.provider.cancels.next();
  t.is(c.cancel.callId, pi.req.callId);
  await call.response(487);
  await waitFor(() => h.tunnel.size.outgoing === 0 && h.tunnel.size.dialogs === 0);
  t.pass();
});
