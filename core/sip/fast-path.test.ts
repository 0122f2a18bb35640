/**
 * The parser reads the common shape of each validated field in one pass (validate.ts
 * checkFieldLine, via.ts scanViaCommon, name-addr.ts scanNameAddrCommon, uri.ts speculative
 * host run) and falls back to the full grammar for anything else. These tests write the same
 * fields in both shapes (the uncommon one only adds whitespace, a fold or a case change the
 * grammar allows) and require the same views, and the same error for invalid values.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { parseMessage, SipParseError, type SipMessage } from './index.js';
import type { SipParseErrorCode } from './errors.js';
import { fixturePath } from '../../fixtures/paths.js';

const crlf = (lines: string[], body = ''): Buffer => Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');

/** Everything the fast paths produce, as plain data. */
function views(m: SipMessage): unknown {
  // the decoded values (toJSON reads every accessor), not the offsets they are kept as
  const strip = (o: object): unknown => JSON.parse(JSON.stringify(o)) as unknown;
  return {
    callId: m.callId,
    cseq: m.cseq,
    via: m.via.map((v) => strip(v)),
    from: strip(m.from),
    to: strip(m.to),
    contact: m.contact.map((c) => strip(c)),
    route: m.route.map((r) => strip(r)),
    recordRoute: m.recordRoute.map((r) => strip(r)),
    maxForwards: m.maxForwards,
    expires: m.expires,
    uris: [m.from.uri, m.to.uri, ...m.contact.map((c) => c.uri), ...m.recordRoute.map((r) => r.uri)].map((u) => ({
      scheme: u.scheme,
      user: u.user,
      password: u.password,
      host: u.host,
      port: u.port,
      params: [...u.params],
      headers: [...u.headers],
    })),
    body: m.body.toString('latin1'),
  };
}

/** The same message with every header value moved off the common shape: LWS around it, folded. */
function uncommon(buf: Buffer): Buffer {
  const text = buf.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const [start, ...fields] = text.slice(0, split).split('\r\n');
  const out = fields.map((f) => {
    const colon = f.indexOf(':');
    // "Name:value  " then a fold: the scanner must frame the line and the grammar read the LWS
    return `${f.slice(0, colon)} :\t${f.slice(colon + 1).trim()}  \r\n  `;
  });
  return Buffer.from([start, ...out].join('\r\n') + text.slice(split), 'latin1');
}

const COMMON = crlf(
  [
    'INVITE sip:+15551234567@sip.provider.example.net;user=phone SIP/2.0',
    'Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---a1b2c3d4e5f6a7b8;rport;received=198.51.100.9;maddr=224.2.0.1;ttl=16',
    'v: SIP/2.0/TCP edge.example.net;branch=z9hG4bKx2;rport=5070',
    'Max-Forwards: 69',
    'Record-Route: <sip:198.51.100.1;lr>, <sip:203.0.113.7;lr;ftag=as5b5c8d1a>,<sip:p3.example.net;lr>',
    'Route: <sip:p1.example.com:5061;lr;transport=tcp>',
    'From: "Alice \\"A\\" Example" <sip:alice:secret@sip.provider.example.net>;tag=as5b5c8d1a',
    'To: <sips:+15551234567@sip.provider.example.net;user=phone>',
    'Contact: <sip:+15557654321@203.0.113.7:5060;ob>;expires=3600;q=0.5;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
    'm: <sip:b@192.0.2.4>;expires=60, "Bob" <sip:b@192.0.2.5;transport=tcp>;q=0.1',
    'Call-ID: 6f1e3c2b0a9d8e7f6a5b4c3d2e1f0a9b@203.0.113.7',
    'CSeq: 4294967295 INVITE',
    'Expires: 4294967295',
    'Content-Type: application/sdp',
    'Content-Length: 5',
  ],
  'v=0\r\n',
);

