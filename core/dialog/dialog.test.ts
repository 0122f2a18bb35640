import test from 'ava';
import { createResponse, parseMessage, serializeMessage, type SipMessage } from '../sip/index.js';
import { Dialog } from './dialog.js';
import { DialogStore } from './store.js';
import { routeRequest } from './route.js';

const INVITE =
  'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv1\r\n' +
  'Max-Forwards: 70\r\n' +
  'Record-Route: <sip:p2.example.com;lr>\r\n' +
  'Record-Route: <sip:p1.example.com;lr>\r\n' +
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=alice1\r\n' +
  'To: <sip:bob@biloxi.example.com>\r\n' +
  'Call-ID: call-1@10.0.0.1\r\n' +
  'CSeq: 314 INVITE\r\n' +
  'Contact: <sip:alice@10.0.0.1:5060>\r\n' +
  'Content-Length: 0\r\n\r\n';

const invite = (): SipMessage => parseMessage(Buffer.from(INVITE));

function answer(req: SipMessage, status: number, tag: string, contact = '<sip:bob@10.0.0.2:5062>'): SipMessage {
  return createResponse(req, status, undefined, { toTag: tag, headers: [['Contact', contact]] });
}

test('UAS dialog (§12.1.1): route set from Record-Route in order, remote target from Contact, BYE built per §12.2.1.1', (t) => {
  const inv = invite();
  const d = Dialog.asUas(inv, answer(inv, 200, 'bob1'));
  t.is(d.state, 'confirmed');
  t.deepEqual(d.routeSet, ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
  t.is(d.remoteTarget, 'sip:alice@10.0.0.1:5060');
  t.is(d.remoteSeq, 314);
  const bye = d.createRequest('BYE');
  t.is(bye.uri, 'sip:alice@10.0.0.1:5060');
  t.deepEqual(bye.headerValues('Route'), ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
  t.is(bye.from.tag, 'bob1');
  t.is(bye.to.tag, 'alice1');
  t.is(bye.cseq.seq, 1);
  t.is(bye.callId, 'call-1@10.0.0.1');
});

test('UAC dialog (§12.1.2): route set reversed, ACK with the INVITE CSeq, CSeq increments, PRACK with RAck', (t) => {
  const inv = invite();
  const ok = answer(inv, 200, 'bob1');
  const d = Dialog.asUac(inv, ok);
  t.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
  t.is(d.remoteTarget, 'sip:bob@10.0.0.2:5062');
  const ack = d.createAck();
  t.is(ack.cseq.seq, 314);
  t.is(ack.cseq.method, 'ACK');
  t.is(ack.to.tag, 'bob1');
  const info = d.createRequest('INFO', { body: 'x', contentType: 'text/plain' });
  t.is(info.cseq.seq, 315);
  const reinvite = d.createRequest('INVITE', { contact: '<sip:alice@10.0.0.1:5060>' });
  t.is(reinvite.cseq.seq, 316);
  t.is(d.createAck().cseq.seq, 316, 'the ACK follows the last INVITE');
  const rel = createResponse(inv, 183, undefined, { toTag: 'bob1', headers: [['RSeq', '7'], ['Require', '100rel'], ['Contact', '<sip:bob@10.0.0.2:5062>']] });
  const prack = d.createPrack(rel);
  t.is(prack.header('RAck'), '7 314 INVITE');
  t.is(prack.cseq.seq, 317);
  t.throws(() => d.createPrack(ok), { code: 'ERR_DIALOG_NO_TARGET' } as never);
});

test('strict routing (§12.2.1.1): first route becomes the Request-URI, remote target the last Route', (t) => {
  const r = routeRequest('sip:alice@10.0.0.1', ['<sip:strict.example.com;maddr=10.9.9.9>', '<sip:p2.example.com;lr>']);
  t.is(r.uri, 'sip:strict.example.com;maddr=10.9.9.9');
  t.deepEqual(r.routes, ['<sip:p2.example.com;lr>', '<sip:alice@10.0.0.1>']);
  t.deepEqual(routeRequest('sip:a@b', []), { uri: 'sip:a@b', routes: [] });
});

test('remote CSeq lower than the last → 500 (§12.2.2); target refresh by re-INVITE; 481 after termination', (t) => {
  const inv = invite();
  const d = Dialog.asUas(inv, answer(inv, 200, 'bob1'));
  const req = (method: string, seq: number, contact = '') =>
    parseMessage(
      Buffer.from(
        `${method} sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK${method}${seq}\r\nMax-Forwards: 70\r\n` +
          `From: <sip:alice@atlanta.example.com>;tag=alice1\r\nTo: <sip:bob@biloxi.example.com>;tag=bob1\r\nCall-ID: call-1@10.0.0.1\r\nCSeq: ${seq} ${method}\r\n${contact}Content-Length: 0\r\n\r\n`,
      ),
    );
  t.is(d.receiveRequest(req('INVITE', 315, 'Contact: <sip:alice@10.0.0.77:5090>\r\n')), 0);
  t.is(d.remoteTarget, 'sip:alice@10.0.0.77:5090');
  t.is(d.receiveRequest(req('INFO', 314)), 500);
  t.is(d.receiveRequest(req('ACK', 315)), 0);
  t.is(d.receiveRequest(req('BYE', 316)), 0);
  const store = new DialogStore();
  store.add(d);
  t.is(store.matchRequest(req('BYE', 317)), d);
  d.terminate();
  t.is(d.receiveRequest(req('BYE', 318)), 481);
});

test('forked early dialogs stay apart (same Call-ID and local tag, different remote tags); 2xx confirms one', (t) => {
  const inv = invite();
  const store = new DialogStore();
  const a = store.fromResponse(inv, answer(inv, 180, 'forkA', '<sip:bob@10.0.0.2>'))!;
  const b = store.fromResponse(inv, answer(inv, 183, 'forkB', '<sip:bob@10.0.0.3>'))!;
  t.not(a, b);
  t.is(a.state, 'early');
  t.is(store.size, 2);
  t.is(store.forks('call-1@10.0.0.1', 'alice1').length, 2);
  const ok = answer(inv, 200, 'forkB', '<sip:bob@10.0.0.33>');
  t.is(store.fromResponse(inv, ok), b);
  t.is(b.state, 'confirmed');
  t.is(b.remoteTarget, 'sip:bob@10.0.0.33');
  t.is(a.state, 'early');
  t.is(store.fromResponse(inv, createResponse(inv, 100)), undefined);
  // a 180 without a To tag (createResponse adds one to anything above 100: §8.2.6.2)
  const untagged = parseMessage(Buffer.from(serializeMessage(createResponse(inv, 100)).toString('latin1').replace('SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing'), 'latin1'));
  t.throws(() => Dialog.asUac(inv, untagged), { code: 'ERR_DIALOG_NO_TAG' } as never);
});
