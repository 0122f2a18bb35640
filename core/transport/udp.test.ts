import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { parseMessage, type SipMessage } from '../sip/index.js';
import { UdpTransport } from './udp.js';
import { MemoryNetwork } from './memory.js';
import type { Endpoint } from './types.js';

function client(family: 4 | 6 = 4): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket(family === 6 ? 'udp6' : 'udp4');
    s.bind(0, family === 6 ? '::1' : '127.0.0.1', () => resolve(s));
  });
}

function nextDatagram(s: Socket, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no datagram')), timeoutMs);
    s.once('message', (m) => {
      clearTimeout(t);
      resolve(m);
    });
  });
}

const req = (via: string, extra = '', cseq = '1 OPTIONS') =>
  `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: ${via}\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: ${cseq}\r\n${extra}Content-Length: 0\r\n\r\n`;

test('UDP on IPv4 and IPv6: receives, stamps received/rport (RFC 3581), replies from the right socket', async (t) => {
  const tr = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }, { host: '::1', port: 0 }], recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  t.teardown(() => tr.close());
  const got: Array<{ msg: SipMessage; remote: Endpoint; local: Endpoint }> = [];
  tr.onMessage((msg, remote, local) => got.push({ msg, remote, local }));
  const [v4, v6] = tr.endpoints;
  const c4 = await client(4);
  const c6 = await client(6);
  t.teardown(() => {
    c4.close();
    c6.close();
  });
  // sent-by names another host and asks for rport: both filled in
  c4.send(req('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport'), v4!.port, v4!.address);
  c6.send(req('SIP/2.0/UDP [::1]:' + c6.address().port + ';branch=z9hG4bK2'), v6!.port, v6!.address);
  // sent-by is the source but rport was asked for: received too (RFC 3581 §4, "even if it is identical")
  c4.send(req('SIP/2.0/UDP 127.0.0.1:' + c4.address().port + ';rport;branch=z9hG4bK3'), v4!.port, v4!.address);
  await new Promise((r) => setTimeout(r, 200));
  t.is(got.length, 3);
  const same = got.find((g) => g.msg.via[0]!.branch === 'z9hG4bK3')!;
  t.is(same.msg.via[0]!.received, '127.0.0.1');
  t.is(same.msg.via[0]!.rport, c4.address().port);
  const a = got.find((g) => g.msg.via[0]!.branch === 'z9hG4bK1')!;
  t.is(a.msg.via[0]!.received, '127.0.0.1');
  t.is(a.msg.via[0]!.rport, c4.address().port);
  const b = got.find((g) => g.local.address === '::1')!;
  t.is(b.msg.via[0]!.received, undefined, 'sent-by equals the source, no rport: no received');
  t.is(tr.counters.datagramsIn, 3);
  // buffer sizes applied (the kernel doubles what it is given)
  t.true(tr.bufferSizes()[0]!.recv >= 1 << 20);
  // sentBy picks the socket of the destination's family
  t.is(tr.sentBy({ address: '::1', port: 5060 }).host, '[::1]');
  const reply = nextDatagram(c6);
  tr.send(Buffer.from('hello'), { address: '::1', port: c6.address().port });
  t.is((await reply).toString(), 'hello');
});

