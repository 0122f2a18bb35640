import test from 'ava';
import { BridgeError } from './errors.js';
import { Edits, findHeader, firstElementEnd, H, headerValue, nextElementStart, parseVia, scanMessage, uriParts } from './scan.js';

const msg = Buffer.from(
  'INVITE sip:bob@example.com SIP/2.0\r\n' +
    'v: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n' +
    'Route: <sip:p1@edge.example;lr>, "odd, name" <sip:p2@x;lr>\r\n' +
    'f: "A" <sip:alice@example.com>;tag=1\r\n' +
    'Subject: folded\r\n  continuation\r\n' +
    'TO: <sip:bob@example.com>\r\n' +
    'Call-ID: c1\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\nbody',
);

test('indexes the start line and headers, compact and mixed-case names, folding', (t) => {
  const m = scanMessage(msg);
  t.true(m.isRequest);
  t.is(m.method, 'INVITE');
  t.is(m.headers.length, 8);
  t.is(headerValue(m, findHeader(m, H.FROM)!), '"A" <sip:alice@example.com>;tag=1');
  t.is(headerValue(m, findHeader(m, H.TO)!), '<sip:bob@example.com>');
  t.is(headerValue(m, findHeader(m, H.CONTENT_LENGTH)!), '4');
  t.is(headerValue(m, m.headers[3]!), 'folded\r\n  continuation');
  t.is(msg.toString('latin1', m.bodyStart), 'body');
  const r = scanMessage(Buffer.from('SIP/2.0 180 Ringing\r\nVia: x\r\n\r\n'));
  t.false(r.isRequest);
  t.is(r.status, 180);
});

test('comma-separated elements respect quotes and angle brackets', (t) => {
  const m = scanMessage(msg);
  const route = findHeader(m, H.ROUTE)!;
  const e1 = firstElementEnd(msg, route.valueStart, route.valueEnd);
  t.is(msg.toString('latin1', route.valueStart, e1), '<sip:p1@edge.example;lr>');
  const s2 = nextElementStart(msg, e1, route.valueEnd);
  t.is(msg.toString('latin1', s2, firstElementEnd(msg, s2, route.valueEnd)), '"odd, name" <sip:p2@x;lr>');
  t.deepEqual(uriParts('"odd, name" <sip:p2@X:5070;lr>'), { user: 'p2', host: 'x', port: 5070 });
  t.deepEqual(uriParts('<sip:[::1]:5060;lr>'), { user: '', host: '[::1]', port: 5060 });
});

test('parseVia reads transport, sent-by, branch, received and rport', (t) => {
  t.deepEqual(parseVia('SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKa;rport'), { transport: 'TCP', host: '10.0.0.1', port: 5060, branch: 'z9hG4bKa', received: undefined, hasRport: true, rport: undefined });
  t.is(parseVia('SIP / 2.0 / wss [2001:db8::1]:443;received=1.2.3.4;rport=9').rport, 9);
  t.is(t.throws(() => parseVia('HTTP/1.1 x'), { instanceOf: BridgeError })!.code, 'ERR_SCAN_BAD_VIA');
});

test('Edits splice new bytes between views of the original', (t) => {
  const buf = Buffer.from('0123456789');
  const e = new Edits();
  e.insert(0, 'a');
  e.replace(2, 4, 'XY');
  e.remove(6, 8);
  e.insert(10, 'z');
  e.insert(0, 'b');
  const parts = e.parts(buf);
  t.is(Buffer.concat(parts).toString(), 'ab01XY4589z');
  t.true(parts.some((p) => p.buffer === buf.buffer), 'untouched ranges are views');
});

test('malformed messages are typed errors', (t) => {
  const code = (s: string) => t.throws(() => scanMessage(Buffer.from(s)), { instanceOf: BridgeError })!.code;
  t.is(code('INVITE sip:a@b SIP/2.0\r\nVia: x\r\n'), 'ERR_SCAN_NO_END_OF_HEADERS');
  t.is(code('INVITE sip:a@b HTTP/1.1\r\n\r\n'), 'ERR_SCAN_BAD_START_LINE');
  t.is(code('SIP/2.0 999 Nope\r\n\r\n'), 'ERR_SCAN_BAD_START_LINE');
  t.is(code('INVITE sip:a@b SIP/2.0\r\nno colon here\r\n\r\n'), 'ERR_SCAN_BAD_HEADER');
  t.is(code('INVITE sip:a@b SIP/2.0\r\n' + 'X: y\r\n'.repeat(300) + '\r\n'), 'ERR_SCAN_TOO_MANY_HEADERS');
});
