import test from 'ava';
import { createRequest, parseMessage, serializeMessage, type SipMessage } from '../sip/index.js';
import { spliceVia } from './via-splice.js';

const VIA = 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKours;rport';

/** What setHeader does, the reference the splice must match byte for byte. */
function viaSetHeader(msg: SipMessage): Buffer {
  msg.setHeader('Via', VIA);
  return serializeMessage(msg);
}

function raw(lines: string[], body = ''): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'latin1');
}

const BASE = ['INVITE sip:bob@example.com SIP/2.0', 'Max-Forwards: 70', 'From: <sip:a@example.com>;tag=1', 'To: <sip:bob@example.com>', 'Call-ID: c1', 'CSeq: 1 INVITE'];

const cases: Array<[string, Buffer]> = [
  ['one Via first', raw([BASE[0]!, 'Via: SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKtunnel', ...BASE.slice(1)])],
  ['Via in the middle, with a body', raw([...BASE.slice(0, 3), 'Via: SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKx', ...BASE.slice(3)], 'v=0\r\n')],
  ['Via last', raw([...BASE, 'Via: SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKx'])],
  ['two Via fields and a list', raw([BASE[0]!, 'Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2', ...BASE.slice(1, 3), 'Via: SIP/2.0/UDP c.example;branch=z9hG4bK3', ...BASE.slice(3)])],
  ['compact v, any case, space before the colon', raw([BASE[0]!, 'V : SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKx', ...BASE.slice(1)])],
  ['folded Via and a folded other field', raw([BASE[0]!, 'Via: SIP/2.0/UDP 0.0.0.0:9', ' ;branch=z9hG4bKx', 'Subject: one', '\ttwo', ...BASE.slice(1)])],
  ['Vias is not Via', raw([BASE[0]!, 'Vias: x', 'Via: SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKx', ...BASE.slice(1)])],
];

for (const [name, bytes] of cases) {
  test(`spliceVia matches setHeader: ${name}`, (t) => {
    const spliced = spliceVia(serializeMessage(parseMessage(bytes)), VIA);
    t.truthy(spliced);
    t.is(spliced!.toString('latin1'), viaSetHeader(parseMessage(bytes)).toString('latin1'));
    const again = parseMessage(spliced!);
    t.is(again.via.length, 1);
    t.is(again.via[0]!.branch, 'z9hG4bKours');
  });
}

test('spliceVia matches setHeader on a request built by createRequest', (t) => {
  const init = { method: 'BYE', uri: 'sip:bob@192.0.2.9', headers: [['Via', 'SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKtunnel'], ['From', '<sip:a@x>;tag=1'], ['To', '<sip:b@y>;tag=2'], ['Call-ID', 'k'], ['CSeq', '2 BYE'], ['Max-Forwards', '70']] as Array<[string, string]> };
  t.is(spliceVia(serializeMessage(createRequest(init)), VIA)!.toString('latin1'), viaSetHeader(createRequest(init)).toString('latin1'));
});

test('spliceVia declines what it does not handle: no Via, bare LF line ends, a line without colon', (t) => {
  const noVia = raw(BASE);
  t.is(spliceVia(noVia, VIA), undefined);
  t.is(spliceVia(Buffer.from(raw([BASE[0]!, 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', ...BASE.slice(1)]).toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), VIA), undefined);
  t.is(spliceVia(Buffer.from('INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\ngarbage\r\n\r\n', 'latin1'), VIA), undefined);
  t.is(spliceVia(Buffer.from('INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n', 'latin1'), VIA), undefined, 'no empty line');
  t.is(spliceVia(Buffer.alloc(0), VIA), undefined);
});
