/**
 * Lingering transactions (linger.ts): once the outcome is decided they keep bytes, not parsed
 * messages, and let go of a TU that can no longer be called; `request` still answers, re-parsed.
 */
import test from 'ava';
import { serializeMessage, type SipMessage } from '../sip/index.js';
import type { ClientTransaction, ClientTransactionUser } from './client.js';
import { flatten, keep, keptBytes, lastKeptIn, lingerBytes, ownBytes } from './linger.js';
import type { ServerTransaction } from './server.js';
import { layerPair } from './testing/harness.js';
import { testRequest } from './testing/messages.js';

const UAS = { address: '127.0.0.1', port: 5060 };

test('NIST/NICT: after the final response the request is re-parsed from its bytes, the Completed NICT drops its TU, Timer J/K still run', async (t) => {
  const p = layerPair();
  let stx: ServerTransaction | undefined;
  let received: SipMessage | undefined;
  p.uas.onRequest((tx, req) => {
    stx = tx;
    received = req;
    t.is(tx.request, req, 'the parsed request while the TU may answer');
    tx.reply(200);
  });
  const user: ClientTransactionUser = { onResponse: () => undefined };
  const ctx: ClientTransaction = p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), user, { target: UAS });
  const sent = ctx.request;
  await p.settle();
  t.is(stx!.state, 'Completed');
  t.not(stx!.request, received, 'released: a new parse');
  t.true(serializeMessage(stx!.request).equals(serializeMessage(received!)), 'same bytes');
  t.is(stx!.request.method, 'OPTIONS');
  t.is(ctx.state, 'Completed');
  t.not(ctx.request, sent);
  t.true(serializeMessage(ctx.request).equals(serializeMessage(sent)));
  t.not(ctx.user, user, 'nothing can reach the TU of a Completed NICT');
  // the retransmitted request is still answered from the lingering server transaction
  p.uacTransport.send(p.net.log[0]!.data, UAS);
  await p.settle();
  t.is(p.net.log.filter((d) => d.to.port === 5070).length, 2);
  await p.advance(p.uas.timers.J + 20);
  t.is(p.uas.servers.size + p.uac.clients.size, 0);
});

test('a TU with onTerminated keeps it; an ICT in Accepted keeps its TU (RFC 6026: later 2xx go up)', async (t) => {
  const p = layerPair();
  p.uas.onRequest((tx) => tx.reply(200));
  let terminated = 0;
  const nict = p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: () => undefined, onTerminated: () => terminated++ }, { target: UAS });
  const got: number[] = [];
  const inviteUser: ClientTransactionUser = { onResponse: (r) => got.push(r.status) };
  const ict = p.uac.sendRequest(testRequest({ method: 'INVITE' }), inviteUser, { target: UAS });
  await p.settle();
  t.is(nict.state, 'Completed');
  t.truthy(nict.user.onTerminated);
  t.is(ict.state, 'Accepted');
  t.is(ict.user, inviteUser);
  // a retransmitted 2xx reaches the TU
  const ok = p.net.log.filter((d) => d.to.port === 5070).at(-1)!;
  p.uasTransport.send(ok.data, { address: '127.0.0.1', port: 5070 });
  await p.settle();
  t.deepEqual(got, [200, 200]);
  await p.advance(p.uac.timers.M + 20);
  t.is(terminated, 1);
});

test('releaseRequest: a no-op until the outcome is decided; then the request is gone (ERR_TX_STATE) and retransmissions are still absorbed or answered', async (t) => {
  const p = layerPair();
  let stx: ServerTransaction | undefined;
  p.uas.onRequest((tx) => {
    stx = tx;
    tx.releaseRequest();
    t.is(tx.request.method, 'OPTIONS', 'before the final response: kept');
    tx.reply(200);
    tx.releaseRequest();
  });
  const got: number[] = [];
  const ctx: ClientTransaction = p.uac.sendRequest(testRequest({ method: 'OPTIONS' }), { onResponse: (r) => got.push(r.status) }, { target: UAS });
  ctx.releaseRequest();
  t.is(ctx.request.method, 'OPTIONS', 'in Trying: kept (it may be retransmitted)');
  await p.settle();
  t.is(stx!.state, 'Completed');
  t.is((t.throws(() => stx!.request) as { code?: string }).code, 'ERR_TX_STATE');
  ctx.releaseRequest();
  t.is((t.throws(() => ctx.request) as { code?: string }).code, 'ERR_TX_STATE');
  // the retransmitted request is still answered from the last response; the retransmitted 200 absorbed
  p.uacTransport.send(p.net.log[0]!.data, UAS);
  await p.settle();
  const answers = p.net.log.filter((d) => d.to.port === 5070);
  t.is(answers.length, 2);
  p.uasTransport.send(answers[1]!.data, { address: '127.0.0.1', port: 5070 });
  await p.settle();
  t.deepEqual(got, [200]);
  await p.advance(p.uas.timers.J + 20);
  t.is(p.uas.servers.size + p.uac.clients.size, 0);
});