test('each validated field: the one-pass reading equals the full grammar', (t) => {
  const seeds = [COMMON, ...['invite-sdp.sip', 'register-auth.sip', 'ok-200-register.sip', 'message.sip', 'notify.sip'].map((f) => readFileSync(fixturePath('messages', f)))];
  for (const seed of seeds) {
    const a = parseMessage(seed);
    const b = parseMessage(uncommon(seed));
    t.deepEqual(views(b), views(a), seed.toString('latin1').split('\r\n')[0]);
  }
});

test('an invalid value gives the same error in either shape', (t) => {
  const bad: Array<[field: string, code: SipParseErrorCode, twice?: true]> = [
    ['Via: SIP/2.0/UDP host:65536;branch=z9hG4bKx', 'BAD_HEADER_VALUE'],
    ['Via: SIP/2.0/UDP host;branch', 'BAD_HEADER_VALUE'],
    ['Via: SIP/2.0/UDP host;rport=x', 'BAD_HEADER_VALUE'],
    ['From: "unterminated <sip:a@b>;tag=1', 'BAD_HEADER_VALUE'],
    ['From: <sip:a@b>;tag=1, <sip:c@d>', 'BAD_HEADER_VALUE'],
    ['Contact: <sip:a@b>;expires=4294967296', 'BAD_HEADER_VALUE'],
    ['Contact: <sip:a@b>;q=2', 'BAD_HEADER_VALUE'],
    ['Record-Route: <sip:;lr>', 'BAD_HEADER_VALUE'],
    ['Record-Route: <sip:h;;lr>', 'BAD_HEADER_VALUE'],
    ['Record-Route: <sip:a;lr>, <sip:;lr>', 'BAD_HEADER_VALUE'],
    ['Route: <sip:a;lr>,,<sip:b;lr>', 'BAD_HEADER_VALUE'],
    ['Route: <sip:a;lr>, ', 'BAD_HEADER_VALUE'],
    ['Contact: <sip:a@b>, <sip:c@d>;q=2', 'BAD_HEADER_VALUE'],
    ['CSeq: 4294967296 INVITE', 'BAD_HEADER_VALUE'],
    ['Max-Forwards: 256', 'BAD_HEADER_VALUE'],
    ['Expires: 4294967296', 'BAD_HEADER_VALUE'],
    ['Call-ID: a@b', 'BAD_HEADER', true], // a second Call-ID
    ['Max-Forwards: 70', 'BAD_HEADER', true], // a second Max-Forwards
    ['From: <sip:x@y>', 'BAD_HEADER', true], // a second From
  ];
  for (const [field, code, twice] of bad) {
    const colon = field.indexOf(':');
    const name = field.slice(0, colon);
    // the field replaces the base line of its name, except the ones meant to appear twice
    const base = [
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>',
      'Call-ID: c1@h',
      'CSeq: 1 INVITE',
      'Max-Forwards: 70',
    ].filter((l) => twice || !l.startsWith(name + ':'));
    const msg = (f: string): Buffer => crlf(['INVITE sip:bob@example.com SIP/2.0', ...base, f]);
    const spaced = `${field.slice(0, colon)}:  ${field.slice(colon + 1).trim()}  `;
    for (const variant of [field, spaced]) {
      const err = t.throws(() => parseMessage(msg(variant)), { instanceOf: SipParseError }, variant);
      t.is(err?.code, code, variant);
    }
  }
});

test('a quoted display name or parameter does not run past its line', (t) => {
  // the closing quote is on a later line: the field is invalid, the next line is not part of it
  const m = crlf([
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
    'From: "Alice <sip:a@example.com>;tag=1',
    'To: "x" <sip:b@example.com>',
    'Call-ID: c1@h',
    'CSeq: 1 INVITE',
  ]);
  const err = t.throws(() => parseMessage(m), { instanceOf: SipParseError });
  t.is(err?.code, 'BAD_HEADER_VALUE');
  t.is(err?.header, 'From');
  // a URI without '@' is read by the speculative host pass; with one, by the userinfo scan
  const ok = parseMessage(
    crlf([
      'INVITE sip:bob@example.com SIP/2.0',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'From: <sip:a;x=y@example.com>;tag=1',
      'To: <sip:example.com:5060;p=q@r>',
      'Call-ID: c1@h',
      'CSeq: 1 INVITE',
    ]),
  );
  t.is(ok.from.uri.user, 'a;x=y');
  t.is(ok.from.uri.host, 'example.com');
  t.is(ok.to.uri.user, 'example.com');
  t.is(ok.to.uri.password, '5060;p=q');
  t.is(ok.to.uri.host, 'r');
});

