/**
 * What a finished call leaves behind. The transactions of a call linger for 64*T1 (Timers J, L,
 * M: 32 s on UDP) to absorb retransmissions; at 500 calls/s that is 16,000 calls at any time, so
 * they must hold bytes and keys, not the call: its messages, dialogs and legs must be garbage as
 * soon as the BYE is answered (core/transaction/linger.ts, BridgedCall.release).
 */
import test, { type ExecutionContext } from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SDP } from '../../fixtures/e2e/peer.js';
import type { SipMessage } from '../sip/index.js';
import { startHarness } from './testing/harness.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  // WeakRefs are kept for the job that created or read them: collect from a later task
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 0));
    gc();
  }
}

/**
 * A harness whose router is the tunnel's own, recording a weak reference to each INVITE sipis
 * receives from the provider, with phone 0 registered.
 */
async function registeredPhone(t: ExecutionContext) {
  const h = await startHarness();
  t.teardown(() => h.close());
  const refs: Array<WeakRef<object>> = [];
  h.layer.onRequest((tx, req) => {
    if (req.method === 'REGISTER') return h.registrar.handleRegister(tx, req, tx.remote);
    if (req.method === 'INVITE' && !req.to.tag) refs.push(new WeakRef<SipMessage>(req));
    h.tunnel.handleRequest(tx, req, tx.remote);
  });
  const phone = h.phones[0]!;
  t.is((await phone.register(h.sipis, 'alice', { instance: 'i1' })).status, 200);
  return { h, refs, phone };
}

test('a finished call leaves no message, dialog or leg reachable while its transactions linger', async (t) => {
  const { h, refs, phone } = await registeredPhone(t);
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP('192.0.2.10') });
  const pi = await phone.request('INVITE');
  // the INVITE sipis sent to the phone, as its client transaction holds it now
  for (const c of h.layer.clients.values()) if (c.isInvite) refs.push(new WeakRef(c.request), new WeakRef(c.user));
  phone.answer(pi, 200, { body: SDP('192.0.2.20') });
  await inv.response(200);
  await inv.ack();
  await phone.acks.next();
  const bye = h.provider.inDialog(inv.dialog!, 'BYE');
  phone.answer(await phone.request('BYE'), 200);
  t.is((await bye).status, 200);
  t.deepEqual(h.tunnel.size, { incoming: 0, outgoing: 0, dialogs: 0 });
  t.is(refs.length, 3);
  await collect();
  t.true(h.layer.servers.size >= 2 && h.layer.clients.size >= 1, 'the INVITE and BYE transactions still linger');
  t.deepEqual(
    refs.map((r) => r.deref() === undefined),
    [true, true, true],
    'the provider INVITE, our INVITE to the phone and the call behind its TU are garbage',
  );
});

test('an established call keeps its dialogs but not the INVITEs that set it up; it still relays and ends', async (t) => {
  const { h, refs, phone } = await registeredPhone(t);
  const inv = h.provider.invite(h.accountUri, { target: h.sipis, body: SDP('192.0.2.10') });
  const pi = await phone.request('INVITE');
  for (const c of h.layer.clients.values()) if (c.isInvite) refs.push(new WeakRef(c.request));
  phone.answer(pi, 200, { body: SDP('192.0.2.20') });
  await inv.response(200);
  await inv.ack();
  await phone.acks.next();
  t.is(h.tunnel.size.incoming, 1, 'the call is up');
  t.is(h.tunnel.size.dialogs, 2);
  await collect();
  t.deepEqual(
    refs.map((r) => r.deref() === undefined),
    [true, true],
    'the provider INVITE and our INVITE to the phone are garbage while the call lasts',
  );
  // and the call still works both ways: a re-INVITE from the phone, then the provider's BYE
  const reinvite = phone.inDialog(phone.dialogOf(pi.req)!, 'INVITE', { body: SDP('192.0.2.21') });
  const pr = await h.provider.request('INVITE');
  h.provider.answer(pr, 200, { body: SDP('192.0.2.11') });
  t.is((await reinvite).status, 200);
  await h.provider.acks.next();
  const bye = h.provider.inDialog(inv.dialog!, 'BYE');
  phone.answer(await phone.request('BYE'), 200);
  t.is((await bye).status, 200);
  t.deepEqual(h.tunnel.size, { incoming: 0, outgoing: 0, dialogs: 0 });
});
