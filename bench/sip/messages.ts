/**
 * Three realistic messages for the parser benchmarks: an INVITE with SDP (about 900 bytes),
 * a REGISTER carrying digest Authorization, and a 200 OK to an INVITE with Record-Route and Contact.
 */
function crlf(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}

const sdp = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 198.51.100.23',
  's=-',
  'c=IN IP4 198.51.100.23',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

export const INVITE = crlf(
  [
    'INVITE sip:+15551234567@sip.provider.example.net;user=phone SIP/2.0',
    'Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---a1b2c3d4e5f6a7b8;rport',
    'Max-Forwards: 69',
    'Record-Route: <sip:203.0.113.7;lr;ftag=as5b5c8d1a>',
    'From: "Alice Example" <sip:+15557654321@sip.provider.example.net>;tag=as5b5c8d1a',
    'To: <sip:+15551234567@sip.provider.example.net;user=phone>',
    'Contact: <sip:+15557654321@203.0.113.7:5060>',
    'Call-ID: 6f1e3c2b0a9d8e7f6a5b4c3d2e1f0a9b@203.0.113.7',
    'CSeq: 102 INVITE',
    'User-Agent: ExampleGW 4.2.1',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PRACK, UPDATE',
    'Supported: replaces, timer, 100rel',
    'Session-Expires: 1800;refresher=uac',
    'Min-SE: 90',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
  ],
  sdp,
);

export const REGISTER = crlf([
  'REGISTER sip:sip.provider.example.net SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'From: <sip:alice@sip.provider.example.net>;tag=a73kszlfl',
  'To: <sip:alice@sip.provider.example.net>',
  'Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10',
  'CSeq: 2 REGISTER',
  'Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
  'Authorization: Digest username="alice", realm="sip.provider.example.net", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:sip.provider.example.net", response="dfe56131d1958046689d83306477ecc", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  'Expires: 3600',
  'User-Agent: SIPIS-bench/1.0',
  'Content-Length: 0',
]);

export const OK_200 = crlf(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---a1b2c3d4e5f6a7b8;rport=5060;received=203.0.113.7',
    'Record-Route: <sip:198.51.100.1;lr;ftag=as5b5c8d1a>, <sip:203.0.113.7;lr;ftag=as5b5c8d1a>',
    'From: "Alice Example" <sip:+15557654321@sip.provider.example.net>;tag=as5b5c8d1a',
    'To: <sip:+15551234567@sip.provider.example.net;user=phone>;tag=8321234356',
    'Call-ID: 6f1e3c2b0a9d8e7f6a5b4c3d2e1f0a9b@203.0.113.7',
    'CSeq: 102 INVITE',
    'Contact: <sip:bob@198.51.100.77:5060;transport=udp>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE',
    'Supported: replaces, timer',
    'Session-Expires: 1800;refresher=uac',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
  ],
  sdp,
);

export const MESSAGES: Array<[name: string, bytes: Buffer]> = [
  ['invite-sdp', INVITE],
  ['register-auth', REGISTER],
  ['200-invite', OK_200],
];
