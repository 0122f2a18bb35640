/**
 * Bad streams close their own connection only: garbage, a Content-Length over the limit, a
 * client trickling headers one byte at a time (slowloris), too many connections from one
 * address, idle connections; a healthy phone on the same bridge keeps working throughout.
 */
import test from 'ava';
import { bridgeWithPeers, udpPeer } from './testing/harness.js';
import { MiniUa } from './testing/sipua.js';
import { H } from './scan.js';
import { tcpWire, wsWire, type StreamWire } from './testing/wires.js';

async function setup(t: import('ava').ExecutionContext, over: Parameters<typeof bridgeWithPeers>[1] = () => undefined) {
  const peer = await udpPeer();
  const bridge = await bridgeWithPeers([peer], over);
  t.teardown(async () => {
    peer.wire.close();
    await bridge.close();
  });
  const wire = await tcpWire(bridge.addresses.tcp!.port);
  const phone = new MiniUa({ wire, transport: 'TCP', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'good@example.com', contactParams: ';transport=tcp' });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
  return { peer, bridge, phone };
}

const closedWithin = (w: StreamWire, ms: number) => Promise.race([w.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

test('garbage, an oversized Content-Length and a missing Content-Length close only their connection', async (t) => {
  const { bridge, phone } = await setup(t, (c) => (c.limits.maxMessageBytes = 4096));
  const port = bridge.addresses.tcp!.port;
  const cases: Array<[string, string]> = [
    ['ERR_FRAME_BAD_START_LINE', '\x16\x03\x01\x02\x00garbage that is no SIP\r\n\r\n'],
    ['ERR_FRAME_MESSAGE_TOO_LARGE', 'MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n'],
    ['ERR_FRAME_MISSING_CONTENT_LENGTH', 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bKa\r\n\r\n'],
    ['ERR_FRAME_HEADERS_TOO_LARGE', `OPTIONS sip:a@b SIP/2.0\r\nX-Big: ${'a'.repeat(5000)}`],
  ];
  for (const [code, bytes] of cases) {
    const bad = await tcpWire(port);
    bad.socket.write(bytes);
    t.true(await closedWithin(bad, 3000), `${code} closed the connection`);
    t.is(bridge.metrics.framingErrors.get(code), 1, code);
  }
  t.is((await phone.register()).status, 200, 'the healthy phone still works');
  t.is(bridge.metrics.connections.get('tcp'), 1);
});

test('a request announcing a body over the size limit is answered 513 Message Too Large, then its connection closes (RFC 3261 §21.5.14)', async (t) => {
  const { bridge, phone } = await setup(t, (c) => (c.limits.maxMessageBytes = 4096));
  const big = await tcpWire(bridge.addresses.tcp!.port);
  const answers: Buffer[] = [];
  big.onMessage((m) => answers.push(m));
  big.socket.write(
    'MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-big\r\nMax-Forwards: 70\r\n' +
      'From: <sip:big@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: big@test\r\nCSeq: 7 MESSAGE\r\n' +
      'Content-Type: text/plain\r\nContent-Length: 999999\r\n\r\n' + 'x'.repeat(1000),
  );
  t.true(await closedWithin(big, 3000));
  t.is(answers.length, 1);
  const text = answers[0]!.toString('latin1');
  t.regex(text, /^SIP\/2\.0 513 Message Too Large\r\n/);
  t.regex(text, /\r\nCSeq: 7 MESSAGE\r\n/);
  t.regex(text, /\r\nVia: SIP\/2\.0\/TCP 192\.0\.2\.1:5060;branch=z9hG4bK-big/);
  t.is(bridge.metrics.framingErrors.get('ERR_FRAME_MESSAGE_TOO_LARGE'), 1);
  t.is((await phone.register()).status, 200, 'the healthy phone still works');
});

test('slowloris: headers trickled a byte at a time are cut off after the header timeout', async (t) => {
  const { bridge, phone } = await setup(t, (c) => {
    c.limits.headerTimeoutMs = 600;
    c.limits.idleTimeoutMs = 10_000;
  });
  const slow = await tcpWire(bridge.addresses.tcp!.port);
  const text = 'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKslow\r\n';
  let i = 0;
  const timer = setInterval(() => {
    if (i < text.length && !slow.socket.destroyed) slow.socket.write(text[i++]!);
  }, 50);
  t.teardown(() => clearInterval(timer));
  t.true(await closedWithin(slow, 5000));
  clearInterval(timer);
  t.true(i < text.length, 'closed before the headers could complete');
  t.is(bridge.metrics.connectionsRejected.get('header-timeout'), 1);
  t.is((await phone.register()).status, 200);
});

test('an idle connection is closed; keep-alive pings are answered and keep it open', async (t) => {
  const { bridge } = await setup(t, (c) => {
    c.limits.headerTimeoutMs = 300;
    c.limits.idleTimeoutMs = 800;
  });
  const idle = await tcpWire(bridge.addresses.tcp!.port);
  const pinger = await tcpWire(bridge.addresses.tcp!.port);
  let pongs = 0;
  pinger.socket.on('data', (d: Buffer) => (pongs += d.toString() === '\r\n' ? 1 : 0));
  const timer = setInterval(() => pinger.socket.write('\r\n\r\n'), 200);
  t.teardown(() => clearInterval(timer));
  t.true(await closedWithin(idle, 4000));
  t.false(pinger.socket.destroyed);
  for (let i = 0; i < 60 && pongs < 3; i++) await new Promise((r) => setTimeout(r, 50));
  clearInterval(timer);
  t.true(pongs >= 3, `pongs ${pongs}`);
  t.true(bridge.metrics.keepAlives.get('tcp') >= 3);
  t.true(bridge.metrics.connectionsRejected.get('idle-timeout') >= 1);
});

test('connections per source address are limited, over TCP and WebSocket', async (t) => {
  const { bridge } = await setup(t, (c) => (c.limits.maxConnectionsPerAddress = 3));
  // the registered phone holds one; two more fit, the next is refused
  const ok1 = await tcpWire(bridge.addresses.tcp!.port);
  const ok2 = await wsWire(bridge.addresses.ws!.port);
  t.teardown(() => {
    ok1.close();
    ok2.close();
  });
  const refused = await tcpWire(bridge.addresses.tcp!.port);
  t.true(await closedWithin(refused, 2000));
  const refusedWs = await wsWire(bridge.addresses.ws!.port);
  t.regex(refusedWs.handshake, /^HTTP\/1\.1 503/);
  t.is(bridge.metrics.connectionsRejected.get('per-address-limit'), 2);
  t.false(ok1.socket.destroyed);
});

test('a WebSocket without the sip subprotocol is refused (RFC 7118 §4.1)', async (t) => {
  const { bridge } = await setup(t);
  const w = await wsWire(bridge.addresses.ws!.port, { protocol: '' });
  t.regex(w.handshake, /^HTTP\/1\.1 400/);
  t.is(bridge.metrics.connectionsRejected.get('ws-no-sip-subprotocol'), 1);
});

test('with --ws-origins, a browser WebSocket from another origin is refused 403; an allowed origin and a client without Origin get in (RFC 6455 §10.2)', async (t) => {
  const { bridge } = await setup(t, (c) => (c.wsOrigins = ['https://app.example.com']));
  const port = bridge.addresses.ws!.port;
  const evil = await wsWire(port, { origin: 'https://evil.example' });
  t.regex(evil.handshake, /^HTTP\/1\.1 403/);
  t.is(bridge.metrics.connectionsRejected.get('ws-origin'), 1);
  for (const origin of ['https://APP.example.com', undefined]) {
    const ok = await wsWire(port, origin === undefined ? {} : { origin });
    t.teardown(() => ok.close());
    t.regex(ok.handshake, /^HTTP\/1\.1 101/, String(origin));
  }
});

test('a WebSocket message over the size limit closes that WebSocket only', async (t) => {
  const { bridge, phone } = await setup(t, (c) => (c.limits.maxMessageBytes = 2048));
  const w = await wsWire(bridge.addresses.ws!.port);
  w.send(Buffer.from(`MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`));
  t.true(await closedWithin(w, 3000));
  t.is((await phone.register()).status, 200);
  t.is(bridge.metrics.framingErrors.get('ERR_FRAME_MESSAGE_TOO_LARGE'), 1, 'counted (and logged), as the other limits');
});

test('a message that is not UTF-8 goes to a WebSocket phone in a binary frame, the others in text frames (RFC 7118 §5.1, RFC 6455 §8.1)', async (t) => {
  const { bridge, peer } = await setup(t);
  const w = await wsWire(bridge.addresses.ws!.port);
  const phone = new MiniUa({ wire: w, transport: 'WS', sentBy: 'df7jal23ls0d.invalid', aor: 'ws@example.com', contactParams: ';transport=ws', autoAnswer: true });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
  t.deepEqual(w.opcodes, [1], 'the 200 to the REGISTER: text');
  const path = peer.ua.received.filter((m) => m.method === 'REGISTER').pop()!.first(H.PATH)!;
  const route = /^<([^>]+)>/.exec(path)![1]!;
  const message = (n: number, type: string, body: Buffer) =>
    Buffer.concat([
      Buffer.from(
        `MESSAGE sip:ws@df7jal23ls0d.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-bin${n}\r\nRoute: <${route}>\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b${n}\r\nTo: <sip:ws@example.com>\r\nCall-ID: bin${n}@test\r\nCSeq: 1 MESSAGE\r\n` +
          `Content-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`,
      ),
      body,
    ]);
  peer.wire.send(message(1, 'application/octet-stream', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41])));
  await phone.waitFor((m) => m.method === 'MESSAGE' && m.text.includes('bin1@test'));
  peer.wire.send(message(2, 'text/plain;charset=UTF-8', Buffer.from('héllo ✓', 'utf8')));
  await phone.waitFor((m) => m.method === 'MESSAGE' && m.text.includes('bin2@test'));
  t.deepEqual(w.opcodes, [1, 2, 1]);
});

test('requests the bridge answers itself: Max-Forwards 0 → 483, unusable From → 400', async (t) => {
  const { phone } = await setup(t);
  const r1 = phone.request('OPTIONS', 'sip:x@example.com', { headers: '' });
  phone.send(r1.text.replace('Max-Forwards: 70', 'Max-Forwards: 0').replace(/branch=z9hG4bK\w+/, 'branch=z9hG4bKmf0'));
  t.is((await phone.waitFor((m) => m.status === 483)).status, 483);
  phone.send('OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.9.9.9;branch=z9hG4bKbadkey\r\nFrom: garbage;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: bk\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n');
  const bad = await phone.waitFor((m) => m.status === 400);
  t.regex(bad.first(1)!, /received=127\.0\.0\.1/);
});

test('malformed requests that still frame are answered on their connection, which stays up (RFC 4475 §3.1.2 over a stream)', async (t) => {
  const { bridge, peer, phone } = await setup(t);
  const via = 'Via: SIP/2.0/TCP 10.9.9.9;branch=z9hG4bK';
  const rest = 'From: <sip:good@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: rfc4475\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
  const cases: Array<[string, string, RegExp]> = [
    // §3.1.2.9 lwsstart: several SP between the elements of the request line. The bridge's
    // scanner can frame and route it, so it is relayed: sipis's parser answers it 400
    // (core/transport/udp.test.ts); the test's backend answers everything 200.
    ['lws', `OPTIONS  sip:x@example.com  SIP/2.0\r\n${via}lws\r\n${rest}`, /^SIP\/2\.0 200 OK$/],
    // §3.1.2.10 trws: SP after the version
    ['trws', `OPTIONS sip:x@example.com SIP/2.0  \r\n${via}trws\r\n${rest}`, /^SIP\/2\.0 400 Bad Request Line$/],
    // §3.1.2.16 badvers: another version gets 505
    ['vers', `OPTIONS sip:x@example.com SIP/7.0\r\n${via}vers\r\n${rest}`, /^SIP\/2\.0 505 Version Not Supported$/],
    // §3.1.2.11-like insufficient headers (semantic insuf): no Call-ID
    ['insuf', `OPTIONS sip:x@example.com SIP/2.0\r\n${via}insuf\r\n${rest.replace('Call-ID: rfc4475\r\n', '')}`, /^SIP\/2\.0 400 Missing Call-ID$/],
    ['via', `OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP ;branch=z9hG4bKvia\r\n${rest}`, /^SIP\/2\.0 400 Bad Via$/],
  ];
  for (const [branch, text, status] of cases) {
    phone.send(text);
    const answer = await phone.waitFor((m) => m.status > 0 && m.text.includes(`branch=z9hG4bK${branch}`));
    t.regex(answer.text.split('\r\n')[0]!, status, branch);
    t.regex(answer.text, /\r\nCSeq: 1 OPTIONS\r\n/, `${branch}: CSeq copied for the client transaction to match`);
  }
  // only the relayed one reached the backend; no framing error; the connection is up and working
  const relayed = cases.filter(([branch]) => peer.ua.received.some((m) => m.text.includes(`branch=z9hG4bK${branch}`))).map(([branch]) => branch);
  t.deepEqual(relayed, ['lws']);
  t.is(bridge.metrics.framingErrors.get('ERR_FRAME_BAD_START_LINE'), 0);
  t.is((await phone.register()).status, 200);
  t.is(bridge.metrics.connections.get('tcp'), 1);
});
