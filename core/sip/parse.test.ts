import test from 'ava';
import { parseMessage, isKeepAlive, serializeMessage, SipParseError } from './index.js';
import type { SipParseErrorCode } from './errors.js';

const crlf = (lines: string[], body = ''): Buffer => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');

const INVITE = crlf(
  [
    'INVITE sip:bob@biloxi.example.com;transport=udp SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com:5062;branch=z9hG4bK74bf9;rport;received=192.0.2.1',
    'v: SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKv6;maddr=224.2.0.1;ttl=16',
    'Max-Forwards: 70',
    'f: "Alice \\"A\\" Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
    't: Bob <sip:bob@biloxi.example.com>',
    'i: 3848276298220188511@atlanta.example.com',
    'CSeq: 314159 INVITE',
    'm: <sip:alice@[2001:db8::1]:5080;transport=tcp>;expires=120;q=0.7;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", sip:alice@192.0.2.1',
    'Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>',
    'Record-Route: <sip:rr.example.com;lr>',
    'k: 100rel, timer',
    'Require: timer',
    'Allow: INVITE, ACK,BYE',
    'o: presence;id=7',
    'Expires: 300',
    'Subject: lunch',
    '  at noon',
    'WWW-Authenticate: Digest realm="atlanta.example.com", nonce="84a4cc6f3082121f32b42a2187831a9e", qop="auth,auth-int"',
    'Authorization: Digest username="alice", realm="atlanta.example.com", uri="sip:bob@biloxi.example.com", response="x"',
    'Date: Sat, 13 Nov 2010 23:29:00 GMT',
    'Retry-After: 120 (lunch);duration=60',
    'X-Custom: a, b',
    'c: application/sdp',
    'l: 5',
  ],
  'v=0\r\n',
);

test('request start line and Request-URI', (t) => {
  const m = parseMessage(INVITE);
  t.true(m.isRequest);
  t.is(m.method, 'INVITE');
  t.is(m.uri, 'sip:bob@biloxi.example.com;transport=udp');
  t.is(m.requestUri.scheme, 'sip');
  t.is(m.requestUri.user, 'bob');
  t.is(m.requestUri.host, 'biloxi.example.com');
  t.is(m.requestUri.params.get('transport'), 'udp');
  t.is(m.status, 0);
  t.is(m.reason, '');
});

test('mandatory headers through compact forms', (t) => {
  const m = parseMessage(INVITE);
  t.is(m.callId, '3848276298220188511@atlanta.example.com');
  t.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
  t.is(m.from.displayName, 'Alice "A" Liddell');
  t.is(m.from.tag, '9fxced76sl');
  t.is(m.from.uri.user, 'alice');
  t.is(m.to.displayName, 'Bob');
  t.is(m.to.tag, undefined);
  t.is(m.maxForwards, 70);
  t.is(m.expires, 300);
  t.is(m.header('i'), m.header('CALL-ID'));
  t.is(m.header('call-id'), m.callId);
});

test('Via list across two fields, IPv6 sent-by, params', (t) => {
  const m = parseMessage(INVITE);
  t.is(m.via.length, 2);
  const [a, b] = m.via;
  t.is(a!.protocol, 'SIP/2.0');
  t.is(a!.transport, 'UDP');
  t.is(a!.host, 'pc33.atlanta.example.com');
  t.is(a!.port, 5062);
  t.is(a!.branch, 'z9hG4bK74bf9');
  t.true(a!.hasRport);
  t.is(a!.rport, undefined);
  t.is(a!.received, '192.0.2.1');
  t.is(b!.transport, 'TCP');
  t.is(b!.host, '[2001:db8::9]');
  t.is(b!.port, 5070);
  t.is(b!.maddr, '224.2.0.1');
  t.is(b!.ttl, 16);
  t.is(b!.params.get('branch'), 'z9hG4bKv6');
  t.is(m.topVia, a);
  t.deepEqual(m.headerValues('Via').length, 2);
  t.is(m.header('via'), 'SIP/2.0/UDP pc33.atlanta.example.com:5062;branch=z9hG4bK74bf9;rport;received=192.0.2.1');
});

