import test from 'ava';
import { parseMessage, type SipMessage } from '../sip/index.js';
import { layerPair } from './testing/harness.js';
import { rawRequest, testRequest } from './testing/messages.js';
import type { TransactionError } from './errors.js';
import type { ClientTransaction } from './client.js';
import type { ServerTransaction } from './server.js';
import { InviteClientTransaction } from './ict.js';

const UAS = { address: '127.0.0.1', port: 5060 };

function sentTo(p: ReturnType<typeof layerPair>, port: number): SipMessage[] {
  return p.net.log.filter((d) => d.to.port === port).map((d) => parseMessage(d.data));
}

test('non-INVITE: request, 200, retransmission answered from the transaction, Timer J/K free it', async (t) => {
  const p = layerPair();
  let calls = 0;
  p.uas.onRequest((tx) => {
    calls++;
    tx.reply(200);
  });
  const got: number[] = [];
  const tx = p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: (r) => got.push(r.status) }, { target: UAS });
  await p.settle();
  t.deepEqual(got, [200]);
  t.is(tx.state, 'Completed');
  t.is(p.uas.servers.size, 1);
  // a retransmitted request: the server re-sends its 200, the TU is not called again
  p.uacTransport.send(p.net.log[0]!.data, UAS);
  await p.settle();
  t.is(calls, 1);
  t.is(sentTo(p, 5070).filter((m) => m.status === 200).length, 2);
  t.deepEqual(got, [200], 'the client absorbs the retransmitted 200 in Completed');
  await p.advance(p.uas.timers.J + 20);
  t.is(p.uas.servers.size, 0);
  t.is(p.uac.clients.size, 0);
  t.is(p.wheel.size, 0);
});

test('non-INVITE: Timer E retransmits (doubling to T2), Timer F reports ERR_TX_TIMEOUT (408)', async (t) => {
  const p = layerPair();
  p.net.loss = 1; // nothing arrives
  let err: TransactionError | undefined;
  p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: () => t.fail(), onError: (e) => (err = e) }, { target: UAS });
  await p.advance(p.uac.timers.F + 20);
  t.is(err?.code, 'ERR_TX_TIMEOUT');
  t.is(err?.status, 408);
  // sends at 0, 500, 1500, 3500, 7500, 11500, … 31500: 11 in all with T1=500/T2=4000
  t.is(p.net.log.length, 11);
  t.is(p.uac.clients.size, 0);
  t.is(p.wheel.size, 0);
});

test('non-INVITE over a lossy network still completes through retransmissions', async (t) => {
  const p = layerPair();
  let seed = 7;
  p.net.random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  p.net.loss = 0.5;
  p.uas.onRequest((tx) => tx.reply(200));
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 20; i++) {
    p.uac.sendRequest(testRequest({ method: 'REGISTER', uri: 'sip:127.0.0.1:5060' }), { onResponse: (r) => r.status === 200 && ok++, onError: () => failed++ }, { target: UAS });
  }
  await p.advance(p.uac.timers.F + 100);
  t.is(ok + failed, 20);
  t.true(ok >= 18, `ok=${ok}`);
  t.true(p.net.log.length > 40, 'retransmissions happened');
});