test('malformed datagrams: counted, answered 400 with the reason, never thrown; keep-alives ignored', async (t) => {
  const tr = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
  t.teardown(() => tr.close());
  let delivered = 0;
  tr.onMessage(() => delivered++);
  const c = await client();
  t.teardown(() => c.close());
  const ep = tr.endpoints[0]!;
  const ask = async (text: string | Buffer): Promise<string | undefined> => {
    const p = nextDatagram(c, 300).catch(() => undefined);
    c.send(text, ep.port, ep.address);
    return (await p)?.toString('latin1');
  };
  const via = 'SIP/2.0/UDP 127.0.0.1:' + c.address().port + ';branch=z9hG4bKbad';
  t.regex((await ask(req(via, '', 'x OPTIONS')))!, /^SIP\/2\.0 400 Bad CSeq\r\n/);
  t.regex((await ask(req(via, '', '1 INVITE')))!, /^SIP\/2\.0 400 (Bad CSeq|CSeq Method Mismatch)/);
  t.regex((await ask(req(via).replace('SIP/2.0\r\n', 'SIP/3.0\r\n')))!, /^SIP\/2\.0 505 /);
  t.regex((await ask(req(via).replace('sip:x@127.0.0.1', 'http://x')))!, /^SIP\/2\.0 416 /);
  // RFC 4475 §3.1.2.8-10: a malformed request line is still a request and gets its 400
  // (lwsruri: SP inside the URI; lwsstart: several SP between the elements; trws: SP after the version)
  t.regex((await ask(req(via).replace('sip:x@127.0.0.1', 'sip:x@127.0.0.1; lr')))!, /^SIP\/2\.0 400 /);
  t.regex((await ask(req(via).replace('OPTIONS sip:x@127.0.0.1 SIP/2.0', 'OPTIONS  sip:x@127.0.0.1  SIP/2.0')))!, /^SIP\/2\.0 400 /);
  t.regex((await ask(req(via).replace('SIP/2.0\r\n', 'SIP/2.0  \r\n')))!, /^SIP\/2\.0 400 /);
  const big = await ask(req(via, `X-Big: ${'a'.repeat(70_000)}\r\n`));
  t.true(big === undefined || /^SIP\/2\.0 (413|400) /.test(big), String(big?.slice(0, 40)));
  t.is(await ask('\r\n\r\n'), undefined);
  t.is(await ask(Buffer.from([0, 1, 2, 255, 254])), undefined, 'garbage: dropped silently');
  t.is(await ask(req(via).replace('OPTIONS sip', 'ACK sip').replace('1 OPTIONS', '1 ACK').replace('CSeq: 1 ACK', 'CSeq: x')), undefined, 'no answer to ACK');
  t.is(delivered, 0);
  t.is(tr.counters.keepAlives, 1);
  t.true(tr.counters.parseErrors >= 6);
  t.true(tr.counters.badRequestsAnswered >= 4);
  // the answer copies Via/From/To/Call-ID/CSeq and adds a To tag
  const ans = parseMessage(Buffer.from((await ask(req(via).replace('SIP/2.0\r\n', 'SIP/3.0\r\n')))!, 'latin1'));
  t.is(ans.status, 505);
  t.is(ans.callId, 'abc');
  t.truthy(ans.to.tag);
});

test('bind errors are typed; sending to a family without a socket fails with ERR_TRANSPORT_NO_SOCKET', async (t) => {
  const a = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
  t.teardown(() => a.close());
  const err = await t.throwsAsync(UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: a.endpoints[0]!.port }] }));
  t.is((err as { code?: string }).code, 'ERR_TRANSPORT_BIND');
  const sendErr = await new Promise<Error | null>((r) => a.send(Buffer.from('x'), { address: '::1', port: 5060 }, undefined, r));
  t.is((sendErr as { code?: string }).code, 'ERR_TRANSPORT_NO_SOCKET');
  t.throws(() => a.sentBy({ address: '::1', port: 5060 }), { code: 'ERR_TRANSPORT_NO_SOCKET' } as never);
});

test('MemoryTransport runs the same ingress (400s and rport stamping)', async (t) => {
  const net = new MemoryNetwork();
  const a = net.transport('127.0.0.1', 5060);
  const b = net.transport('127.0.0.1', 5070);
  const got: SipMessage[] = [];
  a.onMessage((m) => got.push(m));
  b.send(Buffer.from(req('SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKm;rport')), { address: '127.0.0.1', port: 5060 });
  b.send(Buffer.from(req('SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKm2', '', 'zz OPTIONS')), { address: '127.0.0.1', port: 5060 });
  await new Promise((r) => setTimeout(r, 20));
  t.is(got.length, 1);
  t.is(got[0]!.via[0]!.received, '127.0.0.1');
  t.is(got[0]!.via[0]!.rport, 5070);
  const back = net.log.filter((d) => d.to.port === 5070).map((d) => d.data.toString('latin1'));
  t.is(back.length, 1);
  t.regex(back[0]!, /^SIP\/2\.0 400 Bad CSeq/);
});

test('with `supported` set, a Require naming an unknown option gets 420 with Unsupported (§8.2.2.3)', async (t) => {
  const net = new MemoryNetwork();
  const a = net.transport('127.0.0.1', 5060, { supported: new Set(['100rel']) });
  const b = net.transport('127.0.0.1', 5070);
  let delivered = 0;
  a.onMessage(() => delivered++);
  b.send(Buffer.from(req('SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1', 'Require: 100rel\r\n')), { address: '127.0.0.1', port: 5060 });
  b.send(Buffer.from(req('SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr2', 'Require: foo, 100rel\r\n')), { address: '127.0.0.1', port: 5060 });
  await new Promise((r) => setTimeout(r, 20));
  t.is(delivered, 1);
  const back = net.log.filter((d) => d.to.port === 5070).map((d) => parseMessage(d.data));
  t.is(back.length, 1);
  t.is(back[0]!.status, 420);
  t.is(back[0]!.header('Unsupported'), 'foo');
});
