import test from 'ava';
import { parseUri, formatUri, uriEquals, tryParseUri, parseNameAddr, parseContact, formatNameAddr, parseVia, SipParseError } from './index.js';

test('sip URI parts', (t) => {
  const u = parseUri('sips:Alice:secr%65t@Atlanta.Example.COM:5061;transport=TCP;lr;Maddr=239.255.255.1?subject=project%20x&priority=urgent');
  t.is(u.scheme, 'sips');
  t.is(u.user, 'Alice');
  t.is(u.password, 'secret');
  t.is(u.host, 'atlanta.example.com');
  t.is(u.port, 5061);
  t.is(u.params.get('transport'), 'TCP');
  t.is(u.params.get('lr'), null);
  t.is(u.params.get('maddr'), '239.255.255.1');
  t.is(u.headers.get('subject'), 'project x');
  t.is(u.headers.get('priority'), 'urgent');
  t.is(u.raw, 'sips:Alice:secr%65t@Atlanta.Example.COM:5061;transport=TCP;lr;Maddr=239.255.255.1?subject=project%20x&priority=urgent');
});

test('IPv6 and IPv4 hosts, no user', (t) => {
  const a = parseUri('sip:[2001:DB8::1]:5070;transport=udp');
  t.is(a.host, '[2001:db8::1]');
  t.is(a.port, 5070);
  t.is(a.user, undefined);
  const b = parseUri('sip:alice@192.0.2.4');
  t.is(b.host, '192.0.2.4');
  t.is(b.port, undefined);
});