test('INVITE: 100 Trying after 200 ms, 180, 200; ACK for 2xx goes to the TU; Accepted absorbs retransmissions', async (t) => {
  const p = layerPair();
  let ist: ServerTransaction | undefined;
  p.uas.onRequest((tx) => (ist = tx));
  const acks: SipMessage[] = [];
  p.uas.onAck((ack) => acks.push(ack));
  const got: number[] = [];
  const ict = p.uac.sendRequest(testRequest({ method: 'INVITE', body: 'v=0\r\n' }), { onResponse: (r) => got.push(r.status) }, { target: UAS });
  await p.settle();
  t.truthy(ist);
  await p.advance(210);
  t.deepEqual(got, [100]);
  ist!.reply(180);
  await p.settle();
  const ok = ist!.reply(200, 'OK', { body: 'v=0\r\n', contentType: 'application/sdp' });
  await p.settle();
  t.deepEqual(got, [100, 180, 200]);
  t.is(ist!.state, 'Accepted');
  t.is(ict.state, 'Accepted');
  // the TU retransmits its 2xx: the ICT in Accepted passes it up again (RFC 6026)
  ist!.respond(ok);
  await p.settle();
  t.deepEqual(got, [100, 180, 200, 200]);
  // ACK for 2xx: a new transaction-less request
  const ackText = rawRequest('ACK', 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKack2xx', '', 1, ist!.request.callId, ist!.request.from.tag, ist!.toTag);
  p.uacTransport.send(Buffer.from(ackText), UAS);
  await p.settle();
  t.is(acks.length, 1);
  await p.advance(p.uas.timers.L + 20);
  t.is(p.uas.servers.size, 0);
  t.is(p.uac.clients.size, 0);
  t.is(p.wheel.size, 0);
});

test('INVITE rejected: the client transaction ACKs the non-2xx itself; lost ACK → Timer G re-sends, ACK again', async (t) => {
  const p = layerPair();
  let ist: ServerTransaction | undefined;
  p.uas.onRequest((tx) => {
    ist = tx;
    tx.reply(486, 'Busy Here');
  });
  const got: number[] = [];
  p.uac.sendRequest(testRequest({ method: 'INVITE' }), { onResponse: (r) => got.push(r.status) }, { target: UAS });
  await p.settle();
  t.deepEqual(got, [486]);
  const acks = sentTo(p, 5060).filter((m) => m.method === 'ACK');
  t.is(acks.length, 1);
  const ack = acks[0]!;
  t.is(ack.cseq.seq, 1);
  t.is(ack.cseq.method, 'ACK');
  t.is(ack.to.tag, ist!.toTag);
  t.is(ist!.state, 'Confirmed');
  t.is(ack.via[0]!.branch, ist!.request.via[0]!.branch, 'same branch as the INVITE (§17.1.1.3)');
  await p.advance(p.uac.timers.D + 20);
  t.is(p.uas.servers.size + p.uac.clients.size + p.wheel.size, 0);
});

test('INVITE server: no ACK → Timer G retransmits the final response, Timer H reports ERR_TX_TIMEOUT', async (t) => {
  const p = layerPair();
  let err: TransactionError | undefined;
  p.uas.onRequest((tx) => {
    tx.onError = (e) => (err = e);
    tx.reply(603, 'Decline');
  });
  p.uasTransport.inject(rawRequest('INVITE', 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKnoack'), { address: '127.0.0.1', port: 5999 });
  await p.advance(p.uas.timers.H + 20);
  t.is(err?.code, 'ERR_TX_TIMEOUT');
  const finals = p.net.log.filter((d) => d.to.port === 5999).length;
  // 603 at 0, then G at 500, 1500, 3500, 7500, 11500, … up to 32 s: 1 + 10
  t.is(finals, 11);
  t.is(p.uas.servers.size + p.wheel.size, 0);
});

test('CANCEL after a provisional: 200 for the CANCEL, TU told, 487 for the INVITE, ACKed', async (t) => {
  const p = layerPair();
  let ist: ServerTransaction | undefined;
  p.uas.onRequest((tx) => {
    ist = tx;
    tx.reply(180);
  });
  let cancelled = false;
  p.uas.onCancel((_c, inv) => {
    cancelled = true;
    inv.reply(487);
  });
  const got: number[] = [];
  const ict = p.uac.sendRequest(testRequest({ method: 'INVITE' }), { onResponse: (r) => got.push(r.status) }, { target: UAS });
  await p.settle();
  t.true(p.uac.cancel(ict));
  await p.settle();
  t.true(cancelled);
  t.deepEqual(got, [180, 487]);
  const cancel = sentTo(p, 5060).find((m) => m.method === 'CANCEL')!;
  t.is(cancel.via[0]!.branch, (ict as InviteClientTransaction).branch);
  t.is(cancel.uri, ist!.request.uri);
  t.is(cancel.cseq.seq, ist!.request.cseq.seq);
  const cancel200 = sentTo(p, 5070).find((m) => m.cseq.method === 'CANCEL')!;
  t.is(cancel200.status, 200);
  t.truthy(sentTo(p, 5060).find((m) => m.method === 'ACK'));
});

test('CANCEL before any provisional waits for one (§9.1)', async (t) => {
  const p = layerPair();
  let ist: ServerTransaction | undefined;
  p.uas.onRequest((tx) => (ist = tx));
  const ict = p.uac.sendRequest(testRequest({ method: 'INVITE' }), { onResponse: () => {} }, { target: UAS });
  await p.settle();
  p.uac.cancel(ict, 'SIP;cause=200;text="Call completed elsewhere"');
  await p.settle();
  t.falsy(sentTo(p, 5060).find((m) => m.method === 'CANCEL'), 'not sent yet');
  ist!.reply(183);
  await p.settle();
  const cancel = sentTo(p, 5060).find((m) => m.method === 'CANCEL');
  t.truthy(cancel);
  t.regex(cancel!.header('Reason') ?? '', /cause=200/);
  t.is(ist!.lastStatus, 487, 'layer answered 487 itself (no onCancel handler)');
});

test('CANCEL for an unknown INVITE gets 481', async (t) => {
  const p = layerPair();
  p.uasTransport.inject(rawRequest('CANCEL', 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKnothing'), { address: '127.0.0.1', port: 5999 });
  await p.settle();
  const res = parseMessage(p.net.log.find((d) => d.to.port === 5999)!.data);
  t.is(res.status, 481);
});

test('RFC 2543 peer (no magic cookie): retransmission and ACK matched without a branch', async (t) => {
  const p = layerPair();
  let calls = 0;
  let ist: ServerTransaction | undefined;
  p.uas.onRequest((tx) => {
    calls++;
    ist = tx;
    tx.reply(404);
  });
  const src = { address: '127.0.0.1', port: 5999 };
  const inv = rawRequest('INVITE', 'SIP/2.0/UDP 127.0.0.1:5999');
  p.uasTransport.inject(inv, src);
  p.uasTransport.inject(inv, src);
  await p.settle();
  t.is(calls, 1);
  t.is(p.net.log.filter((d) => d.to.port === 5999).length, 2, '404 re-sent for the retransmission');
  p.uasTransport.inject(rawRequest('ACK', 'SIP/2.0/UDP 127.0.0.1:5999', '', 1, 'cid-1@test', 'ft1', ist!.toTag), src);
  await p.settle();
  t.is(ist!.state, 'Confirmed');
});

test('failover: Timer F on the first target moves to the next with a new branch', async (t) => {
  const p = layerPair();
  p.uas.onRequest((tx) => tx.reply(200));
  let status = 0;
  const dead = { address: '127.0.0.1', port: 5999 };
  const tx: ClientTransaction = p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: (r) => (status = r.status) }, { target: [dead, UAS] });
  const firstBranch = tx.branch;
  await p.advance(p.uac.timers.F + 20);
  t.is(status, 200);
  t.not(tx.branch, firstBranch);
  t.deepEqual(tx.target, UAS);
});

test('a request handler that throws gets a 500, the layer survives', async (t) => {
  const p = layerPair();
  p.uas.onRequest(() => {
    throw new Error('bug in TU');
  });
  let status = 0;
  p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: (r) => (status = r.status) }, { target: UAS });
  await p.settle();
  t.is(status, 500);
  t.is(p.uas.counters.tuErrors, 1);
});

test('stray responses (no client transaction) go to onStrayResponse', async (t) => {
  const p = layerPair();
  const stray: number[] = [];
  p.uac.onStrayResponse((r) => stray.push(r.status));
  const resp = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKgone\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n';
  p.uacTransport.inject(resp, UAS);
  await p.settle();
  t.deepEqual(stray, [200]);
});
