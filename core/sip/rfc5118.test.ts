/**
 * RFC 5118, the IPv6 torture tests: the parser-facing cases of §4 as messages (the RFC's own
 * addresses and shapes), plus malformed IPv6 references, which the RFC's ABNF discussion (§4.10)
 * leaves to the IPv6address grammar of RFC 3986 §3.2.2 and which must be refused.
 */
import test from 'ava';
import { parseMessage, parseUri, parseVia, SipParseError, tryParseUri } from './index.js';

function register(requestUri: string, via: string, contact = '"Caller" <sip:caller@[2001:db8::1]>'): Buffer {
  return Buffer.from(
    `REGISTER ${requestUri} SIP/2.0\r\nTo: sip:user@[2001:db8::10]\r\nFrom: sip:user@example.com;tag=81x2\r\nVia: ${via}\r\n` +
      `Call-ID: SSG9559905523997077@hlau_4100\r\nMax-Forwards: 70\r\nContact: ${contact}\r\nCSeq: 98176 REGISTER\r\nContent-Length: 0\r\n\r\n`,
    'latin1',
  );
}
const VIA = 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111';

test('§4.1 a valid message with IPv6 references in the Request-URI, To, Contact and Via', (t) => {
  const m = parseMessage(register('sip:[2001:db8::10]', VIA));
  t.is(m.requestUri.host, '[2001:db8::10]');
  t.is(m.to.uri.host, '[2001:db8::10]');
  t.is(m.contact![0]!.uri.host, '[2001:db8::1]');
  t.is(m.via[0]!.host, '[2001:db8::9:1]');
});

test('§4.2 an IPv6 address without its brackets is refused', (t) => {
  const err = t.throws(() => parseMessage(register('sip:2001:db8::10', VIA)), { instanceOf: SipParseError });
  t.is(err?.code, 'BAD_URI');
});

test('§4.3 and §4.4: inside the brackets a last group is no port; after them it is', (t) => {
  const ambiguous = parseMessage(register('sip:[2001:db8::10:5070]', VIA)).requestUri;
  t.is(ambiguous.host, '[2001:db8::10:5070]');
  t.is(ambiguous.port, undefined);
  const unambiguous = parseMessage(register('sip:[2001:db8::10]:5070', VIA)).requestUri;
  t.is(unambiguous.host, '[2001:db8::10]');
  t.is(unambiguous.port, 5070);
});

test('§4.5 Via received with and without brackets; §4.7 IPv6 and IPv4 Vias in one header', (t) => {
  t.is(parseMessage(register('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3')).via[0]!.received, '[2001:db8::9:255]');
  t.is(parseMessage(register('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3')).via[0]!.received, '2001:db8::9:255');
  const vias = parseMessage(register('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144')).via;
  t.deepEqual(vias.map((v) => [v.host, v.port]), [['[2001:db8::9:1]', 6050], ['192.0.2.1', undefined]]);
});

test('§4.9 IPv4-mapped addresses; an IPv4 tail after other groups', (t) => {
  const m = parseMessage(register('sip:[::ffff:192.0.2.10]', 'SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19'));
  t.is(m.requestUri.host, '[::ffff:192.0.2.10]');
  t.is(m.via[0]!.port, 19823);
  t.is(parseUri('sip:[2001:db8::192.0.2.1]').host, '[2001:db8::192.0.2.1]');
});

test('the forms of IPv6address: full, compressed anywhere, unspecified, loopback', (t) => {
  for (const host of ['[2001:db8:0:0:0:0:0:1]', '[2001:db8::1]', '[::1]', '[::]', '[1::]', '[1:2:3:4:5:6:7::]', '[::2:3:4:5:6:7:8]', '[1:2:3:4:5:6:1.2.3.4]', '[fe80::a:B:c:D]']) {
    t.is(tryParseUri(`sip:u@${host}:5060`)?.host, host.toLowerCase(), host);
    t.is(parseVia(`SIP/2.0/UDP ${host}:5060;branch=z9hG4bKx`)?.host, host.toLowerCase(), host);
  }
});

test('malformed IPv6 references are refused in URIs, in Via and in a message', (t) => {
  const bad = ['[]', '[2001:db8:::1]', '[1::2::3]', '[:1]', '[1:]', '[1:2:3:4:5:6:7:8:9]', '[1:2:3:4:5:6:7:8::]', '[12345::]', '[::1.2.3]', '[::1.2.3.256]', '[1.2.3.4::]', '[::g]', '[::1'];
  for (const host of bad) {
    t.is(tryParseUri(`sip:u@${host}`), null, host);
    t.is(parseVia(`SIP/2.0/UDP ${host};branch=z9hG4bKx`), null, host);
  }
  const err = t.throws(() => parseMessage(register('sip:[2001:db8:::192.0.2.1]', VIA)), { instanceOf: SipParseError });
  t.is(err?.code, 'BAD_URI');
  t.throws(() => parseMessage(register('sip:[2001:db8::10]', 'SIP/2.0/UDP [1::2::3];branch=z9hG4bKx')), { instanceOf: SipParseError });
  t.throws(() => parseMessage(register('sip:[2001:db8::10]', VIA, '<sip:caller@[1:2:3:4:5:6:7:8:9]>')), { instanceOf: SipParseError });
});