test('a Call-ID read four bytes at a time: same value and same end at every alignment', (t) => {
  // validate.ts callIdEnd reads aligned words: shift the Call-ID through the 4 alignments and
  // put the non-ASCII byte, a control byte and the whitespace at every place in a word
  const ids = ['a', 'ab@c', 'abcdefgh@x.example', 'caf\u00e9-\u00e9t\u00e9@h\u00f4te', '\u00e9abc', 'abc\u00e9', 'abcdefg\u00ff'];
  for (let pad = 0; pad < 4; pad++) {
    for (const id of ids) {
      const m = parseMessage(
        Buffer.from(
          ['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'X-Pad: ' + 'p'.repeat(pad), 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', `Call-ID: ${id}`, 'CSeq: 1 INVITE', '', ''].join('\r\n'),
          'utf8',
        ),
      );
      t.is(m.callId, id, `${JSON.stringify(id)} after ${pad}`);
      // the same Call-ID followed by whitespace inside the value is no Call-ID
      const bad = Buffer.from(['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'X-Pad: ' + 'p'.repeat(pad), 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', `Call-ID: ${id} x`, 'CSeq: 1 INVITE', '', ''].join('\r\n'), 'utf8');
      const err = t.throws(() => parseMessage(bad), { instanceOf: SipParseError });
      t.is(err?.header, 'Call-ID');
    }
    // a control byte is no word character (§25.1), wherever it falls in a word
    for (const id of ['x\u0001y@h', '\u0000abc', 'abcdefg\u007f', 'abc\u001fdefgh']) {
      const bad = Buffer.from(['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'X-Pad: ' + 'p'.repeat(pad), 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', `Call-ID: ${id}`, 'CSeq: 1 INVITE', '', ''].join('\r\n'), 'utf8');
      t.is(t.throws(() => parseMessage(bad), { instanceOf: SipParseError })?.header, 'Call-ID', `${JSON.stringify(id)} after ${pad}`);
    }
  }
});

test('a quoted string read four bytes at a time: same text at every alignment, never past its line', (t) => {
  // name-addr.ts quotedEndInLine skips aligned words without '"', '\\', CR or LF: put each of
  // them at every place in a word by shifting the field
  const names = ['"Alice"', '"a\\"b"', '"abc\\\\"', '"abcdefgh \\"ijk\\" lmnop"', '"caf\u00e9 \u00e9t\u00e9"', '""', '"\\\\\\""'];
  for (let pad = 0; pad < 4; pad++) {
    for (const dn of names) {
      const lines = (from: string): Buffer =>
        Buffer.from(['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'X-Pad: ' + 'p'.repeat(pad), from, 'To: <sip:b@example.com>', 'Call-ID: c1@h', 'CSeq: 1 INVITE', '', ''].join('\r\n'), 'utf8');
      const common = parseMessage(lines(`From: ${dn} <sip:a@example.com>;tag=1`));
      const full = parseMessage(lines(`From:  ${dn}\t<sip:a@example.com> ; tag=1 `));
      t.is(common.from.displayName, full.from.displayName, `${dn} after ${pad}`);
      t.is(common.from.tag, '1');
      // unterminated on its line: the next line is not read as part of it
      const err = t.throws(() => parseMessage(lines(`From: ${dn.slice(0, -1)} <sip:a@example.com>;tag=1`)), { instanceOf: SipParseError }, `${dn} cut`);
      t.is(err?.header, 'From');
    }
  }
});