test('Contact list: params, IPv6 URI, addr-spec form, instance', (t) => {
  const m = parseMessage(INVITE);
  t.is(m.contact.length, 2);
  const [a, b] = m.contact;
  t.false(a!.star);
  t.is(a!.uri.host, '[2001:db8::1]');
  t.is(a!.uri.port, 5080);
  t.is(a!.uri.params.get('transport'), 'tcp');
  t.is(a!.expires, 120);
  t.is(a!.q, 0.7);
  t.is(a!.instance, 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  t.is(b!.uri.host, '192.0.2.1');
  t.is(b!.expires, undefined);
});

test('Route and Record-Route', (t) => {
  const m = parseMessage(INVITE);
  t.deepEqual(
    m.route.map((r) => r.uri.host),
    ['p1.example.com', 'p2.example.com'],
  );
  t.true(m.route[0]!.uri.params.has('lr'));
  t.is(m.recordRoute.length, 1);
});

test('option tags, Event, auth headers, Retry-After, content', (t) => {
  const m = parseMessage(INVITE);
  t.deepEqual(m.supported, ['100rel', 'timer']);
  t.deepEqual(m.require, ['timer']);
  t.deepEqual(m.allow, ['INVITE', 'ACK', 'BYE']);
  t.is(m.event?.type, 'presence');
  t.is(m.event?.id, '7');
  const ch = m.wwwAuthenticate;
  t.is(ch.length, 1);
  t.is(ch[0]!.scheme, 'Digest');
  t.is(ch[0]!.params.get('qop'), 'auth,auth-int');
  t.is(m.authorization[0]!.params.get('username'), 'alice');
  t.deepEqual(m.proxyAuthenticate, []);
  t.deepEqual(m.proxyAuthorization, []);
  t.is(m.retryAfter, 120);
  t.is(m.contentType, 'application/sdp');
  t.is(m.mediaType, 'application/sdp');
  t.is(m.contentLength, 5);
  t.is(m.body.toString(), 'v=0\r\n');
  t.is(m.body.buffer, INVITE.buffer, 'the body is a view, not a copy');
});

test('folded value is unfolded to one SP', (t) => {
  const m = parseMessage(INVITE);
  t.is(m.header('subject'), 'lunch at noon');
  t.is(m.header('s'), 'lunch at noon');
});

test('comma splitting only for list headers; quotes and <> respected', (t) => {
  const m = parseMessage(INVITE);
  // WWW-Authenticate has commas between parameters: never split
  t.is(m.headerValues('WWW-Authenticate').length, 1);
  t.is(m.headerValues('Authorization').length, 1);
  t.is(m.headerValues('Date').length, 1);
  // unknown header: its grammar is unknown, so not split
  t.deepEqual(m.headerValues('x-custom'), ['a, b']);
  t.deepEqual(m.headerValues('Route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
  const q = parseMessage(
    crlf(['OPTIONS sip:x@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:x@example.com>', 'Call-ID: c', 'CSeq: 1 OPTIONS', 'Contact: "Doe, John" <sip:j@example.com;a=b,c>, <sip:k@example.com>']),
  );
  t.is(q.contact.length, 2);
  t.is(q.contact[0]!.displayName, 'Doe, John');
  t.deepEqual(q.headerValues('m'), ['"Doe, John" <sip:j@example.com;a=b,c>', '<sip:k@example.com>']);
});

test('headers() lists every field as written, in order', (t) => {
  const m = parseMessage(INVITE);
  const hs = m.headers();
  t.is(hs.length, 23);
  t.deepEqual(hs[1], ['v', 'SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKv6;maddr=224.2.0.1;ttl=16']);
  t.true(m.hasHeader('X-CUSTOM'));
  t.false(m.hasHeader('X-Other'));
  t.is(m.header('X-Other'), undefined);
  t.deepEqual(m.headerValues('X-Other'), []);
});

test('response: status, reason, method is empty', (t) => {
  const m = parseMessage(
    crlf(['SIP/2.0 486 Busy Here', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:x@example.com>;tag=2', 'Call-ID: c', 'CSeq: 7 INVITE', 'Content-Length: 0']),
  );
  t.false(m.isRequest);
  t.is(m.status, 486);
  t.is(m.reason, 'Busy Here');
  t.is(m.method, '');
  t.is(m.cseq.method, 'INVITE');
  t.is(m.to.tag, '2');
});

test('unmodified message serializes byte-identical', (t) => {
  t.true(serializeMessage(parseMessage(INVITE)).equals(INVITE));
  const lf = Buffer.from('MESSAGE sip:a@b.example SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b.example>;tag=1\nTo: <sip:a@b.example>\nCall-ID: x\nCSeq: 1 MESSAGE\n\nhello');
  const m = parseMessage(lf);
  t.is(m.body.toString(), 'hello');
  t.true(serializeMessage(m).equals(lf));
});

test('datagram without Content-Length: body is the rest; stream: error', (t) => {
  const raw = crlf(['MESSAGE sip:a@b.example SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b.example>;tag=1', 'To: <sip:a@b.example>', 'Call-ID: x', 'CSeq: 1 MESSAGE'], 'hi there');
  t.is(parseMessage(raw).body.toString(), 'hi there');
  t.is(parseMessage(raw).contentLength, 8);
  const e = t.throws(() => parseMessage(raw, { framing: 'stream' }), { instanceOf: SipParseError });
  t.is(e.code, 'MISSING_HEADER');
  t.regex(e.message, /Content-Length/);
});

test('bytes after the body are reported, not an error', (t) => {
  const raw = Buffer.concat([crlf(['OPTIONS sip:a@b.example SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b.example>;tag=1', 'To: <sip:a@b.example>', 'Call-ID: x', 'CSeq: 1 OPTIONS', 'Content-Length: 2'], 'ab'), Buffer.from('garbage')]);
  const m = parseMessage(raw);
  t.is(m.body.toString(), 'ab');
  t.is(m.trailingBytes, 7);
  t.is(serializeMessage(m).length, raw.length - 7);
});

test('keep-alives', (t) => {
  t.true(isKeepAlive(Buffer.from('\r\n\r\n')));
  t.true(isKeepAlive(Buffer.from('\r\n')));
  t.false(isKeepAlive(Buffer.alloc(0)));
  t.false(isKeepAlive(Buffer.from('\r\nX')));
  t.is(t.throws(() => parseMessage(Buffer.from('\r\n\r\n')), { instanceOf: SipParseError }).code, 'KEEPALIVE');
  t.is(t.throws(() => parseMessage(Buffer.alloc(0)), { instanceOf: SipParseError }).code, 'EMPTY');
});

const base = ['Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b.example>;tag=1', 'To: <sip:a@b.example>', 'Call-ID: x', 'CSeq: 1 OPTIONS'];
const req = (start: string, extra: string[] = [], body = '', withBase = base): Buffer => crlf([start, ...withBase, ...extra], body);

function code(t: import('ava').ExecutionContext, raw: Buffer, expected: SipParseErrorCode, opts?: Parameters<typeof parseMessage>[1]): SipParseError {
  const e = t.throws(() => parseMessage(raw, opts), { instanceOf: SipParseError });
  t.is(e.code, expected, e.message);
  return e;
}

test('error codes: start line', (t) => {
  code(t, req('OPTIONS sip:a@b.example SIP/3.0'), 'BAD_VERSION');
  code(t, req('SIP/2.1 200 OK'), 'BAD_VERSION');
  code(t, req('OPTIONS sip:a@b.example'), 'BAD_START_LINE');
  code(t, req('OPT(IONS sip:a@b.example SIP/2.0'), 'BAD_START_LINE');
  code(t, req('SIP/2.0 20 OK'), 'BAD_START_LINE');
  code(t, req('SIP/2.0 700 Nope'), 'BAD_START_LINE');
  code(t, req('SIP/2.0 099 Nope'), 'BAD_START_LINE');
  code(t, req('OPTIONS <sip:a@b.example> SIP/2.0'), 'BAD_URI');
  code(t, req('OPTIONS sip:a@b example SIP/2.0'), 'BAD_URI');
  code(t, req('OPTIONS sip: SIP/2.0'), 'BAD_URI');
  code(t, req('OPTIONS sip:a@b.example?x=y SIP/2.0'), 'BAD_URI');
});

test('error codes: headers', (t) => {
  const s = 'OPTIONS sip:a@b.example SIP/2.0';
  code(t, req(s, ['Bad Name: x']), 'BAD_HEADER');
  code(t, req(s, ['NoColon']), 'BAD_HEADER');
  code(t, crlf([s, ' leading-space: x', ...base]), 'BAD_HEADER');
  // after a field, a leading space continues it (folding): here it makes CSeq invalid
  code(t, req(s, [' leading-space: x']), 'BAD_HEADER_VALUE');
  const e = code(t, req(s, [], '', base.slice(1)), 'MISSING_HEADER');
  t.is(e.header, 'Via');
  t.regex(e.message, /Via/);
  code(t, req(s, [], '', [base[0]!, base[2]!, base[3]!, base[4]!]), 'MISSING_HEADER');
  code(t, req(s, ['Call-ID: y']), 'BAD_HEADER');
  code(t, req(s, ['Max-Forwards: 256']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Expires: 4294967296']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Expires: -1']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Retry-After: soon']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Date: Sat, 13 Nov 2010 23:29:00 EST']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Contact: <sip:c@example.com>;expires=4294967296']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Contact: <sip:c@example.com>;q=1.5']), 'BAD_HEADER_VALUE');
  code(t, req(s, ['Route: sip:p@example.com;lr, <sip:q@example.com']), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [base[0]!, 'From: "unterminated <sip:a@b.example>', base[2]!, base[3]!, base[4]!]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [base[0]!, 'From: Bell, Alexander <sip:a@b.example>', base[2]!, base[3]!, base[4]!]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [base[0]!, base[1]!, 'To: sip:a@b.example?x=y', base[3]!, base[4]!]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [base[0]!, base[1]!, 'To: <sip:a @b.example>', base[3]!, base[4]!]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', ['Via: SIP/2.0/UDP', ...base.slice(1)]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', ['Via: SIP/2.0/UDP h;branch=z9hG4bK1,', ...base.slice(1)]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', ['Via: SIP/2.0/UDP h:99999', ...base.slice(1)]), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [...base.slice(0, 4), 'CSeq: 1 INVITE']), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [...base.slice(0, 4), 'CSeq: 4294967296 OPTIONS']), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [...base.slice(0, 4), 'CSeq: OPTIONS']), 'BAD_HEADER_VALUE');
  code(t, req(s, [], '', [base[0]!, base[1]!, base[2]!, 'Call-ID: a b', base[4]!]), 'BAD_HEADER_VALUE');
});

test('error codes: Content-Length and framing', (t) => {
  const s = 'OPTIONS sip:a@b.example SIP/2.0';
  code(t, req(s, ['Content-Length: 10'], 'short'), 'BAD_CONTENT_LENGTH');
  code(t, req(s, ['Content-Length: -1']), 'BAD_CONTENT_LENGTH');
  code(t, req(s, ['Content-Length: 1x']), 'BAD_CONTENT_LENGTH');
  code(t, req(s, ['Content-Length: 99999999999999']), 'BAD_CONTENT_LENGTH');
  code(t, req(s, ['Content-Length: 1', 'l: 2'], 'ab'), 'BAD_CONTENT_LENGTH');
  t.is(parseMessage(req(s, ['Content-Length: 2', 'l: 2'], 'ab')).body.toString(), 'ab');
  code(t, Buffer.from(s + '\r\nVia: SIP/2.0/UDP h\r\n'), 'TRUNCATED');
  code(t, Buffer.from(s), 'TRUNCATED');
});

test('limits: each a typed error', (t) => {
  const s = 'OPTIONS sip:a@b.example SIP/2.0';
  const many = Array.from({ length: 20 }, (_, i) => `X-H${i}: ${i}`);
  code(t, req(s, many), 'TOO_MANY_HEADERS', { limits: { maxHeaders: 10 } });
  t.notThrows(() => parseMessage(req(s, many), { limits: { maxHeaders: 25 } }));
  code(t, req(s, ['X-Long: ' + 'a'.repeat(300)]), 'HEADER_TOO_LONG', { limits: { maxHeaderBytes: 200 } });
  code(t, req(s, ['X-Fold: a', ' ' + 'b'.repeat(150), ' ' + 'c'.repeat(150)]), 'HEADER_TOO_LONG', { limits: { maxHeaderBytes: 200 } });
  code(t, req('OPTIONS sip:' + 'a'.repeat(300) + '@b.example SIP/2.0'), 'HEADER_TOO_LONG', { limits: { maxHeaderBytes: 200 } });
  code(t, req(s, ['Content-Length: 100'], 'x'.repeat(100)), 'BODY_TOO_LARGE', { limits: { maxBodyBytes: 50 } });
  code(t, req(s, [], 'x'.repeat(100)), 'BODY_TOO_LARGE', { limits: { maxBodyBytes: 50 } });
  code(t, req(s, [], 'x'.repeat(1000)), 'TOO_LARGE', { limits: { maxMessageBytes: 500 } });
  // defaults: 64 KiB message, 256 headers, 8 KiB per header
  code(t, Buffer.alloc(65537, 0x41), 'TOO_LARGE');
  code(t, req(s, Array.from({ length: 257 }, (_, i) => `X-H${i}: ${i}`)), 'TOO_MANY_HEADERS');
  code(t, req(s, ['X-Long: ' + 'a'.repeat(8200)]), 'HEADER_TOO_LONG');
  // list elements are bounded too: each becomes an object
  const vias = Array.from({ length: 40 }, () => 'Via: ' + Array.from({ length: 30 }, (_, i) => `SIP/2.0/UDP h${i}`).join(','));
  const e = code(t, req(s, vias), 'TOO_MANY_HEADERS');
  t.regex(e.message, /1024/);
});

test('a malformed optional header that is not validated reads as undefined / []', (t) => {
  const m = parseMessage(req('OPTIONS sip:a@b.example SIP/2.0', ['Event: ;;', 'WWW-Authenticate: Digest realm="x', 'Min-Expires: soon']));
  t.is(m.event, undefined);
  t.deepEqual(m.wwwAuthenticate, []);
  t.is(m.minExpires, undefined);
  t.is(m.retryAfter, undefined);
});

test('header name case and compact forms all map to one header', (t) => {
  const m = parseMessage(req('OPTIONS sip:a@b.example SIP/2.0', ['CONTENT-TYPE: text/plain', 'k: foo', 'SUPPORTED: bar', 'u: presence', 'x: 90', 'y: abc', 'n: <https://x>', 'r: <sip:r@example.com>', 'b: <sip:b@example.com>', 'a: *;audio', 'j: *;video', 'd: proxy', 'e: gzip']));
  t.is(m.header('Content-Type'), 'text/plain');
  t.deepEqual(m.supported, ['foo', 'bar']);
  t.is(m.header('Allow-Events'), 'presence');
  t.is(m.header('Session-Expires'), '90');
  t.is(m.header('Identity'), 'abc');
  t.is(m.header('Identity-Info'), '<https://x>');
  t.is(m.header('Refer-To'), '<sip:r@example.com>');
  t.is(m.header('Referred-By'), '<sip:b@example.com>');
  t.is(m.header('Accept-Contact'), '*;audio');
  t.is(m.header('Reject-Contact'), '*;video');
  t.is(m.header('Request-Disposition'), 'proxy');
  t.is(m.header('Content-Encoding'), 'gzip');
  t.is(m.nameAddrs('Refer-To')[0]!.uri.user, 'r');
});

test('CRLFs before the start line are skipped (§7.5)', (t) => {
  const raw = Buffer.concat([Buffer.from('\r\n\r\n'), req('OPTIONS sip:a@b.example SIP/2.0')]);
  const m = parseMessage(raw);
  t.is(m.method, 'OPTIONS');
  t.true(serializeMessage(m).equals(raw.subarray(4)));
});

test('Contact: * and a star among others', (t) => {
  const m = parseMessage(crlf(['REGISTER sip:b.example SIP/2.0', ...base.slice(0, 4), 'CSeq: 2 REGISTER', 'Contact: *', 'Expires: 0']));
  t.is(m.contact.length, 1);
  t.true(m.contact[0]!.star);
  t.is(m.expires, 0);
});

test('UTF-8 in display names and reason phrases', (t) => {
  const m = parseMessage(crlf(['SIP/2.0 200 Très bien', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: "Jürgen" <sip:j@b.example>;tag=1', 'To: Zoë <sip:z@b.example>;tag=2', 'Call-ID: x', 'CSeq: 1 OPTIONS']));
  t.is(m.reason, 'Très bien');
  t.is(m.from.displayName, 'Jürgen');
  t.is(m.to.displayName, 'Zoë');
});

test('a Uint8Array input is viewed, not copied', (t) => {
  const u = new Uint8Array(INVITE);
  const m = parseMessage(u);
  t.is(m.raw.buffer, u.buffer);
  t.is(m.callId, '3848276298220188511@atlanta.example.com');
});

// The scanner and the grammars read a module-level copy of the header block (scratch.ts):
// views made later, after other messages were parsed, must still read their own message.
test('views decoded on first use read their own message after other parses', (t) => {
  const a = parseMessage(INVITE);
  const other = crlf([
    'REGISTER sip:zzzzzzzz.example.net SIP/2.0',
    'Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKzzzzzz',
    'From: <sip:qqqqqqqq@zzzzzzzz.example.net>;tag=qqq',
    'To: <sip:qqqqqqqq@zzzzzzzz.example.net>',
    'Call-ID: qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq',
    'CSeq: 9 REGISTER',
    'Contact: <sip:qqqqqqqq@198.51.100.9:5099;transport=tcp>;expires=7',
    'Route: <sip:zzzz.example.net;lr>, <sip:yyyy.example.net;lr>',
  ]);
  for (let k = 0; k < 3; k++) parseMessage(other);
  t.is(a.requestUri.host, 'biloxi.example.com');
  t.is(a.requestUri.params.get('transport'), 'udp');
  t.deepEqual(
    a.contact.map((c) => [c.uri.host, c.uri.port, c.expires]),
    [
      ['[2001:db8::1]', 5080, 120],
      ['192.0.2.1', undefined, undefined],
    ],
  );
  t.deepEqual(
    a.route.map((r) => r.uri.host),
    ['p1.example.com', 'p2.example.com'],
  );
  t.is(a.recordRoute[0]!.uri.host, 'rr.example.com');
  t.is(a.from.uri.user, 'alice');
  // and the other way round: a's lazy views did not disturb the next parse
  const b = parseMessage(other);
  t.is(a.to.uri.host, 'biloxi.example.com');
  t.deepEqual(
    b.route.map((r) => r.uri.host),
    ['zzzz.example.net', 'yyyy.example.net'],
  );
  t.is(b.contact[0]!.uri.port, 5099);
});

test('messages over 64 KiB: a large body, and a header block over 64 KiB without limits', (t) => {
  const body = 'x'.repeat(100_000);
  const big = crlf(['MESSAGE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:bob@example.com>', 'Call-ID: big', 'CSeq: 1 MESSAGE', 'Content-Type: text/plain', `Content-Length: ${body.length}`], body);
  const unlimited = { limits: { maxMessageBytes: Infinity, maxBodyBytes: Infinity, maxHeaders: Infinity, maxHeaderBytes: Infinity } };
  const m = parseMessage(big, unlimited);
  t.is(m.body.length, body.length);
  t.is(m.from.tag, '1');
  const pad = Array.from({ length: 1200 }, (_, k) => `X-Pad-${k}: ${'y'.repeat(60)}`);
  const many = crlf(['OPTIONS sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK2', 'From: <sip:a@example.com>;tag=2', 'To: <sip:bob@example.com>', 'Call-ID: many', 'CSeq: 2 OPTIONS', ...pad, 'Contact: <sip:a@192.0.2.7>', 'Content-Length: 0']);
  t.true(many.length > 65536);
  const n = parseMessage(many, unlimited);
  t.is(n.headerCount, 5 + pad.length + 2);
  t.is(n.contact[0]!.uri.host, '192.0.2.7');
  t.is(n.header('X-Pad-1199'), 'y'.repeat(60));
  // a header block beyond the scan buffer (1 MiB) is a typed error, not a misread
  const huge = crlf(['OPTIONS sip:bob@example.com SIP/2.0', ...Array.from({ length: 20_000 }, (_, k) => `X-H${k}: ${'z'.repeat(60)}`)]);
  const e = t.throws(() => parseMessage(huge, unlimited), { instanceOf: SipParseError });
  t.is(e!.code, 'HEADER_TOO_LONG');
});

test('control characters (§25.1): none in a value, quoted string, comment or reason phrase but HTAB; CR only before LF', (t) => {
  const opts = 'OPTIONS sip:a@b.example SIP/2.0';
  const latin1 = (s: string) => Buffer.from(s, 'latin1');
  const bad: Array<[string, string[]]> = [
    ['a lone CR in a value no grammar walks (a header hidden behind it for stacks that end lines there)', ['Subject: a\rInjected: b']],
    ['CR CR LF ending a value (an empty line, the end of the header block, to such a stack)', ['Subject: a\r']],
    ['CR CR LF after a validated field', ['Expires: 5\r']],
    ['NUL in a value', ['Subject: a\u0000b']],
    ['ESC in a Retry-After comment', ['Retry-After: 5 (\u001b[2J)']],
    ['DEL in a quoted Contact parameter', ['Contact: <sip:c@d.example>;x="a\u007fb"']],
    ['NUL in a quoted display name', ['Route: "r\u0000" <sip:r@h.example;lr>']],
  ];
  for (const [what, extra] of bad) t.is(code(t, latin1(req(opts, extra).toString('latin1')), 'BAD_HEADER_VALUE').code, 'BAD_HEADER_VALUE', what);
  const displayName = req(opts, [], '', ['Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: "a\u0001b" <sip:a@b.example>;tag=1', 'To: <sip:a@b.example>', 'Call-ID: x', 'CSeq: 1 OPTIONS']);
  t.is(code(t, displayName, 'BAD_HEADER_VALUE').header, 'From');
  for (const callId of ['x\u0000y', 'x\u007f', 'abcdefgh\u0001']) t.is(code(t, req(opts, [], '', [...base.slice(0, 3), `Call-ID: ${callId}`, base[4]!]), 'BAD_HEADER_VALUE').header, 'Call-ID', JSON.stringify(callId));
  code(t, crlf(['SIP/2.0 200 O\u0007K', ...base]), 'BAD_START_LINE');
  // what is allowed: HTAB, folds (CR LF or a bare LF, then whitespace), UTF-8, a quoted-pair escaping a control character
  const ok = parseMessage(req(opts, ['Subject: a\tb\r\n  folded caf\u00e9', 'X-Bare-Fold: a\n b', 'Contact: "q\\\u0001" <sip:c@d.example>']));
  t.is(ok.header('subject'), 'a\tb folded caf\u00e9');
  t.is(ok.header('x-bare-fold'), 'a b');
  t.is(ok.contact.length, 1);
});

test("Contact: '*' only alone (§20.10 STAR / 1#contact-param; §10.3 step 6 answers 400 otherwise)", (t) => {
  const reg = (contacts: string[]) => req('REGISTER sip:b.example SIP/2.0', [...contacts, 'Expires: 0'], '', [...base.slice(0, 4), 'CSeq: 1 REGISTER']);
  t.true(parseMessage(reg(['Contact: *'])).contact[0]!.star);
  for (const c of [['Contact: *, <sip:a@192.0.2.1>'], ['Contact: <sip:a@192.0.2.1>, *'], ['Contact: *', 'm: <sip:a@192.0.2.1>']]) {
    t.is(code(t, reg(c), 'BAD_HEADER_VALUE').header, 'Contact', c.join(' | '));
  }
});