test('releaseRequest on an ICT in Accepted: later 2xx still reach the TU (RFC 6026), the INVITE bytes are gone', async (t) => {
  const p = layerPair();
  p.uas.onRequest((tx) => tx.reply(200));
  const got: number[] = [];
  const ict = p.uac.sendRequest(testRequest({ method: 'INVITE' }), { onResponse: (r) => got.push(r.status) }, { target: UAS });
  await p.settle();
  t.is(ict.state, 'Accepted');
  ict.releaseRequest();
  t.is((t.throws(() => ict.request) as { code?: string }).code, 'ERR_TX_STATE');
  const ok = p.net.log.filter((d) => d.to.port === 5070).at(-1)!;
  p.uasTransport.send(ok.data, { address: '127.0.0.1', port: 5070 });
  await p.settle();
  t.deepEqual(got, [200, 200]);
  await p.advance(p.uac.timers.M + 20);
  t.is(ict.state, 'Terminated');
});

test('lingerBytes copies into a shared slab: equal bytes, no tie to the source, large messages get their own memory', (t) => {
  const src = Buffer.from('SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n', 'latin1');
  const a = lingerBytes(src);
  const b = lingerBytes(Buffer.from('second'));
  t.deepEqual(a, src);
  t.not(a.buffer, src.buffer);
  src.fill(0);
  t.is(a.toString('latin1', 0, 7), 'SIP/2.0', 'a copy, not a view of the source');
  t.is(b.toString(), 'second');
  t.is(a.buffer, b.buffer, 'small copies share a slab');
  t.true(b.byteOffset >= a.byteOffset + a.byteLength);
  const big = lingerBytes(Buffer.alloc(64 * 1024, 1));
  t.is(big.byteLength, big.buffer.byteLength);
  t.is(big[65535], 1);
});

test('keep: the start in a shared slab and the slab (no view object); keptBytes gives the same bytes back; large ones get memory of their own', (t) => {
  const src = Buffer.from('SIP/2.0 200 OK\r\nCall-ID: k\r\n\r\n', 'latin1');
  const at = keep(src);
  const mem = lastKeptIn();
  src.fill(0);
  t.is(keptBytes(mem, at, 30).toString('latin1'), 'SIP/2.0 200 OK\r\nCall-ID: k\r\n\r\n', 'a copy, not a view of the source');
  const at2 = keep(Buffer.from('ACK'));
  t.is(lastKeptIn(), mem, 'small copies share a slab');
  t.true(at2 >= at + 30);
  t.is(keptBytes(mem, at2, 3).toString(), 'ACK');
  const bigAt = keep(Buffer.alloc(64 * 1024, 2));
  const big = lastKeptIn();
  t.is(bigAt, 0);
  t.not(big, mem);
  t.is(keptBytes(big, 0, 64 * 1024), big, 'all of its own memory: no new view');
  t.is(big[65535], 2);
});

test('ownBytes copies a slice of a shared buffer and keeps a buffer of its own; flatten keeps the value', (t) => {
  const pooled = Buffer.from('SIP/2.0 200 OK\r\n\r\n', 'latin1');
  const own = ownBytes(pooled);
  t.true(own.equals(pooled));
  if (pooled.byteLength !== pooled.buffer.byteLength) t.not(own.buffer, pooled.buffer);
  t.is(own.byteLength, own.buffer.byteLength);
  t.is(ownBytes(own), own);
  const whole = Buffer.alloc(64 * 1024);
  t.is(ownBytes(whole), whole);
  const sub = whole.subarray(10, 20);
  t.is(ownBytes(sub).byteLength, 10);
  t.not(ownBytes(sub).buffer, whole.buffer);
  const head = 'INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKabcdefghijkl';
  const key = `${head.slice(head.indexOf('z9'))}\u0000h:5060\u0000INVITE`;
  t.is(flatten(key), key);
  t.is(flatten(key), 'z9hG4bKabcdefghijkl\u0000h:5060\u0000INVITE');
});
