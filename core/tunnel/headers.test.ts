import test from 'ava';
import { parseMessage } from '../sip/index.js';
import { copiedHeaders, endToEndOptions, isCompletedElsewhere, parseHostPort, quoteDisplay, withTag } from './headers.js';

test('withTag replaces, adds or removes the tag and keeps the display name and other parameters', (t) => {
  t.is(withTag('"Bob" <sip:bob@x.test>;tag=abc;foo=1', 'new'), '"Bob" <sip:bob@x.test>;foo=1;tag=new');
  t.is(withTag('<sip:bob@x.test>', 'n'), '<sip:bob@x.test>;tag=n');
  t.is(withTag('"A;tag=in-quotes" <sip:a@x;tag=uri-param>;tag=t1', undefined), '"A;tag=in-quotes" <sip:a@x;tag=uri-param>');
  t.is(withTag('sip:bob@x.test;tag=abc', 'z'), 'sip:bob@x.test;tag=z');
  t.is(withTag('sip:bob@x.test ; TAG = abc ; x', undefined), 'sip:bob@x.test;x');
});

test('isCompletedElsewhere: RFC 3326 cause 200 only', (t) => {
  t.true(isCompletedElsewhere('SIP;cause=200;text="Call completed elsewhere"'));
  t.true(isCompletedElsewhere('SIP ; cause=200'));
  t.true(isCompletedElsewhere('SIP;text="x";cause=200'));
  t.false(isCompletedElsewhere('SIP;cause=2000'));
  t.false(isCompletedElsewhere('Q.850;cause=200'));
  t.false(isCompletedElsewhere('SIP;cause=487'));
  t.false(isCompletedElsewhere(undefined));
});

test('copiedHeaders drops what belongs to one hop or one dialog, keeps end-to-end headers in order', (t) => {
  const m = parseMessage(
    Buffer.from(
      'INVITE sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nv: SIP/2.0/UDP h2;branch=z9hG4bK2\r\nRoute: <sip:p;lr>\r\nRecord-Route: <sip:p;lr>\r\n' +
        'From: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:b@h>\r\nm: <sip:b@h2>\r\n' +
        'Authorization: Digest username="b"\r\nP-Asserted-Identity: <sip:b@x>\r\nAlert-Info: <http://r>\r\nX-Sipis-Flow: id=1x2;transport=tcp;src=1.2.3.4:5\r\n' +
        'Supported: 100rel\r\nSession-Expires: 1800\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n',
    ),
  );
  t.deepEqual(
    copiedHeaders(m).map(([n]) => n),
    ['P-Asserted-Identity', 'Alert-Info', 'Supported', 'Session-Expires'],
  );
});

test('Supported crosses without the option tags of one hop or registration (outbound, path, gruu), and goes when nothing else is left', (t) => {
  const m = parseMessage(
    Buffer.from(
      'INVITE sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n' +
        'Supported: replaces, outbound, gruu\r\nk: path,GRUU\r\nSupported: 100rel,timer\r\nContent-Length: 0\r\n\r\n',
    ),
  );
  t.deepEqual(copiedHeaders(m), [
    ['Supported', 'replaces'],
    ['Supported', '100rel,timer'],
  ]);
  t.is(endToEndOptions('100rel, timer'), '100rel, timer', 'untouched without hop tags');
  t.is(endToEndOptions('pathfinder, outbound-x'), 'pathfinder, outbound-x', 'whole tags only');
});

test('parseHostPort and quoteDisplay', (t) => {
  t.deepEqual(parseHostPort('127.0.0.1:5060'), { address: '127.0.0.1', port: 5060 });
  t.deepEqual(parseHostPort('[::1]:5070'), { address: '::1', port: 5070 });
  t.is(parseHostPort('no-port'), undefined);
  t.is(quoteDisplay('Al "the" \\ Pal'), '"Al \\"the\\" \\\\ Pal"');
});
