import test from 'ava';
import {
  createRequest,
  createResponse,
  generateBranch,
  generateTag,
  parseMessage,
  serializeMessage,
  reasonPhrase,
  SipParseError,
} from './index.js';

const crlf = (lines: string[], body = ''): Buffer => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');

const INVITE = crlf(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP  proxy.example.com;branch=z9hG4bKp1 ,SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK74bf9;received=192.0.2.1',
    'Via: SIP/2.0/TCP client.atlanta.example.com;branch=z9hG4bKc',
    'Max-Forwards: 69',
    'Record-Route: <sip:proxy.example.com;lr>',
    'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
    'To: Bob',
    ' <sip:bob@biloxi.example.com>',
    'Call-ID: 3848276298220188511@atlanta.example.com',
    'CSeq: 1 INVITE',
    'Timestamp: 54',
    'Contact: <sip:alice@pc33.atlanta.example.com>',
    'Content-Type: application/sdp',
    'Content-Length: 4',
  ],
  'v=0\n',
);

test('createResponse copies Via (all, in order, byte for byte), From, To, Call-ID, CSeq', (t) => {
  const req = parseMessage(INVITE);
  const res = createResponse(req, 180, undefined, { toTag: 'b0b' });
  const text = serializeMessage(res).toString();
  t.true(text.startsWith('SIP/2.0 180 Ringing\r\n'));
  t.true(text.includes('Via: SIP/2.0/UDP  proxy.example.com;branch=z9hG4bKp1 ,SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK74bf9;received=192.0.2.1\r\nVia: SIP/2.0/TCP client.atlanta.example.com;branch=z9hG4bKc\r\n'));
  t.true(text.includes('From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'));
  t.true(text.includes('To: Bob\r\n <sip:bob@biloxi.example.com>;tag=b0b\r\n'));
  t.true(text.includes('Call-ID: 3848276298220188511@atlanta.example.com\r\nCSeq: 1 INVITE\r\n'));
  t.true(text.includes('Record-Route: <sip:proxy.example.com;lr>\r\n'), '§12.1.1: dialog-creating response copies Record-Route');
  t.false(text.includes('Timestamp'));
  t.false(text.includes('Contact'));
  t.false(text.includes('Max-Forwards'));
  t.true(text.endsWith('Content-Length: 0\r\n\r\n'));
  t.is(res.status, 180);
  t.is(res.reason, 'Ringing');
  t.is(res.to.tag, 'b0b');
  t.is(res.to.displayName, 'Bob');
  t.deepEqual(res.via.map((v) => v.branch), ['z9hG4bKp1', 'z9hG4bK74bf9', 'z9hG4bKc']);
  t.deepEqual(res.cseq, { seq: 1, method: 'INVITE' });
});