test('user part with ; ? and escapes (RFC 4475 semiuri, intmeth)', (t) => {
  t.is(parseUri('sip:user;par=u%40example.net@host5.example.net').user, 'user;par=u@example.net');
  const u = parseUri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
  t.is(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  t.is(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  t.is(parseUri('sip:null-%00-null@example.com').user, 'null-\u0000-null');
});

test('tel and opaque schemes', (t) => {
  const tel = parseUri('tel:+1-201-555-0123;phone-context=example.com');
  t.is(tel.scheme, 'tel');
  t.is(tel.user, '+1-201-555-0123');
  t.is(tel.host, '');
  t.is(tel.params.get('phone-context'), 'example.com');
  const o = parseUri('urn:service:sos');
  t.is(o.scheme, 'urn');
  t.is(o.opaque, 'service:sos');
  t.is(formatUri(o), 'urn:service:sos');
  const im = parseUri('IM:alice@example.com');
  t.is(im.scheme, 'im');
});

test('invalid URIs are BAD_URI', (t) => {
  for (const s of ['', 'sip:', 'sip:@host', 'sip:a@', 'sip:a b@c', 'sip:a@<c>', 'sip:a@[::1', 'sip:a@h:99999', 'sip:a@h:', '1sip:a@h', 'sip:a@h;;x', 'sip:a@h?x', 'sip:a@h%']) {
    const e = t.throws(() => parseUri(s), { instanceOf: SipParseError }, s);
    t.is(e.code, 'BAD_URI');
    t.is(tryParseUri(s), null);
  }
});

test('formatUri escapes what each part does not allow, and round-trips', (t) => {
  const u = parseUri('sip:I%20have%20spaces@example.net;n%61me=v%61lue%25%34%31?h=a%26b');
  t.is(u.user, 'I have spaces');
  t.is(u.params.get('name'), 'value%41');
  t.is(u.headers.get('h'), 'a&b');
  const text = formatUri(u);
  t.is(text, 'sip:I%20have%20spaces@example.net;name=value%2541?h=a%26b');
  t.true(uriEquals(parseUri(text), u));
  const built = formatUri({ scheme: 'sip', user: 'a@b', host: 'example.com', port: 5060, params: new Map([['lr', null], ['transport', 'tcp']]), headers: new Map(), raw: '' });
  t.is(built, 'sip:a%40b@example.com:5060;lr;transport=tcp');
});

test('parsed URI fields can be reassigned', (t) => {
  const u = parseUri('sip:alice@example.com');
  u.host = 'other.example.com';
  u.port = 5080;
  u.user = undefined;
  t.is(formatUri(u), 'sip:other.example.com:5080');
});

// RFC 3261 §19.1.4: the equivalent and non-equivalent pairs of the section
const EQUAL: Array<[string, string]> = [
  ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
  ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
  ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
  ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
  ['sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'],
  ['sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'],
];
const NOT_EQUAL: Array<[string, string]> = [
  ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'],
  ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'],
  ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'],
  ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'],
  ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'],
  ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'],
  // and a few more from the rules
  ['sip:alice@atlanta.com', 'sips:alice@atlanta.com'],
  ['sip:alice:a@atlanta.com', 'sip:alice:b@atlanta.com'],
  ['sip:alice@atlanta.com;user=phone', 'sip:alice@atlanta.com'],
  ['sip:alice@atlanta.com;ttl=1', 'sip:alice@atlanta.com;ttl=2'],
  ['sip:alice@atlanta.com;method=INVITE', 'sip:alice@atlanta.com'],
  ['sip:alice@atlanta.com;maddr=1.2.3.4', 'sip:alice@atlanta.com'],
  ['sip:alice@atlanta.com;foo=1', 'sip:alice@atlanta.com;foo=2'],
  ['sip:alice@atlanta.com?a=1', 'sip:alice@atlanta.com?a=2'],
];

test('§19.1.4 equivalent URIs', (t) => {
  for (const [a, b] of EQUAL) {
    t.true(uriEquals(parseUri(a), parseUri(b)), `${a} == ${b}`);
    t.true(uriEquals(parseUri(b), parseUri(a)), `${b} == ${a}`);
  }
});

test('§19.1.4 non-equivalent URIs', (t) => {
  for (const [a, b] of NOT_EQUAL) {
    t.false(uriEquals(parseUri(a), parseUri(b)), `${a} != ${b}`);
    t.false(uriEquals(parseUri(b), parseUri(a)), `${b} != ${a}`);
  }
});

test('tel and opaque comparison', (t) => {
  t.true(uriEquals(parseUri('tel:+1-201-555-0123'), parseUri('tel:+12015550123')));
  t.false(uriEquals(parseUri('tel:+12015550123'), parseUri('tel:+12015550124')));
  t.true(uriEquals(parseUri('urn:x:y'), parseUri('URN:x:y')));
  t.false(uriEquals(parseUri('urn:x:y'), parseUri('urn:x:z')));
});

test('name-addr: parse and format', (t) => {
  const na = parseNameAddr('"A \\"B\\"" <sip:a@example.com;transport=tcp>;tag=x;foo="a b"')!;
  t.is(na.displayName, 'A "B"');
  t.is(na.tag, 'x');
  t.is(na.params.get('foo'), 'a b');
  t.is(formatNameAddr(na), '"A \\"B\\"" <sip:a@example.com;transport=tcp>;tag=x;foo="a b"');
  const plain = parseNameAddr('sip:b@example.com;tag=9')!;
  t.is(plain.uri.params.size, 0, 'addr-spec: the params belong to the header');
  t.is(plain.tag, '9');
  t.is(formatNameAddr(plain), '<sip:b@example.com>;tag=9');
  plain.tag = 'new';
  t.is(formatNameAddr(plain), '<sip:b@example.com>;tag=new');
  t.is(formatNameAddr({ displayName: 'Bob Smith', uri: parseUri('sip:bob@example.com'), params: new Map(), raw: '' }), 'Bob Smith <sip:bob@example.com>');
  t.is(parseNameAddr('Bell, Alexander <sip:a@b>'), null);
  t.is(parseNameAddr('<sip:a@b> x'), null);
  const star = parseContact('*')!;
  t.true(star.star);
  t.is(formatNameAddr(star), '*');
  t.is(parseContact('<sip:a@b>, <sip:c@d>'), null, 'one element only');
});

test('Via: parse one element', (t) => {
  const v = parseVia('SIP / 2.0 / tcp [::1] : 5061 ; branch = z9hG4bKx ; rport = 5000 ; received=::1')!;
  t.is(v.protocol, 'SIP/2.0');
  t.is(v.transport, 'TCP');
  t.is(v.host, '[::1]');
  t.is(v.port, 5061);
  t.is(v.branch, 'z9hG4bKx');
  t.is(v.rport, 5000);
  t.is(v.received, '::1');
  for (const bad of ['SIP/2.0/UDP', 'SIP/2.0 UDP host', 'SIP/2.0/UDP host;branch', 'SIP/2.0/UDP host;ttl=300', 'SIP/2.0/UDP host;;x', 'SIP/2.0/UDP host, SIP/2.0/UDP other']) {
    t.is(parseVia(bad), null, bad);
  }
});

test('escapes: "%" HEXDIG HEXDIG only (§25.1); compared as octets (§19.1.4) and written back as they came', (t) => {
  for (const bad of ['sip:b%zzob@example.com', 'sip:b%4@example.com', 'sip:a:p%4@h.example', 'sip:a@h.example;x=%zz', 'sip:a@h.example;maddr=%', 'sip:a@h.example?X=%zz']) {
    t.is(t.throws(() => parseUri(bad), { instanceOf: SipParseError })?.code, 'BAD_URI', bad);
  }
  t.is(parseUri('sip:a@h.example;x=%41').params.get('x'), 'A');
  // %E9 is not UTF-8 and decodes as latin1 'é', like the UTF-8 %C3%A9: the same text, other octets
  const latin = parseUri('sip:caf%E9@example.com');
  const utf8 = parseUri('sip:caf%C3%A9@example.com');
  t.is(latin.user, utf8.user);
  t.false(uriEquals(latin, utf8));
  t.true(uriEquals(utf8, parseUri('sip:caf%c3%a9@EXAMPLE.com')));
  t.true(uriEquals(parseUri('sip:%61lice:p%41ss@h.example'), parseUri('sip:alice:pAss@h.example')));
  t.is(formatUri(latin), 'sip:caf%E9@example.com');
  // one IPv6 address, two spellings (RFC 5118 §4.3)
  t.true(uriEquals(parseUri('sip:a@[2001:db8::1]:5060'), parseUri('sip:a@[2001:DB8:0:0:0:0:0:1]:5060')));
  t.false(uriEquals(parseUri('sip:a@[2001:db8::1]'), parseUri('sip:a@[2001:db8::2]')));
  latin.user = 'bob';
  t.is(formatUri(latin), 'sip:bob@example.com', 'a user set since the parse is written from its text');
});