test('createResponse: 100 copies Timestamp; existing To tag kept; body and headers', (t) => {
  const req = parseMessage(INVITE);
  const trying = serializeMessage(createResponse(req, 100)).toString();
  t.true(trying.includes('Timestamp: 54\r\n'));
  t.false(trying.includes('Record-Route'));
  const tagged = parseMessage(Buffer.from(INVITE.toString().replace(' <sip:bob@biloxi.example.com>\r\n', ' <sip:bob@biloxi.example.com>;tag=old\r\n')));
  const r = createResponse(tagged, 200, 'Fine', { toTag: 'new', headers: [['Contact', '<sip:bob@192.0.2.9>'], ['X-Sipis-Push-Status', 'Alerting-Device']], body: 'v=0\r\n', contentType: 'application/sdp' });
  t.is(r.to.tag, 'old');
  t.is(r.reason, 'Fine');
  t.is(r.contact[0]!.uri.host, '192.0.2.9');
  t.is(r.header('x-sipis-push-status'), 'Alerting-Device');
  t.is(r.body.toString(), 'v=0\r\n');
  t.is(r.contentLength, 5);
  t.is(r.contentType, 'application/sdp');
  t.throws(() => createResponse(req, 200, undefined, { body: 'x' }), { instanceOf: SipParseError });
  t.throws(() => createResponse(req, 99), { instanceOf: SipParseError });
  t.is(t.throws(() => createResponse(req, 200, undefined, { headers: [['Contact', '<sip:bad']] }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  t.is(t.throws(() => createResponse(req, 200, undefined, { toTag: 'a b' }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  // a To tag is checked whatever was checked before it (createResponse remembers the last one)
  for (const bad of ['', 'a b', 'x;y', 'é', '\r\n', 'tag\u2028']) {
    t.truthy(createResponse(req, 200, undefined, { toTag: 'ok1' }));
    t.is(t.throws(() => createResponse(req, 200, undefined, { toTag: bad }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE', JSON.stringify(bad));
    t.is(t.throws(() => createResponse(req, 200, undefined, { toTag: bad }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE', JSON.stringify(bad));
  }
  t.true(serializeMessage(createResponse(req, 180, undefined, { toTag: 'ok2' })).toString().includes(';tag=ok2\r\n'));
  t.throws(() => createResponse(r, 200), { instanceOf: SipParseError });
  // a Content-Type cannot carry a header line of its own behind it
  t.is(t.throws(() => createResponse(req, 200, 'OK', { body: 'x', contentType: 'text/plain\r\nX: 1' }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  // an ACK is never answered (§17)
  const ack = parseMessage(Buffer.from(INVITE.toString().replace(/^INVITE /, 'ACK ').replace('CSeq: 1 INVITE', 'CSeq: 1 ACK')));
  t.is(t.throws(() => createResponse(ack, 200), { instanceOf: SipParseError }).code, 'BAD_START_LINE');
});

test('a built response reads and re-parses like a parsed one', (t) => {
  const req = parseMessage(INVITE);
  const res = createResponse(req, 200, 'OK', { toTag: 'x1', headers: [['Contact', '<sip:bob@192.0.2.9>;expires=60'], ['Supported', 'timer']], body: 'v=0\r\n', contentType: 'application/sdp' });
  const again = parseMessage(serializeMessage(res));
  t.deepEqual(res.headers(), again.headers());
  t.is(res.reason, 'OK');
  t.is(res.callId, again.callId);
  t.deepEqual(res.cseq, again.cseq);
  t.is(res.contact[0]!.expires, 60);
  t.deepEqual(res.supported, ['timer']);
  t.is(res.to.raw, 'Bob <sip:bob@biloxi.example.com>;tag=x1');
  t.is(res.body.toString(), 'v=0\r\n');
  const utf = createResponse(req, 603, 'Refusé');
  t.is(utf.reason, 'Refusé');
  t.is(parseMessage(serializeMessage(utf)).reason, 'Refusé');
  res.setHeader('Server', 'sipis');
  t.is(res.header('server'), 'sipis');
  t.is(res.to.tag, 'x1');
});

test('createResponse copies UTF-8 bytes unchanged and indexes what it wrote', (t) => {
  const req = parseMessage(
    crlf([
      'INVITE sip:b@h SIP/2.0',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'From: "Jürgen ✓" <sip:a@h>;tag=1',
      'To: "Zoë" <sip:b@h>',
      'Call-ID: x@h',
      'CSeq: 1 INVITE',
      'Record-Route: <sip:p;lr>',
      'Content-Length: 0',
    ]),
  );
  const res = createResponse(req, 180, 'Klingelt – ü', { toTag: 'abc', headers: [['Contact', '<sip:ü@h>'], ['Subject', 'héllo']] });
  const out = serializeMessage(res);
  t.true(out.includes(Buffer.from('From: "Jürgen ✓" <sip:a@h>;tag=1\r\nTo: "Zoë" <sip:b@h>;tag=abc\r\n', 'utf8')));
  const again = parseMessage(out);
  t.deepEqual(res.headers(), again.headers());
  t.is(res.reason, 'Klingelt – ü');
  t.is(again.reason, 'Klingelt – ü');
  t.is(res.from.displayName, 'Jürgen ✓');
  t.is(res.to.displayName, 'Zoë');
  t.is(res.to.tag, 'abc');
  t.is(res.header('Subject'), 'héllo');
  t.is(res.contact[0]!.uri.user, 'ü');
  t.is(res.recordRoute.length, 1);
  t.is(res.callId, 'x@h');
  t.throws(() => createResponse(req, 200, undefined, { headers: [['Contact', '<bad uri>']] }), { instanceOf: SipParseError });
});

test('createResponse indexes many copied lines and extra headers as a parse of its bytes does', (t) => {
  // more lines than the index scratch starts with: 40 Via, 20 Record-Route, 30 extra headers
  const vias = Array.from({ length: 40 }, (_, i) => `Via: SIP/2.0/UDP p${i}.example.com;branch=z9hG4bK${i}`);
  const rrs = Array.from({ length: 20 }, (_, i) => `Record-Route: <sip:p${i}.example.com;lr>`);
  const req = parseMessage(
    crlf(['INVITE sip:b@h SIP/2.0', ...vias, 'Max-Forwards: 70', ...rrs, 'From: <sip:a@h>;tag=1', 'To: <sip:b@h>', 'Call-ID: x@h', 'CSeq: 7 INVITE', 'Content-Length: 0']),
  );
  const extra = Array.from({ length: 30 }, (_, i): [string, string] => [`X-Extra-${i}`, `v${i}`]);
  for (const [status, opts] of [
    [180, { toTag: 't1', headers: extra }],
    [200, { toTag: 't2', body: 'v=0\r\n', contentType: 'application/sdp' }],
    [100, {}],
    [486, { headers: extra }],
  ] as const) {
    const res = createResponse(req, status, undefined, opts);
    const again = parseMessage(serializeMessage(res));
    t.deepEqual(res.headers(), again.headers());
    t.is(res.headerCount, again.headerCount);
    t.is(res.via.length, 40);
    t.is(res.recordRoute.length, status > 100 && status < 300 ? 20 : 0);
    t.deepEqual(res.cseq, { seq: 7, method: 'INVITE' });
    if ('toTag' in opts) t.is(res.to.tag, opts.toTag);
    else if (status === 100) t.is(res.to.tag, undefined);
    // §8.2.6.2 / §8.2.7: without one given, a tag computed from the request, the same each time
    else t.is(res.to.tag, createResponse(req, status, undefined, opts).to.tag);
    t.is(res.body.toString(), 'body' in opts ? opts.body : '');
  }
});

test('reason phrases', (t) => {
  t.is(reasonPhrase(200), 'OK');
  t.is(reasonPhrase(480), 'Temporarily Unavailable');
  t.is(reasonPhrase(487), 'Request Terminated');
  t.is(reasonPhrase(499), 'Bad Request');
});

test('createRequest builds a valid request with Max-Forwards and Content-Length', (t) => {
  const branch = generateBranch();
  const tag = generateTag();
  t.regex(branch, /^z9hG4bK[0-9a-f]{16}$/);
  t.regex(tag, /^[0-9a-f]{16}$/);
  t.not(generateBranch(), branch);
  const m = createRequest({
    method: 'MESSAGE',
    uri: 'sip:bob@biloxi.example.com',
    headers: [
      ['Via', `SIP/2.0/UDP 192.0.2.1:5060;branch=${branch};rport`],
      ['From', `<sip:alice@atlanta.example.com>;tag=${tag}`],
      ['To', '<sip:bob@biloxi.example.com>'],
      ['Call-ID', 'abc@192.0.2.1'],
      ['CSeq', '1 MESSAGE'],
    ],
    body: 'hello',
    contentType: 'text/plain',
  });
  t.is(m.method, 'MESSAGE');
  t.is(m.maxForwards, 70);
  t.is(m.topVia?.branch, branch);
  t.is(m.from.tag, tag);
  t.is(m.body.toString(), 'hello');
  t.is(serializeMessage(m).toString(), `MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=${branch};rport\r\nFrom: <sip:alice@atlanta.example.com>;tag=${tag}\r\nTo: <sip:bob@biloxi.example.com>\r\nCall-ID: abc@192.0.2.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`);
  t.true(serializeMessage(parseMessage(serializeMessage(m))).equals(serializeMessage(m)));
});

test('createRequest rejects what would not parse', (t) => {
  const headers: Array<[string, string]> = [
    ['Via', 'SIP/2.0/UDP h;branch=z9hG4bK1'],
    ['From', '<sip:a@b.example>;tag=1'],
    ['To', '<sip:a@b.example>'],
    ['Call-ID', 'x'],
    ['CSeq', '1 OPTIONS'],
  ];
  t.is(t.throws(() => createRequest({ method: 'OPTIONS', uri: 'sip:a b', headers }), { instanceOf: SipParseError }).code, 'BAD_URI');
  t.is(t.throws(() => createRequest({ method: 'INVITE', uri: 'sip:a@b.example', headers }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  t.is(t.throws(() => createRequest({ method: 'OPTIONS', uri: 'sip:a@b.example', headers: headers.slice(1) }), { instanceOf: SipParseError }).code, 'MISSING_HEADER');
  t.is(t.throws(() => createRequest({ method: 'OPTIONS', uri: 'sip:a@b.example', headers: [...headers, ['X', 'a\r\nInjected: 1']] }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  t.is(t.throws(() => createRequest({ method: 'OP TIONS', uri: 'sip:a@b.example', headers }), { instanceOf: SipParseError }).code, 'BAD_START_LINE');
  // nothing given can start a line of its own: not the Request-URI, not the Content-Type
  t.is(t.throws(() => createRequest({ method: 'OPTIONS', uri: 'sip:a@b.example SIP/2.0\r\nX: y', headers }), { instanceOf: SipParseError }).code, 'BAD_URI');
  t.is(t.throws(() => createRequest({ method: 'OPTIONS', uri: 'sip:a@b.example', headers, body: 'x', contentType: 'text/plain\r\nX: 1' }), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
});

test('mutation copies untouched bytes and writes only the change', (t) => {
  const req = parseMessage(INVITE);
  req.setHeader('Max-Forwards', '68');
  const out = serializeMessage(req).toString();
  t.is(out, INVITE.toString().replace('Max-Forwards: 69', 'Max-Forwards: 68'));
  t.is(req.maxForwards, 68);
  // the folded To is copied as it was, fold included
  t.true(out.includes('To: Bob\r\n <sip:bob@biloxi.example.com>\r\n'));
});

test('addHeader first puts a Via on top; removeHeader; setBody updates Content-Length', (t) => {
  const m = parseMessage(INVITE);
  m.addHeader('Via', 'SIP/2.0/UDP sipis.example.com;branch=z9hG4bKtop', { first: true });
  t.is(m.topVia?.branch, 'z9hG4bKtop');
  t.is(m.via.length, 4);
  m.removeHeader('Record-Route');
  t.deepEqual(m.recordRoute, []);
  m.addHeader('X-Extra', 'one');
  m.addHeader('X-Extra', 'two');
  t.deepEqual(m.headerValues('x-extra'), ['one', 'two']);
  m.setBody(Buffer.from('v=1\r\nfoo\r\n'));
  t.is(m.contentLength, 10);
  t.is(m.body.toString(), 'v=1\r\nfoo\r\n');
  m.setBody('hi', 'text/plain');
  t.is(m.contentType, 'text/plain');
  const out = serializeMessage(m).toString();
  t.true(out.startsWith('INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP sipis.example.com;branch=z9hG4bKtop\r\nVia: SIP/2.0/UDP  proxy'));
  t.true(out.includes('Content-Type: text/plain\r\nContent-Length: 2\r\nX-Extra: one\r\nX-Extra: two\r\n\r\nhi'), 'replaced in place');
  t.false(out.includes('Record-Route'));
  // re-parsing the output gives the same message
  t.true(serializeMessage(parseMessage(Buffer.from(out))).equals(Buffer.from(out)));
});

test('a mutation that would make the message invalid throws and changes nothing', (t) => {
  const m = parseMessage(INVITE);
  const before = serializeMessage(m);
  t.is(t.throws(() => m.setHeader('CSeq', 'x INVITE'), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  // RFC 4475 §3.1.2.16-17 on a mutation too, with the scan buffer holding another message's bytes
  parseMessage(Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n'));
  for (const v of ['1 BYE', '1 INVITEX', '1 INVITe', '1 invite', '1 INVIT']) {
    t.is(t.throws(() => m.setHeader('CSeq', v), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE', v);
  }
  t.is(t.throws(() => m.removeHeader('From'), { instanceOf: SipParseError }).code, 'MISSING_HEADER');
  t.is(t.throws(() => m.setHeader('Subject', 'a\r\nb'), { instanceOf: SipParseError }).code, 'BAD_HEADER_VALUE');
  t.is(t.throws(() => m.setHeader('Bad Name', 'x'), { instanceOf: SipParseError }).code, 'BAD_HEADER');
  t.true(serializeMessage(m).equals(before));
  t.is(m.cseq.seq, 1);
  parseMessage(Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n'));
  m.setHeader('CSeq', '2 INVITE');
  t.deepEqual(m.cseq, { seq: 2, method: 'INVITE' });
});

test('mutation of a message with trailing bytes drops them', (t) => {
  const m = parseMessage(Buffer.concat([INVITE, Buffer.from('junk')]));
  t.is(m.trailingBytes, 4);
  m.setHeader('Subject', 's');
  t.is(m.trailingBytes, 0);
  t.is(m.header('subject'), 's');
});

test('after a mutation every accessor agrees with a fresh parse of the output', (t) => {
  const m = parseMessage(INVITE);
  t.is(m.from.tag, '9fxced76sl'); // views built before the change
  m.setHeader('Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnew;rport=5060;received=192.0.2.1');
  m.addHeader('Route', '<sip:r1.example.com;lr>, <sip:r2.example.com;lr>');
  m.setHeader('Content-Length', '4');
  const fresh = parseMessage(serializeMessage(m));
  for (const x of [m, fresh]) {
    t.is(x.via.length, 1);
    t.is(x.topVia?.rport, 5060);
    t.is(x.from.tag, '9fxced76sl');
    t.is(x.to.displayName, 'Bob');
    t.is(x.callId, '3848276298220188511@atlanta.example.com');
    t.deepEqual(x.cseq, { seq: 1, method: 'INVITE' });
    t.deepEqual(x.route.map((r) => r.uri.host), ['r1.example.com', 'r2.example.com']);
    t.is(x.contact[0]!.uri.host, 'pc33.atlanta.example.com');
    t.is(x.body.toString(), 'v=0\n');
  }
  t.deepEqual(m.headers(), fresh.headers());
  t.is(t.throws(() => m.setHeader('Content-Length', '9'), { instanceOf: SipParseError }).code, 'BAD_CONTENT_LENGTH');
  t.is(t.throws(() => m.addHeader('Max-Forwards', '10'), { instanceOf: SipParseError }).code, 'BAD_HEADER');
  m.removeHeader('Content-Length');
  t.is(m.contentLength, 4, 'datagram framing: the rest is the body');
});

test('a mutated message takes over every field of the rewritten one (SipMessage._adopt misses none)', (t) => {
  const m = parseMessage(INVITE);
  const donor = parseMessage(INVITE);
  donor.setHeader('Subject', 'a long value, so that the assembler writes it natively');
  void donor.from;
  void donor.via;
  m._adopt(donor);
  const fields = Object.keys(donor) as Array<keyof typeof donor>;
  t.true(fields.length > 20);
  for (const k of fields) t.is(m[k], donor[k], String(k));
  t.deepEqual(Object.keys(m), fields);
  t.is(serializeMessage(m).toString('latin1'), serializeMessage(donor).toString('latin1'));
  t.is(m.header('Subject'), 'a long value, so that the assembler writes it natively');
});

test('mutation round-trip on every RFC 4475 valid message', async (t) => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { fixturePath } = await import('../../fixtures/paths.js');
  const dir = fixturePath('messages', 'rfc4475', 'valid');
  const files = readdirSync(dir).filter((f) => f.endsWith('.dat'));
  t.true(files.length >= 13);
  for (const f of files) {
    const raw = readFileSync(`${dir}/${f}`);
    const m = parseMessage(raw);
    const before = m.headers();
    m.addHeader('X-Sipis', 'one');
    m.setHeader('Subject', 'changed');
    const out = serializeMessage(m);
    const again = parseMessage(out);
    t.deepEqual(again.headers(), m.headers(), f);
    t.deepEqual(again.headers().filter(([n]) => n !== 'X-Sipis' && n.toLowerCase() !== 'subject' && n !== 's'), before.filter(([n]) => n.toLowerCase() !== 'subject' && n !== 's'), f);
    t.deepEqual(again.via.map((v) => v.branch), m.via.map((v) => v.branch), f);
    t.is(again.callId, m.callId, f);
    t.true(again.body.equals(m.body), f);
    // untouched lines are copied byte for byte: every original header line is still in the output
    const text = out.toString('latin1');
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n') < 0 ? raw.length : raw.indexOf('\r\n\r\n')).toString('latin1');
    for (const line of head.split('\r\n').slice(1)) {
      if (/^(subject|s)\s*:/i.test(line) || /^\s/.test(line)) continue;
      t.true(text.includes(line), `${f}: ${line.slice(0, 40)}`);
    }
  }
});
